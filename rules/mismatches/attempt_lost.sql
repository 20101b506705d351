-- rule_id: R110
-- mismatch_type: attempt_lost
-- subject_kind: intent
-- severity: high
-- precedence: 10
-- description: The call's outcome is unknown to the runtime, and a fresh export taken past
--   the settle window shows nothing: it did not happen.
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome IN ('attempted', 'timed_out')
  AND observed_state = 'absent'
