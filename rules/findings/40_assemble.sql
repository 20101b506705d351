-- step: findings
-- description: One primary finding per subject (the hit with the lowest precedence; the
--   others are kept as secondary types), with its context, repair pattern and a
--   deterministic id from subject and type.
-- Staged: each statement joins the few finding subjects with at most one large table, so
-- each can spill to disk under a low memory_limit (one query holding every join at once
-- could not). list() cannot spill: its input here is only the hits.
CREATE OR REPLACE TEMP TABLE ranked_hits AS
SELECT *, row_number() OVER (PARTITION BY subject_kind, subject_id ORDER BY precedence, rule_id) AS rank
FROM rule_hits;

CREATE OR REPLACE TEMP TABLE primary_hits AS
SELECT p.* EXCLUDE (rank),
    'fnd_' || substr(sha256(p.subject_kind || '|' || p.subject_id || '|' || p.mismatch_type), 1, 24) AS finding_id,
    coalesce(s.secondary_types, []) AS secondary_types
FROM ranked_hits p
LEFT JOIN (
    SELECT subject_kind, subject_id, list(mismatch_type ORDER BY rank) AS secondary_types
    FROM ranked_hits WHERE rank > 1 GROUP BY subject_kind, subject_id
) s ON s.subject_kind = p.subject_kind AND s.subject_id = p.subject_id
WHERE p.rank = 1;

-- The runs' and effects' subjects, built once (their views read `run_state` and `observed`);
-- the intents' are read from their kept context as they are, not copied.
CREATE OR REPLACE TEMP TABLE finding_subjects AS
SELECT 'run' AS subject_kind, * FROM run_subjects
UNION ALL SELECT 'effect', * FROM effect_subjects;

CREATE OR REPLACE TEMP TABLE hit_effects AS
SELECT o.system || ':' || o.external_id AS subject_id, c.compensation
FROM observed o
LEFT JOIN cfg_compensations c ON c.system = o.system AND c.object_type = o.object_type
WHERE o.system || ':' || o.external_id IN (SELECT subject_id FROM primary_hits WHERE subject_kind = 'effect');

CREATE OR REPLACE TABLE findings AS
WITH context AS (
    SELECT h.subject_kind, h.subject_id,
        coalesce(i.reversible, e.compensation IS NOT NULL AND pol.compensate_orphans, false) AS reversible,
        coalesce(i.safe_to_retry, false) AS safe_to_retry,
        coalesce(i.has_key, false) AS has_key
    FROM primary_hits h
    -- Catalog facts that refine the repair pattern, kept with the intent's context (10_subjects.sql).
    LEFT JOIN intent_subject_context i ON h.subject_kind = 'intent' AND i.subject_id = h.subject_id
    LEFT JOIN hit_effects e ON h.subject_kind = 'effect' AND e.subject_id = h.subject_id
    CROSS JOIN cfg_policies pol
)
SELECT
    h.finding_id,
    ctx.audit_id,
    h.subject_kind, h.subject_id, s.run_id, s.workflow, s.system,
    h.mismatch_type,
    repair_pattern(t.repair, t.repair_condition, t.repair_otherwise, c.reversible, c.safe_to_retry, c.has_key,
                   c.reversible) AS repair_pattern,
    h.rule_id, h.severity,
    s.intended, s.recorded, s.observed, s.evidence,
    ctx.as_of AS detected_at,
    coalesce(p.first_seen_at, ctx.as_of) AS first_seen_at,
    'open' AS status,
    h.secondary_types,
    s.state_hash,
    -- Set by 50_status.sql.
    NULL::VARCHAR AS lifecycle_status,
    NULL::VARCHAR AS decision,
    NULL::VARCHAR AS decision_reason,
    NULL::VARCHAR AS decided_by,
    NULL::TIMESTAMPTZ AS decided_at,
    NULL::BOOLEAN AS decision_holds
FROM primary_hits h
JOIN (SELECT 'intent' AS subject_kind, * FROM intent_subjects UNION ALL FROM finding_subjects) s
    ON s.subject_kind = h.subject_kind AND s.subject_id = h.subject_id
JOIN context c ON c.subject_kind = h.subject_kind AND c.subject_id = h.subject_id
JOIN mismatch_types t ON t.mismatch_type = h.mismatch_type
LEFT JOIN prior_seen p ON p.finding_id = h.finding_id
CROSS JOIN audit_context ctx
ORDER BY h.subject_kind, h.subject_id;

DROP TABLE ranked_hits; DROP TABLE primary_hits; DROP TABLE finding_subjects;
DROP TABLE hit_effects;
