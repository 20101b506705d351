-- step: finding lifecycle over time
-- description: One `lifecycle_events` row per finding per audit in which it was present or
--   changed (`changed` marks a new status); `finding_lifecycle` is each finding's latest
--   row. A finding open before this audit and absent from it is resolved now, and how is
--   told by the evidence, never by an executor's word alone: `superseded` (its subject now
--   has another mismatch type), `human` (a person decided or adjudicated), `auto` (a repair
--   that needs no person was applied since the finding last opened, and the finding is
--   gone from the observed state) or `self_healed` (gone with no repair, e.g. a late
--   webhook). Audits are ordered by `seq`; re-running one replaces its rows, so the table
--   is a pure function of the audits so far.
-- This audit's rows, and those of an audit that stopped before it was published.
DELETE FROM lifecycle_events
WHERE audit_id = (SELECT audit_id FROM audit_context) OR audit_id NOT IN (SELECT audit_id FROM audits);

-- Repairs an executor reports as done: workflow-log events naming an action in `extra`
-- (and the person who approved it, `approved_by`, when it needed approval).
CREATE OR REPLACE TABLE applied_repairs AS
WITH actions AS (
    SELECT action_id, finding_id, pattern FROM proposed_actions
    UNION SELECT action_id, finding_id, pattern FROM repair_actions
)
SELECT e.extra ->> 'action_id' AS action_id, a.finding_id, a.pattern, e.event_id, e.type AS event_type,
       e.ts AS applied_at, coalesce(e.actor, 'agent') AS actor, e.extra ->> 'approved_by' AS approved_by
FROM events e
JOIN actions a ON a.action_id = e.extra ->> 'action_id'
WHERE e.extra IS NOT NULL AND (e.extra ->> 'action_id') IS NOT NULL;

INSERT INTO lifecycle_events
SELECT c.audit_id, c.seq, c.as_of, f.finding_id, f.subject_kind, f.subject_id, f.mismatch_type, f.workflow,
    f.run_id, f.system, f.lifecycle_status,
    f.lifecycle_status IS DISTINCT FROM b.status,
    coalesce(b.first_seen_at, f.first_seen_at),
    CASE WHEN f.lifecycle_status IN ('new', 'regressed') THEN c.as_of ELSE coalesce(b.opened_at, f.first_seen_at) END,
    c.as_of,
    CASE WHEN f.lifecycle_status = 'resolved'
         THEN coalesce(CASE WHEN b.status = 'resolved' THEN b.resolved_at END, c.as_of) END,
    CASE WHEN f.lifecycle_status = 'resolved' THEN 'human' END,
    coalesce(b.times_regressed, 0) + (f.lifecycle_status = 'regressed')::INTEGER,
    f.repair_pattern, f.decision, NULL
FROM findings f
CROSS JOIN audit_context c
LEFT JOIN lifecycle_latest b USING (finding_id)  -- its latest row before this audit (history_fold.sql)
UNION ALL
SELECT c.audit_id, c.seq, c.as_of, b.finding_id, b.subject_kind, b.subject_id, b.mismatch_type, b.workflow,
    b.run_id, b.system, 'resolved', true, b.first_seen_at, b.opened_at, b.last_seen_at, c.as_of,
    CASE
        WHEN EXISTS (SELECT 1 FROM findings f2 WHERE f2.subject_kind = b.subject_kind AND f2.subject_id = b.subject_id)
            THEN 'superseded'
        WHEN b.decision IS NOT NULL THEN 'human'
        WHEN a.pattern = 'human_adjudication' OR a.actor <> 'agent' THEN 'human'
        WHEN a.action_id IS NOT NULL THEN 'auto'
        ELSE 'self_healed'
    END,
    b.times_regressed, b.repair_pattern, b.decision, a.action_id
FROM lifecycle_latest b
CROSS JOIN audit_context c
-- Only a repair applied since the finding last opened counts for it.
LEFT JOIN LATERAL (
    SELECT arg_max(r.action_id, r.applied_at) AS action_id, arg_max(r.pattern, r.applied_at) AS pattern,
           arg_max(r.actor, r.applied_at) AS actor
    FROM applied_repairs r
    WHERE r.finding_id = b.finding_id AND r.applied_at >= b.opened_at
) a ON true
WHERE b.status <> 'resolved'
  AND b.finding_id NOT IN (SELECT finding_id FROM findings);

CREATE OR REPLACE VIEW finding_lifecycle AS
SELECT * EXCLUDE (audit_id, seq, as_of, changed), audit_id AS last_audit_id, as_of AS last_audit_as_of
FROM lifecycle_events
QUALIFY row_number() OVER (PARTITION BY finding_id ORDER BY seq DESC) = 1;
