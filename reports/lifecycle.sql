-- step: finding lifecycle over time
-- description: One `lifecycle_events` row per finding per audit in which it was present or
--   changed; `finding_lifecycle` is each finding's latest row. A finding open in the
--   state before this audit and absent from it is resolved now, and how is told by the
--   evidence, never by an executor's word alone: `auto` (a repair that needs no person was
--   applied, and the finding is gone from the observed state), `human` (a person
--   adjudicated or decided), `self_healed` (gone with no repair, e.g. a late webhook), or
--   `superseded` (its subject now has another mismatch type). Re-running an audit replaces
--   its rows, so the table is a pure function of the audits so far.
CREATE TABLE IF NOT EXISTS repair_actions_history AS SELECT * FROM repair_actions WHERE false;
CREATE TABLE IF NOT EXISTS lifecycle_events (
    audit_id VARCHAR, as_of TIMESTAMPTZ, finding_id VARCHAR, subject_kind VARCHAR, subject_id VARCHAR,
    mismatch_type VARCHAR, workflow VARCHAR, run_id VARCHAR, system VARCHAR, status VARCHAR,
    first_seen_at TIMESTAMPTZ, last_seen_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ, resolution VARCHAR,
    times_regressed INTEGER, repair_pattern VARCHAR, decision VARCHAR, applied_action_id VARCHAR
);
DELETE FROM lifecycle_events WHERE audit_id = (SELECT audit_id FROM audit_context);

-- Repairs an executor reports as done: workflow-log events naming an action in `extra`.
CREATE OR REPLACE TABLE applied_repairs AS
WITH actions AS (
    SELECT action_id, finding_id, pattern FROM repair_actions_history
    UNION SELECT action_id, finding_id, pattern FROM repair_actions
)
SELECT e.extra ->> 'action_id' AS action_id, a.finding_id, a.pattern, e.event_id, e.type AS event_type,
       e.ts AS applied_at, coalesce(e.actor, 'agent') AS actor
FROM events e
JOIN actions a ON a.action_id = e.extra ->> 'action_id'
WHERE e.extra IS NOT NULL AND (e.extra ->> 'action_id') IS NOT NULL;

CREATE OR REPLACE TEMP TABLE lifecycle_before AS
SELECT l.*
FROM lifecycle_events l, audit_context c
WHERE l.as_of < c.as_of
QUALIFY row_number() OVER (PARTITION BY l.finding_id ORDER BY l.as_of DESC) = 1;

INSERT INTO lifecycle_events
SELECT c.audit_id, c.as_of, f.finding_id, f.subject_kind, f.subject_id, f.mismatch_type, f.workflow,
    f.run_id, f.system, f.lifecycle_status,
    coalesce(b.first_seen_at, f.first_seen_at),
    c.as_of,
    CASE WHEN f.lifecycle_status = 'resolved'
         THEN coalesce(CASE WHEN b.status = 'resolved' THEN b.resolved_at END, c.as_of) END,
    CASE WHEN f.lifecycle_status = 'resolved' THEN 'human' END,
    coalesce(b.times_regressed, 0) + (f.lifecycle_status = 'regressed')::INTEGER,
    f.repair_pattern, f.decision, NULL
FROM findings f
CROSS JOIN audit_context c
LEFT JOIN lifecycle_before b USING (finding_id)
UNION ALL
SELECT c.audit_id, c.as_of, b.finding_id, b.subject_kind, b.subject_id, b.mismatch_type, b.workflow,
    b.run_id, b.system, 'resolved', b.first_seen_at, b.last_seen_at, c.as_of,
    CASE
        WHEN b.decision IS NOT NULL THEN 'human'
        WHEN a.pattern = 'human_adjudication' OR a.actor <> 'agent' THEN 'human'
        WHEN a.action_id IS NOT NULL THEN 'auto'
        WHEN EXISTS (SELECT 1 FROM findings f2 WHERE f2.subject_kind = b.subject_kind AND f2.subject_id = b.subject_id)
            THEN 'superseded'
        ELSE 'self_healed'
    END,
    b.times_regressed, b.repair_pattern, b.decision, a.action_id
FROM lifecycle_before b
CROSS JOIN audit_context c
LEFT JOIN (
    SELECT finding_id, arg_max(action_id, applied_at) AS action_id, arg_max(pattern, applied_at) AS pattern,
           arg_max(actor, applied_at) AS actor
    FROM applied_repairs GROUP BY finding_id
) a USING (finding_id)
WHERE b.status <> 'resolved'
  AND b.finding_id NOT IN (SELECT finding_id FROM findings);

CREATE OR REPLACE VIEW finding_lifecycle AS
SELECT * EXCLUDE (audit_id, as_of), audit_id AS last_audit_id, as_of AS last_audit_as_of
FROM lifecycle_events
QUALIFY row_number() OVER (PARTITION BY finding_id ORDER BY as_of DESC) = 1;
