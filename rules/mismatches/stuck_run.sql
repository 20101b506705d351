-- rule_id: R203
-- mismatch_type: stuck_run
-- subject_kind: run
-- severity: medium
-- precedence: 3
-- repair: human_adjudication
-- duplicate_risk: medium
-- next_action: resolve the run's intent findings, then resume or fail the run
-- prevention: alert on runs past their completion window and resume them from their last verified step
-- metric: pending
-- scope: run
-- description: The run is not terminal, is past its completion window, and not all of its
--   required intents are done.
SELECT run_id AS subject_id
FROM run_state
WHERE NOT terminal
  AND past_window
  AND NOT all_required_done
