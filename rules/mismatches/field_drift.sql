-- rule_id: R108
-- mismatch_type: field_drift
-- subject_kind: intent
-- severity: medium
-- precedence: 8
-- description: The effect is present but some intended fields do not hold, and the agent
--   was the last writer (a partial write), or no one can tell who was: the weaker claim,
--   with the uncertainty in the finding's evidence (`last_writer_basis`).
SELECT intent_id AS subject_id
FROM intent_state
WHERE observed_state = 'present'
  AND n_diff > 0
  AND last_writer IN ('agent', 'unknown')
