-- rule_id: R104
-- mismatch_type: phantom_receipt
-- subject_kind: intent
-- severity: high
-- precedence: 4
-- description: The runtime recorded success, but past the settle window nothing matches,
--   or the recorded receipt names an object the system does not have.
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome = 'succeeded'
  AND (observed_state = 'absent' OR receipt_unknown)
