-- rule_id: R104
-- mismatch_type: phantom_receipt
-- subject_kind: intent
-- severity: high
-- precedence: 4
-- repair: human_adjudication
-- duplicate_risk: medium
-- next_action: confirm with the system; re-run the step if it never happened
-- prevention: store the receipt the system returned and check it exists before marking the step done
-- metric: missing
-- scope: run
-- description: The runtime recorded success, but past the settle window nothing matches,
--   or the recorded receipt names an object the system does not have.
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome = 'succeeded'
  AND (observed_state = 'absent' OR receipt_unknown)
