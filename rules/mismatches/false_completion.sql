-- rule_id: R201
-- mismatch_type: false_completion
-- subject_kind: run
-- severity: high
-- precedence: 1
-- repair: status_patch
-- operation: mark_needs_reconciliation
-- duplicate_risk: low
-- next_action: resolve the run's intent findings, then complete the run
-- prevention: complete a run only after every intent's effect is verified
-- metric: bookkeeping
-- description: The run is recorded complete, but at least one of its intents has a finding
--   other than unknown_outcome (and not closed by an operator's decision that still holds).
SELECT r.run_id AS subject_id
FROM run_state r
WHERE r.status = 'complete'
  AND EXISTS (
      SELECT 1
      FROM intent_findings f
      WHERE f.run_id = r.run_id AND f.mismatch_type <> 'unknown_outcome' AND f.closed IS NOT TRUE
  )
