-- rule_id: R107
-- mismatch_type: out_of_band_change
-- subject_kind: intent
-- severity: medium
-- precedence: 7
-- description: The effect is present but its fields differ from the intended ones, and the
--   last change was not the agent's (a person or another integration edited it; an
--   unknown last writer counts as not the agent, so an operator decides).
SELECT intent_id AS subject_id
FROM intent_state
WHERE observed_state = 'present'
  AND n_diff > 0
  AND NOT agent_last_writer
