-- rule_id: R108
-- mismatch_type: field_drift
-- subject_kind: intent
-- severity: medium
-- precedence: 8
-- repair: forward_completion
-- operation: patch_fields
-- duplicate_risk: low
-- next_action: patch the fields that did not take
-- prevention: write every field in one request and read the object back before recording success
-- metric: drift
-- scope: run
-- description: The effect is present but some intended fields do not hold, and the agent
--   was the last writer (a partial write), or no one can tell who was: the weaker claim,
--   with the uncertainty in the finding's evidence (`last_writer_basis`).
SELECT intent_id AS subject_id
FROM intent_state
WHERE observed_state = 'present'
  AND n_diff > 0
  AND last_writer IN ('agent', 'unknown')
