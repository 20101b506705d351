-- step: findings
-- description: One primary finding per subject (the hit with the lowest precedence; the
--   others are kept as secondary types), with its context, repair pattern and a
--   deterministic id from subject and type.
CREATE OR REPLACE TABLE findings AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY subject_kind, subject_id ORDER BY precedence, rule_id) AS rank
    FROM rule_hits
),
primary_hits AS (
    SELECT p.*,
        'fnd_' || substr(sha256(p.subject_kind || '|' || p.subject_id || '|' || p.mismatch_type), 1, 24) AS finding_id,
        coalesce(
        (SELECT list(s.mismatch_type ORDER BY s.rank) FROM ranked s
         WHERE s.subject_kind = p.subject_kind AND s.subject_id = p.subject_id AND s.rank > 1), []) AS secondary_types
    FROM ranked p
    WHERE p.rank = 1
),
subjects AS (
    SELECT 'intent' AS subject_kind, * FROM intent_subjects
    UNION ALL SELECT 'run', * FROM run_subjects
    UNION ALL SELECT 'effect', * FROM effect_subjects
),
context AS (
    -- Catalog facts that refine the repair pattern.
    SELECT h.subject_kind, h.subject_id,
        coalesce(i.reversible, c.compensation IS NOT NULL AND pol.compensate_orphans, false) AS reversible,
        coalesce(i.safe_to_retry, false) AS safe_to_retry,
        coalesce(i.idempotency_key IS NOT NULL OR EXISTS (
            SELECT 1 FROM intent_keys k WHERE k.intent_id = i.intent_id AND k.key <> i.intent_id), false) AS has_key
    FROM primary_hits h
    LEFT JOIN intended i ON h.subject_kind = 'intent' AND i.intent_id = h.subject_id
    LEFT JOIN observed o ON h.subject_kind = 'effect' AND o.system || ':' || o.external_id = h.subject_id
    LEFT JOIN cfg_compensations c ON c.system = o.system AND c.object_type = o.object_type
    CROSS JOIN cfg_policies pol
)
SELECT
    h.finding_id,
    ctx.audit_id,
    h.subject_kind, h.subject_id, s.run_id, s.workflow, s.system,
    h.mismatch_type,
    repair_pattern(h.mismatch_type, c.reversible, c.safe_to_retry, c.has_key, c.reversible) AS repair_pattern,
    h.rule_id, h.severity,
    s.intended, s.recorded, s.observed, s.evidence,
    ctx.as_of AS detected_at,
    coalesce(p.first_seen_at, ctx.as_of) AS first_seen_at,
    'open' AS status,
    h.secondary_types,
    s.state_hash,
    -- Set by 50_lifecycle.sql.
    NULL::VARCHAR AS lifecycle_status,
    NULL::VARCHAR AS decision,
    NULL::VARCHAR AS decision_reason,
    NULL::VARCHAR AS decided_by,
    NULL::TIMESTAMPTZ AS decided_at,
    NULL::BOOLEAN AS decision_holds
FROM primary_hits h
JOIN subjects s ON s.subject_kind = h.subject_kind AND s.subject_id = h.subject_id
JOIN context c ON c.subject_kind = h.subject_kind AND c.subject_id = h.subject_id
LEFT JOIN (SELECT finding_id, min(first_seen_at) AS first_seen_at FROM prior_findings GROUP BY finding_id) p
    ON p.finding_id = h.finding_id
CROSS JOIN audit_context ctx
ORDER BY h.subject_kind, h.subject_id;
