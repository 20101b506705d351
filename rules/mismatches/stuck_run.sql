-- rule_id: R203
-- mismatch_type: stuck_run
-- subject_kind: run
-- severity: medium
-- precedence: 3
-- description: The run is not terminal, is past its completion window, and not all of its
--   required intents are done.
SELECT run_id AS subject_id
FROM run_state
WHERE NOT terminal
  AND past_window
  AND NOT all_required_done
