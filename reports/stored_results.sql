-- step: the stored result of every finding
-- description: TAXONOMY.md "The stored result": one `stored_results` row per finding over its
--   whole life (every audit up to this one), rebuilt each audit: the mismatch found; how the
--   truth was verified (`verified_by` snapshot or live, the snapshot(s), the key that matched,
--   the values compared, all as of the last audit it was present in); the repair proposed
--   and the one applied (the executor's feedback: `applied_repairs`); whether a person was
--   involved (a decision, an approval, an adjudication; who, when known); and its prevention
--   line, the most specific one (reckon.yaml `prevention:` for its workflow, then for its
--   system, else its rule's header). Reads the audits before this one as history_fold.sql
--   folded them; runs after lifecycle.sql (its status and resolution);
--   metrics.sql gathers the prevention lines into `prevention_backlog`. `stored_results`
--   is a view: each finding's row is kept without the values compared
--   (`stored_result_rows`), which the view reads where they already are.

-- Each finding's latest row: this audit's, else its latest before it (history_fold.sql),
-- with the audits it was in and its latest decision, who and when (this audit's, else the
-- latest before it). Staged, as is the lifecycle below: the last statement then holds
-- fewer joins at once under a low memory_limit.
CREATE OR REPLACE TEMP TABLE stored_last AS
WITH last_rows AS (
    SELECT f.finding_id, c.seq, c.as_of, f.subject_kind, f.subject_id, f.run_id, f.workflow, f.system,
        f.mismatch_type, f.severity, f.repair_pattern, f.evidence,
        coalesce(o.audits_present, 0) + 1 AS audits_present,
        coalesce(CASE WHEN f.decision IS NOT NULL THEN f.decision END, o.decision) AS decision,
        coalesce(CASE WHEN f.decision IS NOT NULL THEN f.decided_by END, o.decided_by) AS decided_by,
        coalesce(CASE WHEN f.decision IS NOT NULL THEN f.decided_at END, o.decided_at) AS decided_at
    FROM findings f CROSS JOIN audit_context c LEFT JOIN finding_latest o USING (finding_id)
    UNION ALL
    SELECT l.finding_id, l.seq, l.as_of, l.subject_kind, l.subject_id, l.run_id, l.workflow, l.system,
        l.mismatch_type, l.severity, l.repair_pattern, l.evidence,
        l.audits_present, l.decision, l.decided_by, l.decided_at
    FROM finding_latest l ANTI JOIN findings USING (finding_id)
)
SELECT * EXCLUDE (evidence), evidence ->> 'matched_by' AS matched_by,
    coalesce(evidence ->> 'object_snapshot_id', evidence ->> 'snapshot_id') AS object_snapshot_id
FROM last_rows;

-- Each finding's latest lifecycle row: this audit's (lifecycle.sql wrote it), else its latest before it.
CREATE OR REPLACE TEMP TABLE stored_lifecycle AS
WITH this_audit AS (
    SELECT finding_id, status, first_seen_at, last_seen_at, resolved_at, resolution
    FROM lifecycle_events WHERE audit_id = (SELECT audit_id FROM audit_context)
)
SELECT * FROM this_audit
UNION ALL
SELECT finding_id, status, first_seen_at, last_seen_at, resolved_at, resolution
FROM lifecycle_latest ANTI JOIN this_audit USING (finding_id);

-- Each finding's row without the values compared: the view `stored_results` below adds them.
CREATE OR REPLACE TABLE internal.stored_result_rows AS
WITH proposed AS (
    SELECT finding_id, list(DISTINCT action_id ORDER BY action_id) AS action_ids FROM (
        SELECT finding_id, action_id FROM proposed_actions
        UNION ALL SELECT finding_id, action_id FROM repair_actions
    ) GROUP BY finding_id
),
applied AS (
    SELECT finding_id, arg_max(action_id, applied_at) AS action_id, arg_max(pattern, applied_at) AS pattern,
        max(applied_at) AS applied_at, arg_max(actor, applied_at) AS actor,
        arg_max(approved_by, applied_at) AS approved_by
    FROM applied_repairs GROUP BY finding_id
),
-- The snapshot the verdict was read from: the matched object's, else (nothing matched: an
-- absence, which only an export proves, never a live read of some objects) the newest
-- export of the finding's system (the workflow log's for a run) at that audit.
verified AS (
    SELECT l.finding_id, coalesce(l.object_snapshot_id, fallback.snapshot_id) AS snapshot_id
    FROM stored_last l
    LEFT JOIN LATERAL (
        SELECT arg_max(s.snapshot_id, s.observed_at) AS snapshot_id
        FROM cfg_snapshots s
        WHERE s.observed_at <= l.as_of AND s.origin <> 'live'
          AND (s.system = l.system OR (l.system IS NULL AND s.layer = 'workflow'))
    ) fallback ON l.object_snapshot_id IS NULL
)
SELECT
    l.finding_id, l.subject_kind, l.subject_id, l.run_id, l.workflow, l.system, l.mismatch_type, l.severity,
    lc.status, lc.resolution, lc.first_seen_at, lc.last_seen_at, lc.resolved_at, l.audits_present,
    CASE WHEN s.origin = 'live' THEN 'live' ELSE 'snapshot' END AS verified_by,
    v.snapshot_id AS verified_snapshot_id,
    s.observed_at AS verified_at,
    l.matched_by,
    l.repair_pattern AS proposed_pattern,
    coalesce(pr.action_ids, []) AS proposed_action_ids,
    a.action_id AS applied_action_id, a.pattern AS applied_pattern, a.applied_at, a.actor AS applied_by,
    l.decision, l.decided_by, l.decided_at,
    a.approved_by,
    list_filter([
        CASE WHEN l.decision IS NOT NULL THEN 'decision' END,
        CASE WHEN a.approved_by IS NOT NULL THEN 'approval' END,
        CASE WHEN a.pattern = 'human_adjudication' OR a.actor <> 'agent' THEN 'adjudication' END
    ], lambda r: r IS NOT NULL) AS person_roles,
    len(person_roles) > 0 AS person_involved,
    list_sort(list_distinct(list_filter([l.decided_by, a.approved_by, CASE WHEN a.actor <> 'agent' THEN a.actor END],
                                        lambda x: x IS NOT NULL))) AS people,
    coalesce(pw.prevention, ps.prevention, t.prevention) AS prevention,
    CASE WHEN pw.prevention IS NOT NULL THEN 'workflow' WHEN ps.prevention IS NOT NULL THEN 'system'
         ELSE 'mismatch_type' END AS prevention_scope
FROM stored_last l
LEFT JOIN stored_lifecycle lc USING (finding_id)
LEFT JOIN proposed pr USING (finding_id)
LEFT JOIN applied a USING (finding_id)
LEFT JOIN verified v USING (finding_id)
LEFT JOIN cfg_snapshots s ON s.snapshot_id = v.snapshot_id
LEFT JOIN mismatch_types t ON t.mismatch_type = l.mismatch_type
LEFT JOIN cfg_prevention pw ON pw.mismatch_type = l.mismatch_type AND pw.scope = 'workflow' AND pw.name = l.workflow
LEFT JOIN cfg_prevention ps ON ps.mismatch_type = l.mismatch_type AND ps.scope = 'system' AND ps.name = l.system
ORDER BY l.finding_id;

DROP TABLE stored_last; DROP TABLE stored_lifecycle;

-- The values compared are the finding's row in this audit's `findings` while it has one,
-- else those `finding_latest` keeps for the findings an audit lacks (history_fold.sql):
-- written once there, not copied into every audit's stored results. Internal tables are
-- named with their schema, so a plain session on the analyst copy reads the view too.
CREATE OR REPLACE VIEW stored_results AS
SELECT r.finding_id, r.subject_kind, r.subject_id, r.run_id, r.workflow, r.system, r.mismatch_type, r.severity,
    r.status, r.resolution, r.first_seen_at, r.last_seen_at, r.resolved_at, r.audits_present, r.verified_by,
    r.verified_snapshot_id, r.verified_at, r.matched_by,
    CASE WHEN f.finding_id IS NULL THEN l.intended ELSE f.intended END AS intended,
    CASE WHEN f.finding_id IS NULL THEN l.recorded ELSE f.recorded END AS recorded,
    CASE WHEN f.finding_id IS NULL THEN l.observed ELSE f.observed END AS observed,
    r.proposed_pattern, r.proposed_action_ids, r.applied_action_id, r.applied_pattern, r.applied_at, r.applied_by,
    r.decision, r.decided_by, r.decided_at, r.approved_by, r.person_roles, r.person_involved, r.people,
    r.prevention, r.prevention_scope
FROM internal.stored_result_rows r
LEFT JOIN main.findings f USING (finding_id)
LEFT JOIN internal.finding_latest l ON f.finding_id IS NULL AND l.finding_id = r.finding_id
ORDER BY r.finding_id;
