-- rule_id: R202
-- mismatch_type: stale_run_status
-- subject_kind: run
-- severity: low
-- precedence: 2
-- repair: status_patch
-- operation: mark_complete
-- duplicate_risk: low
-- next_action: mark the run complete
-- prevention: set a run's status from the verified state of its steps, not the worker's last message
-- metric: bookkeeping
-- scope: run
-- description: Every required intent of the run is observed done, yet the run is not
--   recorded complete (failed, escalated, needs_reconciliation, or still running or
--   awaiting approval past its completion window).
SELECT run_id AS subject_id
FROM run_state
WHERE all_required_done
  AND status <> 'complete'
  AND (status IN ('failed', 'escalated', 'needs_reconciliation') OR past_window)
