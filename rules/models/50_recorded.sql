-- model: recorded
-- reads: audit_context, cfg_systems, cfg_workflows, scoped_events, scoped_intended
-- builds: scoped_recorded, scoped_recorded_runs, scoped_recorded_reasons
-- scoped_tables: recorded, recorded_runs, recorded_reasons
-- description: What the runtime believes: per intent, the outcome of its latest event
--   (ts orders them; at equal ts an outcome beats an attempt), its attempts and receipts
--   (canonical in the system's id form: the latest, and every distinct one, since a
--   receipt may be on any event of the intent); per run, its latest status and start;
--   and the events that are by themselves a reason to verify the run (TAXONOMY.md
--   "Suspicious runs": a timeout, a blocked duplicate, an operator's flag in the log),
--   kept with the run's other rows so that a day reads only its scope's events.
CREATE OR REPLACE TABLE scoped_recorded AS
WITH outcome_events AS (
    SELECT
        e.*,
        CASE e.type
            WHEN 'action.attempted' THEN 'attempted'
            WHEN 'action.timed_out' THEN 'timed_out'
            WHEN 'action.failed' THEN 'failed'
            WHEN 'action.succeeded' THEN 'succeeded'
            WHEN 'receipt.recorded' THEN 'succeeded'
            WHEN 'action.skipped' THEN 'skipped'
            WHEN 'action.compensated' THEN 'compensated'
        END AS outcome,
        CASE e.type
            WHEN 'action.attempted' THEN 1
            WHEN 'action.timed_out' THEN 2
            WHEN 'action.failed' THEN 3
            WHEN 'action.succeeded' THEN 4
            WHEN 'receipt.recorded' THEN 5
            WHEN 'action.skipped' THEN 6
            WHEN 'action.compensated' THEN 7
        END AS outcome_rank
    FROM scoped_events e
    WHERE e.intent_id IS NOT NULL AND e.type <> 'intent.declared'
),
-- Per intent with events: one aggregate over its events, before the join to the intents.
by_intent AS (
    SELECT
        o.intent_id,
        -- Only outcome events decide it: action.blocked is a reason to verify, not an outcome.
        -- Values read from the same event are taken together: one aggregate, not one each.
        arg_max({'outcome': o.outcome, 'event_id': o.event_id}, {'ts': o.ts, 'rank': o.outcome_rank, 'id': o.event_id})
            FILTER (o.outcome IS NOT NULL) AS latest_outcome,
        count(o.event_id) AS events,
        max(o.attempt) AS attempts,
        min(o.ts) FILTER (o.type = 'action.attempted') AS first_attempt_at,
        max(o.ts) FILTER (o.type = 'action.attempted') AS last_attempt_at,
        max(o.ts) AS last_event_at,
        max(o.ts) FILTER (o.actor IS NULL OR o.actor = 'agent') AS last_agent_event_at,
        arg_max({'receipt': o.receipt_external_id, 'event_id': o.event_id}, {'ts': o.ts, 'id': o.event_id})
            FILTER (o.receipt_external_id IS NOT NULL) AS latest_receipt,
        -- Every receipt, repeats included: canonical, then distinct, below.
        list(o.receipt_external_id) FILTER (o.receipt_external_id IS NOT NULL) AS receipts,
        arg_max(o.error_kind, {'ts': o.ts, 'id': o.event_id}) FILTER (o.error_kind IS NOT NULL) AS last_error_kind,
        -- The key the latest call carried: a retry of a lost call sends it again.
        arg_max(o.idempotency_key, {'ts': o.ts, 'id': o.event_id})
            FILTER (o.type = 'action.attempted' AND o.idempotency_key IS NOT NULL) AS last_attempt_key
    FROM outcome_events o
    GROUP BY o.intent_id
)
SELECT
    r.* EXCLUDE (receipt, receipts, id_form),
    canonical_id(r.id_form, r.receipt) AS receipt_external_id,
    list_sort(list_distinct(list_transform(r.receipts, lambda x: canonical_id(r.id_form, x)))) AS receipts
FROM (
    SELECT
        i.intent_id, i.run_id, coalesce(a.latest_outcome.outcome, 'not_started') AS outcome,
        coalesce(a.events, 0) AS events, a.attempts, a.first_attempt_at, a.last_attempt_at, a.last_event_at,
        a.last_agent_event_at, a.latest_receipt.receipt AS receipt, a.latest_receipt.event_id AS receipt_event_id,
        coalesce(a.receipts, []) AS receipts, a.last_error_kind, a.last_attempt_key,
        a.latest_outcome.event_id AS last_event_id, sys.id_form
    FROM scoped_intended i
    LEFT JOIN by_intent a USING (intent_id)
    LEFT JOIN cfg_systems sys ON sys.system = i.system
) r;

CREATE OR REPLACE TABLE scoped_recorded_runs AS
-- One pass over the run's events: the latest status rides along in the same aggregate
-- (a separate scan for the status events filtered by `type IN (...)`, which DuckDB 2.0
-- pushes into the scan only as a zone-map hint, read every event a second time).
WITH runs AS (
    SELECT run_id,
        arg_min(workflow, ts) AS workflow,
        coalesce(min(ts) FILTER (type = 'run.started'), min(ts)) AS started_at,
        max(ts) AS last_event_at,
        count(*) AS events,
        arg_max({'status': status, 'event_id': event_id}, {'ts': ts, 'id': event_id})
            FILTER (status IS NOT NULL) AS latest_status
    FROM (
        SELECT run_id, workflow, ts, type, event_id,
            CASE type
                WHEN 'run.completed' THEN 'complete'
                WHEN 'run.failed' THEN 'failed'
                WHEN 'run.escalated' THEN 'escalated'
                WHEN 'run.awaiting_approval' THEN 'awaiting_approval'
                WHEN 'run.needs_reconciliation' THEN 'needs_reconciliation'
            END AS status
        FROM scoped_events
    )
    GROUP BY run_id
)
SELECT
    r.run_id, r.workflow, r.started_at, r.last_event_at, r.events,
    coalesce(r.latest_status.status, 'running') AS status,
    r.latest_status.event_id AS status_event_id,
    coalesce(r.latest_status.status, 'running') IN ('complete', 'failed') AS terminal,
    r.started_at + to_seconds(w.completion_window_seconds) AS completion_deadline,
    -- Judged against the workflow log's export time, never the wall clock.
    coalesce(r.started_at + to_seconds(w.completion_window_seconds) < ctx.log_observed_at, false) AS past_window
FROM runs r
LEFT JOIN cfg_workflows w ON w.workflow = r.workflow
CROSS JOIN audit_context ctx;

CREATE OR REPLACE TABLE internal.scoped_recorded_reasons AS
-- Each condition is one equality on one column, so that a scan of every event (a full
-- audit) filters before it reads the other columns: an OR across two columns reads every
-- event whole, and DuckDB 2.0 pushes an IN list only as a zone-map hint (one scan by
-- `type IN (...)` and one by `error_kind IN (...)` for all three reasons was as slow as
-- the OR). A run's reasons only: an event without a run has none.
SELECT * FROM (
    SELECT run_id, 'timeout_after_call' AS reason, coalesce(intent_id, event_id) AS detail, ts AS detail_at,
        error_message AS note
    FROM scoped_events WHERE type = 'action.timed_out'
    UNION ALL
    SELECT run_id, 'timeout_after_call', coalesce(intent_id, event_id), ts, error_message
    FROM scoped_events WHERE error_kind = 'timeout' AND type IS DISTINCT FROM 'action.timed_out'
    UNION ALL
    SELECT run_id, 'duplicate_attempt_blocked', coalesce(intent_id, event_id), ts, error_message
    FROM scoped_events WHERE type = 'action.blocked'
    UNION ALL
    SELECT run_id, 'duplicate_attempt_blocked', coalesce(intent_id, event_id), ts, error_message
    FROM scoped_events WHERE error_kind = 'idempotency_conflict' AND type IS DISTINCT FROM 'action.blocked'
    UNION ALL
    SELECT run_id, 'operator_flag', event_id, ts, concat_ws(': ', actor, description)
    FROM scoped_events WHERE type = 'run.flagged'
)
WHERE run_id IS NOT NULL;
