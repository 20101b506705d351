-- step: finding lifecycle
-- description: Where each finding stands against earlier audits and operator decisions:
--   `new` (never seen before), `ongoing` (open in the previous audit), `regressed` (seen
--   before, but resolved or absent in the previous audit), or `resolved` by a decision
--   (accept_external_truth or ignore) that still holds: the finding's state hash is what
--   it was when the operator decided. A decision lapses when the evidence changes.
CREATE TABLE IF NOT EXISTS findings_history AS SELECT * FROM findings WHERE false;

CREATE OR REPLACE TEMP TABLE previous_audit AS
SELECT a.audit_id
FROM audits a, audit_context c
WHERE a.as_of < c.as_of
ORDER BY a.as_of DESC
LIMIT 1;

CREATE OR REPLACE TEMP TABLE decision_in_force AS
WITH latest AS (
    SELECT d.*
    FROM decisions d, audit_context c
    WHERE d.decided_at <= c.as_of
    QUALIFY row_number() OVER (PARTITION BY d.finding_id ORDER BY d.decided_at DESC, d.source_file DESC, d.source_record DESC) = 1
),
earlier AS (
    SELECT h.finding_id, h.state_hash, h.detected_at
    FROM findings_history h, audit_context c
    WHERE h.audit_id <> c.audit_id AND h.finding_id IN (SELECT finding_id FROM latest)
)
SELECT
    l.*,
    -- The evidence the operator saw: the finding's state at the last audit before the
    -- decision (else the first audit after it, else now).
    coalesce(
        (SELECT arg_max(e.state_hash, e.detected_at) FROM earlier e WHERE e.finding_id = l.finding_id AND e.detected_at <= l.decided_at),
        (SELECT arg_min(e.state_hash, e.detected_at) FROM earlier e WHERE e.finding_id = l.finding_id AND e.detected_at > l.decided_at),
        (SELECT f.state_hash FROM findings f WHERE f.finding_id = l.finding_id)
    ) AS baseline_hash
FROM latest l;

UPDATE findings f SET
    decision = d.decision,
    decision_reason = d.reason,
    decided_by = d.operator,
    decided_at = d.decided_at,
    decision_holds = d.baseline_hash = f.state_hash
FROM decision_in_force d
WHERE d.finding_id = f.finding_id;

UPDATE findings f SET
    repair_pattern = decided_pattern(f.decision, f.decision_holds, f.repair_pattern),
    status = CASE WHEN f.decision_holds AND f.decision IN ('accept_external_truth', 'ignore') THEN 'resolved' ELSE 'open' END,
    lifecycle_status = CASE
        WHEN f.decision_holds AND f.decision IN ('accept_external_truth', 'ignore') THEN 'resolved'
        WHEN NOT EXISTS (SELECT 1 FROM findings_history h WHERE h.finding_id = f.finding_id AND h.audit_id <> c.audit_id) THEN 'new'
        WHEN EXISTS (SELECT 1 FROM findings_history h JOIN previous_audit p USING (audit_id)
                     WHERE h.finding_id = f.finding_id AND h.status = 'open') THEN 'ongoing'
        ELSE 'regressed'
    END
FROM audit_context c;
