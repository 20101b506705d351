-- rule_id: R105
-- mismatch_type: satisfied_out_of_band
-- subject_kind: intent
-- severity: low
-- precedence: 5
-- repair: status_patch
-- operation: mark_satisfied
-- duplicate_risk: low
-- next_action: nothing to redo: mark the intent satisfied by whoever did it
-- prevention: look for an existing effect by its natural key before acting
-- metric: bookkeeping
-- scope: run
-- description: The runtime has no success, yet the intended effect is present, produced by
--   someone else: matched by natural key only, with none of this intent's correlation
--   keys, and its last writer is not the agent.
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome <> 'succeeded'
  AND observed_state = 'present'
  AND produced_by = 'other'
  AND last_writer <> 'agent'
