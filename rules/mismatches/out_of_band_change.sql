-- rule_id: R107
-- mismatch_type: out_of_band_change
-- subject_kind: intent
-- severity: medium
-- precedence: 7
-- repair: human_adjudication
-- duplicate_risk: medium
-- next_action: adopt the outside change, or re-apply the intended values
-- prevention: flag records the agent manages, or route manual edits through the workflow
-- metric: drift
-- scope: run
-- description: The effect is present but its fields differ from the intended ones, and the
--   last change was someone else's, on evidence: an actor id that is not the agent's, or,
--   where the system names no actor, an edit after the agent's write and its settle window.
SELECT intent_id AS subject_id
FROM intent_state
WHERE observed_state = 'present'
  AND n_diff > 0
  AND last_writer = 'other'
