-- step: analyst views
-- description: The views an analyst reaches for first, over the public tables only (so
--   they read in any session, with or without `internal` on its search path; the internal
--   tables sit in that schema). Created by `publish` (reckon/engine.py) once the audit's
--   findings, plan, lifecycle and metrics are written; comments.sql describes every column.

-- The open findings of the latest audit, with how long each has been open and its actions.
CREATE OR REPLACE VIEW open_findings AS
SELECT f.finding_id, f.mismatch_type, f.severity, f.subject_kind, f.subject_id, f.workflow, f.run_id, f.system,
    f.repair_pattern, f.lifecycle_status, f.first_seen_at, l.opened_at,
    epoch(c.as_of - l.opened_at) AS open_seconds, l.times_regressed,
    coalesce(a.actions, 0) AS actions, coalesce(a.needs_person, false) AS needs_person
FROM findings f
CROSS JOIN audit_context c
LEFT JOIN lifecycle_events l ON l.finding_id = f.finding_id AND l.audit_id = c.audit_id
LEFT JOIN (SELECT finding_id, count(*) AS actions, bool_or(needs_person(pattern, requires_approval)) AS needs_person
           FROM repair_actions GROUP BY finding_id) a ON a.finding_id = f.finding_id
WHERE f.status = 'open';

-- The operator queue: one row per action of an open finding that a person must take
-- (`human_adjudication`) or approve (`requires_approval`). reports/operator_csv.py writes
-- this view as the spreadsheet, so the two never differ.
CREATE OR REPLACE VIEW operator_queue AS
SELECT f.finding_id, f.mismatch_type, f.subject_id, f.workflow, f.system, a.pattern, a.duplicate_risk,
    a.explanation,
    coalesce(a.parameters ->> 'recommended_next_action',
             'approve or reject the ' || a.pattern || ' action') AS recommended_next_action,
    nullif(nullif(coalesce(s.field_diff::VARCHAR, (a.parameters -> 'field_diff')::VARCHAR), 'null'), '[]')
        AS field_diff,
    a.action_id
FROM findings f
JOIN repair_actions a USING (finding_id)
LEFT JOIN intent_state s ON f.subject_kind = 'intent' AND s.intent_id = f.subject_id
WHERE f.status = 'open' AND needs_person(a.pattern, a.requires_approval);

-- What the latest audit changed against the previous one (by `seq`): findings that became
-- new, regressed or resolved in it (lifecycle_events marks a new status with `changed`; new
-- -> ongoing is no news), and ongoing findings whose evidence (`state_hash`) differs from
-- the previous audit's.
CREATE OR REPLACE VIEW since_last_audit AS
WITH previous AS (
    SELECT h.finding_id, h.state_hash
    FROM findings_history h
    JOIN audits a USING (audit_id)
    WHERE a.seq = (SELECT max(seq) FROM audits WHERE seq < (SELECT seq FROM audit_context))
)
SELECT CASE WHEN l.status = 'ongoing' THEN 'evidence_changed' ELSE l.status END AS change,
    l.finding_id, l.mismatch_type, l.subject_kind, l.subject_id, l.workflow, l.run_id, l.system,
    l.status, l.resolution, l.first_seen_at, l.opened_at, l.resolved_at, l.repair_pattern, l.applied_action_id
FROM lifecycle_events l
JOIN audit_context c USING (audit_id)
LEFT JOIN findings f USING (finding_id)
LEFT JOIN previous p USING (finding_id)
WHERE (l.changed AND l.status <> 'ongoing') OR (l.status = 'ongoing' AND f.state_hash IS DISTINCT FROM p.state_hash);

-- Time to reconcile in wide form: one row per audit and workflow scope (`*` for all), the
-- reconciliation metrics of `metrics` as columns.
CREATE OR REPLACE VIEW time_to_reconcile AS
SELECT m.audit_id, a.seq, m.as_of, m.workflow,
    coalesce(max(m.value) FILTER (m.metric = 'findings_reconciled'), 0)::BIGINT AS findings_reconciled,
    coalesce(max(m.value) FILTER (m.metric = 'findings_reconciled_by' AND m.dimension = 'auto'), 0)::BIGINT
        AS reconciled_auto,
    coalesce(max(m.value) FILTER (m.metric = 'findings_reconciled_by' AND m.dimension = 'human'), 0)::BIGINT
        AS reconciled_human,
    coalesce(max(m.value) FILTER (m.metric = 'findings_reconciled_by' AND m.dimension = 'self_healed'), 0)::BIGINT
        AS reconciled_self_healed,
    max(m.value) FILTER (m.metric = 'time_to_reconcile_mean_seconds') AS mean_seconds,
    max(m.value) FILTER (m.metric = 'time_to_reconcile_p90_seconds') AS p90_seconds,
    max(m.value) FILTER (m.metric = 'resolved_auto_share') AS resolved_auto_share,
    max(m.value) FILTER (m.metric = 'resolved_human_share') AS resolved_human_share
FROM metrics m
JOIN audits a USING (audit_id)
GROUP BY m.audit_id, a.seq, m.as_of, m.workflow;
