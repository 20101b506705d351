-- rule_id: R110
-- mismatch_type: attempt_lost
-- subject_kind: intent
-- severity: high
-- precedence: 10
-- repair: forward_completion if has_key else human_adjudication
-- operation: retry_same_key
-- duplicate_risk: low if key_remembered else high
-- next_action: retry by hand: no idempotency key protects an automatic retry
-- prevention: send an idempotency key with every call so that a lost call can be retried safely
-- metric: missing
-- scope: run
-- description: The call's outcome is unknown to the runtime, and a fresh export taken past
--   the settle window shows nothing: it did not happen.
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome IN ('attempted', 'timed_out')
  AND observed_state = 'absent'
