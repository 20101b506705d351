-- step: reconciliation metrics
-- description: TAXONOMY.md's metrics for this audit, overall (workflow = '*') and per
--   workflow, appended to `metrics` in long form (one row per audit, workflow, metric and
--   dimension) so that "over time" is a GROUP BY away. Re-running an audit replaces its rows.
--   `metrics_daily` rolls the same up per day of the audits' as-of time.
CREATE TABLE IF NOT EXISTS metrics (
    audit_id VARCHAR, as_of TIMESTAMPTZ, workflow VARCHAR, metric VARCHAR, dimension VARCHAR, value DOUBLE
);
DELETE FROM metrics WHERE audit_id = (SELECT audit_id FROM audit_context);

-- Each finding with its type's metric category (the `metric` of its rule's header), without
-- the values compared: no metric reads them, and copying them cost more than the rest.
CREATE OR REPLACE TEMP TABLE metric_findings AS
SELECT f.* EXCLUDE (intended, recorded, observed, evidence), coalesce(f.workflow, '(none)') AS wf, t.metric AS category,
       f.repair_pattern <> 'human_adjudication' AS auto_resolvable
FROM findings f
JOIN mismatch_types t USING (mismatch_type);

-- Findings reconciled at this audit (see lifecycle.sql): from when the finding last
-- opened (first seen, or its latest regression) to resolved. Superseded ones do not count.
CREATE OR REPLACE TEMP TABLE metric_resolved AS
SELECT l.finding_id, coalesce(l.workflow, '(none)') AS wf, l.resolution,
       epoch(l.resolved_at - l.opened_at) AS seconds_to_reconcile
FROM lifecycle_events l, audit_context c
WHERE l.audit_id = c.audit_id AND l.status = 'resolved' AND l.changed
  AND l.resolution IN ('auto', 'human', 'self_healed');

-- A finding's prevention line follows from its type and its latest workflow and system
-- (stored_results.sql).
CREATE OR REPLACE TEMP TABLE metric_lines AS
SELECT DISTINCT mismatch_type, workflow AS key_workflow, system AS key_system, prevention, prevention_scope
FROM stored_results;

-- The audits in which each workflow had a finding (`mismatch_type` and `prevention` NULL),
-- and each prevention line under each workflow: those before this one (`line_audits`,
-- history_fold.sql) and this one.
CREATE OR REPLACE TEMP TABLE metric_presence AS
WITH audit_rows AS (
    SELECT wf, mismatch_type, key_workflow, key_system, seq FROM line_audits
    UNION ALL SELECT wf, mismatch_type, workflow, system, (SELECT seq FROM audit_context) FROM metric_findings
)
SELECT DISTINCT wf, NULL::VARCHAR AS mismatch_type, NULL::VARCHAR AS prevention, seq FROM audit_rows
UNION ALL
SELECT DISTINCT a.wf, a.mismatch_type, k.prevention, a.seq
FROM audit_rows a
JOIN metric_lines k ON k.mismatch_type = a.mismatch_type AND k.key_workflow IS NOT DISTINCT FROM a.key_workflow
    AND k.key_system IS NOT DISTINCT FROM a.key_system;

-- Per workflow and per line, the audits that had a finding of it, and how many of them in
-- a row end with this one (`streak`).
CREATE OR REPLACE TEMP TABLE metric_streaks AS
WITH grid AS (
    SELECT k.wf, k.mismatch_type, k.prevention, a.seq, p.seq IS NOT NULL AS had
    FROM (SELECT DISTINCT wf, mismatch_type, prevention FROM metric_presence) k
    CROSS JOIN (SELECT seq FROM audits WHERE seq < (SELECT seq FROM audit_context)
                UNION ALL SELECT seq FROM audit_context) a
    LEFT JOIN metric_presence p ON p.wf = k.wf AND p.mismatch_type IS NOT DISTINCT FROM k.mismatch_type
        AND p.prevention IS NOT DISTINCT FROM k.prevention AND p.seq = a.seq
)
SELECT wf, mismatch_type, prevention, count(*) FILTER (had) AS audits_present,
    count(*) FILTER (had AND seq > coalesce(last_clean, -1)) AS streak
FROM (SELECT *, max(seq) FILTER (NOT had) OVER (PARTITION BY wf, mismatch_type, prevention) AS last_clean FROM grid)
GROUP BY ALL;

CREATE OR REPLACE TEMP VIEW metric_workflow_streaks AS SELECT wf, streak FROM metric_streaks WHERE mismatch_type IS NULL;

INSERT INTO metrics
WITH scopes AS (
    SELECT '*' AS workflow UNION SELECT DISTINCT coalesce(workflow, '(none)') FROM recorded_runs
    UNION SELECT DISTINCT wf FROM metric_findings
),
values_ AS (
    SELECT s.workflow, 'runs_audited' AS metric, NULL AS dimension,
        (SELECT count(*) FROM recorded_runs r WHERE s.workflow IN ('*', r.workflow))::DOUBLE AS value FROM scopes s
    UNION ALL SELECT s.workflow, 'intents_audited', NULL,
        (SELECT count(*) FROM intended i WHERE s.workflow IN ('*', i.workflow)) FROM scopes s
    UNION ALL SELECT s.workflow, 'runs_entering_reconciliation', NULL,
        (SELECT count(*) FROM suspicious_runs r WHERE s.workflow IN ('*', coalesce(r.workflow, '(none)'))) FROM scopes s
    UNION ALL SELECT s.workflow, 'findings', NULL,
        (SELECT count(*) FROM metric_findings f WHERE s.workflow IN ('*', f.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'findings_by_type', f.mismatch_type, count(*)
        FROM scopes s JOIN metric_findings f ON s.workflow IN ('*', f.wf) GROUP BY ALL
    UNION ALL SELECT s.workflow, 'findings_by_category', f.category, count(*)
        FROM scopes s JOIN metric_findings f ON s.workflow IN ('*', f.wf) GROUP BY ALL
    UNION ALL SELECT workflow, 'top_mismatch_type_rank', mismatch_type,
        rank() OVER (PARTITION BY workflow ORDER BY n DESC, mismatch_type) FROM (
        SELECT s.workflow, f.mismatch_type, count(*) AS n
        FROM scopes s JOIN metric_findings f ON s.workflow IN ('*', f.wf) GROUP BY ALL)
    UNION ALL SELECT s.workflow, 'auto_resolvable_share', NULL,
        (SELECT avg(f.auto_resolvable::INT) FROM metric_findings f WHERE s.workflow IN ('*', f.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'human_adjudication_share', NULL,
        (SELECT avg((NOT f.auto_resolvable)::INT) FROM metric_findings f WHERE s.workflow IN ('*', f.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'findings_reconciled', NULL,
        (SELECT count(*) FROM metric_resolved r WHERE s.workflow IN ('*', r.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'findings_reconciled_by', r.resolution, count(*)
        FROM scopes s JOIN metric_resolved r ON s.workflow IN ('*', r.wf) GROUP BY ALL
    UNION ALL SELECT s.workflow, 'resolved_auto_share', NULL,
        (SELECT avg((r.resolution = 'auto')::INT) FROM metric_resolved r WHERE s.workflow IN ('*', r.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'resolved_human_share', NULL,
        (SELECT avg((r.resolution = 'human')::INT) FROM metric_resolved r WHERE s.workflow IN ('*', r.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'time_to_reconcile_mean_seconds', NULL,
        (SELECT avg(r.seconds_to_reconcile) FROM metric_resolved r WHERE s.workflow IN ('*', r.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'time_to_reconcile_p90_seconds', NULL,
        (SELECT quantile_cont(r.seconds_to_reconcile, 0.9) FROM metric_resolved r WHERE s.workflow IN ('*', r.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'duplicate_effect_incidents', NULL,
        (SELECT count(*) FROM metric_findings f WHERE f.category = 'duplicate' AND s.workflow IN ('*', f.wf)) FROM scopes s
    UNION ALL SELECT s.workflow, 'receipt_backfills', NULL,
        (SELECT count(*) FROM repair_actions a WHERE a.pattern = 'receipt_backfill' AND s.workflow IN ('*', coalesce(a.workflow, '(none)'))) FROM scopes s
    UNION ALL SELECT s.workflow, 'repair_actions_by_pattern', a.pattern, count(*)
        FROM scopes s JOIN repair_actions a ON s.workflow IN ('*', coalesce(a.workflow, '(none)')) GROUP BY ALL
    UNION ALL SELECT s.workflow, 'consecutive_audits_with_findings', NULL,
        (SELECT coalesce(max(k.streak), 0) FROM metric_workflow_streaks k WHERE s.workflow IN ('*', k.wf)) FROM scopes s
    UNION ALL SELECT '*', 'workflows_with_repeated_drift', NULL,
        (SELECT count(*) FROM metric_workflow_streaks k, cfg_policies p WHERE k.wf <> '(none)' AND k.streak >= p.repeated_drift_audits)
    UNION ALL SELECT k.wf, 'repeated_drift', NULL, 1
        FROM metric_workflow_streaks k, cfg_policies p WHERE k.wf <> '(none)' AND k.streak >= p.repeated_drift_audits
    UNION ALL SELECT s.workflow, 'operator_tasks', NULL,
        (SELECT count(*) FROM repair_actions a WHERE needs_person(a.pattern, a.requires_approval)
            AND s.workflow IN ('*', coalesce(a.workflow, '(none)'))) FROM scopes s
    UNION ALL SELECT s.workflow, 'human_cleanup_tax_minutes', NULL,
        (SELECT count(*) FROM repair_actions a WHERE needs_person(a.pattern, a.requires_approval)
            AND s.workflow IN ('*', coalesce(a.workflow, '(none)')))
        * (SELECT minutes_per_operator_task FROM cfg_policies) FROM scopes s
    UNION ALL SELECT '*', 'quarantined_records', source, count(*) FROM quarantine GROUP BY ALL
)
SELECT c.audit_id, c.as_of, v.workflow, v.metric, v.dimension, v.value
FROM values_ v CROSS JOIN audit_context c;

-- The prevention backlog: per audit and workflow, over every audit up to this one, the
-- follow-up work that stops a mismatch type recurring: each finding's most specific
-- prevention line (stored_results.sql: for its workflow, then its system, else its rule's),
-- one row per (workflow, type, line), ranked by how often it recurred (distinct findings,
-- then the consecutive audits up to this one that had one), then by the cleanup it cost
-- people (distinct findings whose action a person had to take or approve, times
-- minutes_per_operator_task). Appended per audit; re-running an audit replaces its rows.
CREATE TABLE IF NOT EXISTS prevention_backlog (
    audit_id VARCHAR, rank BIGINT, workflow VARCHAR, mismatch_type VARCHAR, prevention VARCHAR, findings BIGINT,
    audits_present BIGINT, open_now BIGINT, cleanup_minutes DOUBLE
);
-- Added later: backlogs computed before keep their rows.
ALTER TABLE prevention_backlog ADD COLUMN IF NOT EXISTS prevention_scope VARCHAR;
ALTER TABLE prevention_backlog ADD COLUMN IF NOT EXISTS systems VARCHAR[];
ALTER TABLE prevention_backlog ADD COLUMN IF NOT EXISTS consecutive_audits BIGINT;
DELETE FROM prevention_backlog WHERE audit_id = (SELECT audit_id FROM audit_context);
INSERT INTO prevention_backlog BY NAME
WITH current_rows AS (
    SELECT finding_id, wf, mismatch_type, workflow AS key_workflow, system AS key_system, status FROM metric_findings
),
-- Each finding's row workflows with its line, over every audit so far (history_fold.sql)
-- and this one; `open_now`: open in this audit under that workflow.
lines AS (
    SELECT r.*, k.prevention, k.prevention_scope
    FROM (SELECT finding_id, wf, mismatch_type, key_workflow, key_system, bool_or(open_now) AS open_now FROM (
              SELECT *, false AS open_now FROM finding_lines
              UNION ALL SELECT * EXCLUDE (status), status = 'open' FROM current_rows
          ) GROUP BY ALL) r
    JOIN metric_lines k ON k.mismatch_type = r.mismatch_type AND k.key_workflow IS NOT DISTINCT FROM r.key_workflow
        AND k.key_system IS NOT DISTINCT FROM r.key_system
),
human AS (
    SELECT finding_id FROM proposed_actions WHERE needs_person(pattern, requires_approval)
    UNION SELECT finding_id FROM repair_actions WHERE needs_person(pattern, requires_approval)
),
per_line AS (
    SELECT l.wf AS workflow, l.mismatch_type, l.prevention,
        -- a line refined for a system outranks the type's own; a workflow's, both
        max(l.prevention_scope) AS prevention_scope,
        list(DISTINCT l.key_system ORDER BY l.key_system) FILTER (l.key_system IS NOT NULL) AS systems,
        count(DISTINCT l.finding_id) AS findings,
        count(DISTINCT l.finding_id) FILTER (l.open_now) AS open_now,
        count(DISTINCT l.finding_id) FILTER (l.finding_id IN (SELECT finding_id FROM human)) AS operator_findings
    FROM lines l GROUP BY ALL
)
SELECT
    (SELECT audit_id FROM audit_context) AS audit_id,
    row_number() OVER (PARTITION BY p.workflow
                       ORDER BY p.findings DESC, k.streak DESC, p.operator_findings DESC,
                                p.mismatch_type, p.prevention) AS rank,
    p.workflow, p.mismatch_type, p.prevention, p.findings, k.audits_present, p.open_now,
    p.operator_findings * (SELECT minutes_per_operator_task FROM cfg_policies) AS cleanup_minutes,
    p.prevention_scope, coalesce(p.systems, []) AS systems, k.streak AS consecutive_audits
FROM per_line p
JOIN metric_streaks k ON k.wf = p.workflow AND k.mismatch_type = p.mismatch_type AND k.prevention = p.prevention;

-- Per day (UTC) of the audits' as-of time, over every audit so far: the day's last audit
-- for stock figures (open findings), sums over the day's audits for flows (reconciled).
CREATE OR REPLACE TABLE metrics_daily AS
WITH last_of_day AS (
    -- The day's last audit: its figures are the day's stock (open findings, ...).
    SELECT CAST(as_of AS DATE) AS day, arg_max(audit_id, seq) AS audit_id
    FROM (SELECT audit_id, seq, as_of FROM audits WHERE audit_id <> (SELECT audit_id FROM audit_context)
          UNION ALL SELECT audit_id, seq, as_of FROM audit_context)
    GROUP BY ALL
),
per_audit AS (
    SELECT m.*, l.day
    FROM metrics m
    JOIN last_of_day l USING (audit_id)
),
resolved AS (
    SELECT CAST(l.resolved_at AS DATE) AS day, coalesce(l.workflow, '(none)') AS wf, l.resolution,
           epoch(l.resolved_at - l.opened_at) AS seconds
    FROM lifecycle_events l
    WHERE l.status = 'resolved' AND l.changed AND l.resolution IN ('auto', 'human', 'self_healed')
),
scoped AS (
    SELECT day, '*' AS workflow, resolution, seconds FROM resolved
    UNION ALL SELECT day, wf, resolution, seconds FROM resolved
)
SELECT day, workflow, metric, dimension, value
FROM per_audit
WHERE metric IN ('findings', 'findings_by_type', 'runs_entering_reconciliation', 'operator_tasks',
                                'human_cleanup_tax_minutes', 'duplicate_effect_incidents', 'receipt_backfills')
UNION ALL SELECT day, workflow, 'findings_reconciled', NULL, count(*) FROM scoped GROUP BY ALL
UNION ALL SELECT day, workflow, 'findings_reconciled_by', resolution, count(*) FROM scoped GROUP BY ALL
UNION ALL SELECT day, workflow, 'time_to_reconcile_mean_seconds', NULL, avg(seconds) FROM scoped GROUP BY ALL
UNION ALL SELECT day, workflow, 'time_to_reconcile_p90_seconds', NULL, quantile_cont(seconds, 0.9) FROM scoped GROUP BY ALL
UNION ALL SELECT day, workflow, 'resolved_auto_share', NULL, avg((resolution = 'auto')::INT) FROM scoped GROUP BY ALL
ORDER BY day, workflow, metric, dimension;
