-- rule_id: R106
-- mismatch_type: receipt_missing
-- subject_kind: intent
-- severity: medium
-- precedence: 6
-- repair: receipt_backfill
-- duplicate_risk: low
-- next_action: record the receipt and resume the run
-- prevention: store the receipt before acknowledging the queue message
-- metric: bookkeeping
-- scope: run
-- description: The agent's effect is present (matched by correlation key, target or
--   receipt) but the runtime has no receipt: the worker died after the side effect, or the
--   webhook that carries the receipt never came (a success recorded with no receipt on any
--   of the intent's events is no receipt either).
SELECT intent_id AS subject_id
FROM intent_state
WHERE observed_state = 'present'
  AND produced_by = 'agent'
  AND (recorded_outcome IN ('attempted', 'timed_out', 'failed', 'not_started')
       OR (recorded_outcome = 'succeeded' AND receipt_external_id IS NULL))
