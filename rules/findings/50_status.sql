-- step: finding status
-- description: Where each finding stands against earlier audits and operator decisions:
--   `new` (never seen before), `ongoing` (open in the previous audit), `regressed` (seen
--   before, but resolved or absent in the previous audit), or `resolved` by a decision
--   (accept_external_truth or ignore) that still holds: the finding's state hash is what
--   it was when the operator decided. A decision lapses when the evidence changes.
UPDATE findings f SET
    decision = d.decision,
    decision_reason = d.reason,
    decided_by = d.operator,
    decided_at = d.decided_at,
    decision_holds = coalesce(d.baseline_hash = f.state_hash, true)
FROM decision_in_force d
WHERE d.finding_id = f.finding_id;

UPDATE findings f SET
    repair_pattern = decided_pattern(f.decision, f.decision_holds, f.repair_pattern),
    status = CASE WHEN f.decision_holds AND f.decision IN ('accept_external_truth', 'ignore') THEN 'resolved' ELSE 'open' END,
    lifecycle_status = CASE
        WHEN f.decision_holds AND f.decision IN ('accept_external_truth', 'ignore') THEN 'resolved'
        WHEN NOT EXISTS (SELECT 1 FROM prior_seen p WHERE p.finding_id = f.finding_id) THEN 'new'
        WHEN EXISTS (SELECT 1 FROM prior_seen p WHERE p.finding_id = f.finding_id AND p.previous_status = 'open')
            THEN 'ongoing'
        ELSE 'regressed'
    END;
