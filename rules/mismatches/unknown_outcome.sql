-- rule_id: R109
-- mismatch_type: unknown_outcome
-- subject_kind: intent
-- severity: low
-- precedence: 9
-- repair: wait_and_verify
-- duplicate_risk: low
-- next_action: wait for the settle window, then re-check
-- prevention: reconcile timed-out calls by their idempotency key instead of assuming an outcome
-- metric: pending
-- scope: run
-- description: The call's outcome is unknown to the runtime and the system cannot tell yet:
--   the effect is pending, the export is older than the attempt plus the settle window,
--   or the system is not exported.
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome IN ('attempted', 'timed_out')
  AND observed_state IN ('pending', 'unverifiable')
