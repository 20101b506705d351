-- step: operator decisions and the intents' findings
-- description: The decision in force for each finding (the latest one made by this audit's
--   as-of time) with the evidence the operator saw: the finding's state hash at the last
--   earlier audit before the decision, else the first one after it (NULL if it was never
--   audited before: then the current state is what was decided on). Then `intent_findings`,
--   the intents' primary findings that run rules read, each `closed` when a decision that
--   closes it (accept_external_truth, ignore) still holds.
CREATE OR REPLACE TABLE internal.decision_in_force AS
WITH latest AS (
    SELECT d.*
    FROM decisions d, audit_context c
    WHERE d.decided_at <= c.as_of
    QUALIFY row_number() OVER (PARTITION BY d.finding_id ORDER BY d.decided_at DESC, d.source_file DESC, d.source_record DESC) = 1
)
SELECT
    l.*,
    coalesce(
        (SELECT arg_max(p.state_hash, p.detected_at) FROM prior_findings p WHERE p.finding_id = l.finding_id AND p.detected_at <= l.decided_at),
        (SELECT arg_min(p.state_hash, p.detected_at) FROM prior_findings p WHERE p.finding_id = l.finding_id AND p.detected_at > l.decided_at)
    ) AS baseline_hash
FROM latest l;

CREATE OR REPLACE TABLE internal.intent_findings AS
WITH primary_hits AS (
    SELECT h.*,
        'fnd_' || substr(sha256('intent|' || h.subject_id || '|' || h.mismatch_type), 1, 24) AS finding_id
    FROM intent_hits h
    QUALIFY row_number() OVER (PARTITION BY h.subject_id ORDER BY h.precedence, h.rule_id) = 1
)
-- The run and the state hash from the intent's kept context (10_subjects.sql), which every
-- hit intent has: no scan of `intended` for them.
SELECT p.* EXCLUDE (finding_id), s.run_id, p.finding_id, s.state_hash,
    coalesce(d.decision IN ('accept_external_truth', 'ignore')
             AND coalesce(d.baseline_hash = s.state_hash, true), false) AS closed
FROM primary_hits p
JOIN intent_subject_context s ON s.subject_id = p.subject_id
LEFT JOIN decision_in_force d ON d.finding_id = p.finding_id;
