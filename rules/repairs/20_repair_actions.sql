-- step: repair plan
-- description: The smallest safe repair for each finding, as executable actions. Each
--   action names its target, parameters, the idempotency key to use, the preconditions
--   the executor must re-check just before acting (if they no longer hold, the action is
--   void), duplicate risk, reversibility, approval and a one-line explanation. The id
--   hashes the finding, pattern, target and preconditions: the same finding in the same
--   observed state gives the same action id in every audit.
-- Staged like rules/findings/40_assemble.sql: the large tables are first reduced to the
-- open findings' subjects, so that no statement holds several of them in memory at once.
-- What the plan reads of an open intent, its chosen object's fields included, the findings
-- step keeps with the intent's context (`plan`, rules/findings/10_subjects.sql): a scan of
-- the wide `intent_state` fetched every column it projects for every row before the open
-- intents were picked out.
CREATE OR REPLACE TEMP TABLE open_intents AS
SELECT c.subject_id AS intent_id, c.run_id, c.workflow, c.system, c.reversible, unnest(c.plan)
FROM intent_subject_context c
WHERE c.subject_id IN (SELECT subject_id FROM findings WHERE status = 'open' AND subject_kind = 'intent');

-- The other objects the plan reads: every match of an intent observed twice or more (its
-- extras are compensated), and effect subjects. Fetched by row id: a narrow scan finds
-- them, and the wide read skips what it does not need.
CREATE OR REPLACE TEMP TABLE plan_matches AS
SELECT m.intent_id, m.system, m.external_id
FROM matches m
WHERE m.is_primary AND m.intent_id IN (SELECT intent_id FROM open_intents WHERE observed_state = 'duplicate');

CREATE OR REPLACE TEMP TABLE plan_objects AS
SELECT o.system, o.external_id, o.object_type, o.state, o.raw_status, o.created_at FROM observed o
SEMI JOIN (
    SELECT k.rowid AS row_id FROM observed k
    SEMI JOIN (
        SELECT system, external_id FROM plan_matches
        UNION ALL SELECT system, substr(subject_id, length(system) + 2) FROM findings
        WHERE status = 'open' AND subject_kind = 'effect'
    ) w ON k.system = w.system AND k.external_id = w.external_id
) r ON o.rowid = r.row_id;

-- Findings closed by an operator's decision that still holds need no action.
CREATE OR REPLACE TEMP TABLE open_findings AS
SELECT f.*, s.* EXCLUDE (run_id, workflow, system, object_type),
    coalesce(s.object_type, e.object_type) AS object_type,
    sf.newest_observed_at,
    -- What the type's header says (rules/mismatches/): the operation a forward completion or
    -- status patch carries out (a retry with a new key when an operator asked for a retry of
    -- a type that names none), the duplicate risk, the next action in words.
    coalesce(t.operation, CASE WHEN f.repair_pattern = 'forward_completion' THEN 'retry_new_key' END) AS operation,
    t.duplicate_risk, t.risk_condition, t.risk_otherwise, t.next_action
FROM findings f
JOIN mismatch_types t ON t.mismatch_type = f.mismatch_type
LEFT JOIN open_intents s ON f.subject_kind = 'intent' AND s.intent_id = f.subject_id
LEFT JOIN plan_objects e ON f.subject_kind = 'effect' AND e.system = f.system
    AND e.external_id = substr(f.subject_id, length(f.system) + 2)
LEFT JOIN system_freshness sf ON f.subject_kind = 'intent' AND sf.system = f.system
WHERE f.status = 'open';

CREATE OR REPLACE TABLE repair_actions AS
WITH
-- Duplicates: keep the receipt's object (else the oldest); compensate each of the others.
duplicate_ranked AS (
    SELECT f.finding_id, o.system, o.object_type, o.external_id, o.state, o.raw_status,
        row_number() OVER (
            PARTITION BY f.finding_id
            ORDER BY (o.external_id = f.receipt_external_id) DESC NULLS LAST, o.created_at, o.external_id) AS keep_rank
    FROM open_findings f
    JOIN plan_matches m ON m.intent_id = f.subject_id
    JOIN plan_objects o ON o.system = m.system AND o.external_id = m.external_id
    WHERE f.observed_state = 'duplicate' AND o.state IN ('success', 'pending')
),
duplicate_extras AS (
    SELECT d.*, k.external_id AS keep_external_id
    FROM duplicate_ranked d
    JOIN duplicate_ranked k ON k.finding_id = d.finding_id AND k.keep_rank = 1
    WHERE d.keep_rank > 1
),
targets AS (
    -- Receipt backfills and status patches act on the runtime's record (the intent or the
    -- run); everything else on the object in its system.
    SELECT
        f.finding_id,
        CASE WHEN f.subject_kind = 'run' OR f.repair_pattern IN ('receipt_backfill', 'status_patch') THEN 'runtime'
             ELSE coalesce(d.system, f.system) END AS target_system,
        CASE
            WHEN d.finding_id IS NOT NULL THEN d.object_type
            WHEN f.subject_kind = 'run' THEN 'run'
            WHEN f.repair_pattern IN ('receipt_backfill', 'status_patch') THEN 'intent'
            ELSE f.object_type
        END AS target_object_type,
        CASE
            WHEN d.finding_id IS NOT NULL THEN d.external_id
            WHEN f.subject_kind = 'run' OR f.repair_pattern IN ('receipt_backfill', 'status_patch') THEN f.subject_id
            WHEN f.subject_kind = 'effect' THEN substr(f.subject_id, length(f.system) + 2)
            ELSE coalesce(f.external_id, f.target_key)
        END AS target_external_id,
        d.state AS extra_state, d.raw_status AS extra_raw_status, d.keep_external_id
    FROM open_findings f
    LEFT JOIN duplicate_extras d USING (finding_id)
),
shaped AS (
    SELECT
        f.finding_id, f.audit_id, f.subject_kind, f.subject_id, f.run_id, f.workflow, f.mismatch_type,
        f.repair_pattern AS pattern,
        t.target_system, t.target_object_type, t.target_external_id,
        -- What the executor does.
        CASE f.repair_pattern
            WHEN 'receipt_backfill' THEN to_json({
                'intent_id': f.subject_id, 'run_id': f.run_id, 'write_event': 'receipt.recorded',
                'receipt': {'external_id': f.external_id, 'system': f.system, 'observed_at': f.newest_observed_at},
                'set_outcome': 'succeeded', 'then': 'resume_or_complete_run'})
            WHEN 'status_patch' THEN CASE f.operation
                WHEN 'mark_satisfied' THEN to_json({
                    'intent_id': f.subject_id, 'run_id': f.run_id, 'set_outcome': 'satisfied_out_of_band',
                    'satisfied_by': coalesce(f.last_actor, 'unknown (not the agent)'),
                    'external_id': f.external_id, 'never_retry': true})
                ELSE to_json({
                    'run_id': f.run_id, 'from_status': f.recorded ->> 'status',
                    'to_status': CASE f.operation WHEN 'mark_needs_reconciliation' THEN 'needs_reconciliation'
                                                  WHEN 'mark_complete' THEN 'complete' END})
                END
            WHEN 'forward_completion' THEN CASE f.operation
                WHEN 'patch_fields' THEN to_json({
                    'operation': f.action, 'patch_fields': (
                        SELECT map_from_entries(list({'k': d ->> 'field', 'v': d ->> 'intended'}))
                        FROM (SELECT unnest(from_json(f.field_diff, '["JSON"]')) AS d))})
                WHEN 'execute_step' THEN to_json({
                    'operation': f.action, 'step': f.step, 'run_id': f.run_id, 'expected': json(f.expected),
                    'target_key': f.target_key})
                ELSE to_json({
                    'operation': f.action, 'expected': json(f.expected), 'target_key': f.target_key,
                    'retry_of_attempt': f.attempts})
                END
            WHEN 'compensation' THEN to_json({
                'operation': coalesce(f.compensation, (SELECT c.compensation FROM cfg_compensations c
                    WHERE c.system = t.target_system AND c.object_type = t.target_object_type)),
                'external_id': t.target_external_id, 'keep': t.keep_external_id})
            WHEN 'wait_and_verify' THEN to_json({
                'recheck_after': f.acted_at + to_seconds(f.settle_seconds), 'recheck': 'observed state of the intent'})
            ELSE to_json({
                'intended_action': coalesce(f.action, f.mismatch_type), 'intended': json(f.intended),
                'observed_state': f.observed ->> 'state', 'observed': json(f.observed), 'mismatch_type': f.mismatch_type,
                'recommended_next_action': f.next_action,
                'links': {'receipt_external_id': f.receipt_external_id, 'evidence': json(f.evidence)},
                'field_diff': json(f.field_diff)})
        END AS parameters,
        -- Which key the executor sends: for a lost attempt the original one (if the first
        -- call did land after all, the system replays its result instead of acting twice);
        -- a fresh derived one otherwise (a failed effect needs a new call, not a replay).
        CASE WHEN f.repair_pattern = 'forward_completion' AND f.operation = 'retry_same_key'
             THEN coalesce(f.last_attempt_key, f.idempotency_key)
        END AS original_key,
        -- Observed values the executor re-checks just before acting, each saying where:
        -- `vendor` (a fresh read of the system: its status word, its fields under its own
        -- names) or `workflow_log` (the runtime's events).
        CASE
            WHEN f.subject_kind = 'run' THEN to_json([{'check': 'run_status', 'checked_against': 'workflow_log',
                'run_id': f.run_id, 'equals': f.recorded ->> 'status'}])
            WHEN f.subject_kind = 'effect' THEN to_json([{'check': 'object_state', 'checked_against': 'vendor',
                'system': f.system, 'external_id': substr(f.subject_id, length(f.system) + 2),
                'equals': f.observed ->> 'raw_status'}])
            WHEN t.extra_state IS NOT NULL THEN to_json([
                {'check': 'object_state', 'checked_against': 'vendor', 'system': t.target_system,
                 'external_id': t.target_external_id, 'equals': t.extra_raw_status},
                {'check': 'recorded_outcome', 'checked_against': 'workflow_log', 'intent_id': f.subject_id,
                 'equals': f.recorded_outcome}])
            ELSE to_json([
                {'check': 'observed_state', 'checked_against': 'vendor', 'system': f.system, 'intent_id': f.subject_id,
                 'equals': f.observed_state, 'external_id': f.external_id, 'raw_status': f.raw_status,
                 'fields': json(f.fields)},
                {'check': 'recorded_outcome', 'checked_against': 'workflow_log', 'intent_id': f.subject_id,
                 'equals': f.recorded_outcome}])
        END AS preconditions,
        CASE
            -- These touch no external system: they cannot duplicate an effect.
            WHEN f.repair_pattern IN ('receipt_backfill', 'status_patch', 'wait_and_verify') THEN 'low'
            -- The type's header; its one condition: the system still remembers the key the
            -- original call carried, so a retry with it is replayed, not done twice.
            WHEN f.risk_condition IS NULL THEN f.duplicate_risk
            WHEN f.risk_condition = 'key_remembered'
                 AND coalesce(f.last_attempt_key, f.idempotency_key) IS NOT NULL
                 AND f.acted_at + to_seconds(f.idempotency_ttl_seconds) > f.newest_observed_at THEN f.duplicate_risk
            ELSE f.risk_otherwise
        END AS duplicate_risk,
        CASE f.repair_pattern
            WHEN 'compensation' THEN false
            WHEN 'forward_completion' THEN coalesce(f.reversible, false)
            ELSE true
        END AS reversible,
        CASE f.repair_pattern
            WHEN 'receipt_backfill' THEN printf('%s %s exists but the run has no receipt: record it and resume the run', f.system, f.external_id)
            WHEN 'status_patch' THEN CASE f.operation
                WHEN 'mark_needs_reconciliation' THEN printf('Run %s is recorded complete but has open intent findings: mark it needs_reconciliation', f.run_id)
                WHEN 'mark_complete' THEN printf('Every required step of run %s is done: mark it complete', f.run_id)
                WHEN 'mark_satisfied' THEN printf('%s was already done by %s: mark the intent satisfied, never retry', f.subject_id, coalesce(f.last_actor, 'someone else')) END
            WHEN 'forward_completion' THEN CASE f.operation
                WHEN 'patch_fields' THEN printf('%s %s got only part of the write: patch %d field(s)', f.system, f.external_id, f.n_diff)
                WHEN 'execute_step' THEN printf('Run %s stopped before step %s: execute that step only', f.run_id, f.step)
                WHEN 'retry_same_key' THEN printf('%s did not take effect in %s: retry %s with the original idempotency key', f.subject_id, f.system, f.action)
                WHEN 'retry_new_key' THEN printf('%s failed in %s: call %s again with a new idempotency key', f.subject_id, f.system, f.action) END
            WHEN 'compensation' THEN printf('%s %s duplicates another effect: reverse it with %s', t.target_system, t.target_external_id, coalesce(f.compensation, 'the compensation operation'))
            WHEN 'wait_and_verify' THEN printf('Outcome of %s is not visible yet in %s: re-check after the settle window', f.subject_id, coalesce(f.system, 'the system'))
            ELSE printf('Operator decision needed: %s on %s', f.mismatch_type, f.subject_id)
        END AS explanation
    FROM open_findings f
    JOIN targets t USING (finding_id)
)
SELECT
    'act_' || substr(sha256(concat_ws('|', finding_id, pattern, target_system, target_external_id, preconditions::VARCHAR)), 1, 24) AS action_id,
    audit_id, finding_id, subject_kind, subject_id, run_id, workflow, mismatch_type, pattern,
    target_system, target_object_type, target_external_id,
    -- reckon's own times in RFC 3339 (`2026-11-25T12:00:00Z`), not DuckDB's text form; the
    -- keys are those the plan and the findings' JSON give times under.
    regexp_replace(parameters::VARCHAR,
        '"(recheck_after|observed_at|export_observed_at|updated_at|changed_at|first_attempt_at|last_attempt_at|started_at|completion_deadline)":"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(\.\d+)?)\+00"',
        '"\1":"\2T\3Z"', 'g') AS parameters,
    coalesce(original_key,
        'reckon_' || substr(sha256(concat_ws('|', finding_id, pattern, target_external_id)), 1, 24)) AS idempotency_key,
    preconditions::VARCHAR AS preconditions,
    duplicate_risk,
    reversible,
    list_contains((SELECT approval_required FROM cfg_policies), pattern) AS requires_approval,
    pattern IN ('forward_completion', 'compensation') AS touches_external_system,
    explanation
FROM shaped
ORDER BY subject_kind, subject_id, action_id;

DROP TABLE open_findings; DROP TABLE plan_objects; DROP TABLE plan_matches; DROP TABLE open_intents;
