-- rule_id: R111
-- mismatch_type: missing_step
-- subject_kind: intent
-- severity: high
-- precedence: 11
-- repair: forward_completion
-- operation: execute_step
-- duplicate_risk: medium
-- next_action: execute the missing step only
-- prevention: mark a run complete only when every required step has a recorded outcome
-- metric: missing
-- scope: run
-- description: A required or declared step never started, although an earlier step of the
--   same run is observed done, and the run is terminal or past its completion window.
SELECT s.intent_id AS subject_id
FROM intent_state s
JOIN run_state r USING (run_id)
WHERE s.recorded_outcome = 'not_started'
  AND (s.required OR s.declared)
  AND (r.terminal OR r.past_window)
  AND EXISTS (
      SELECT 1
      FROM intent_state earlier
      WHERE earlier.run_id = s.run_id
        AND earlier.step_order < s.step_order
        AND earlier.observed_state = 'present'
  )
