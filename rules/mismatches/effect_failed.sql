-- rule_id: R103
-- mismatch_type: effect_failed
-- subject_kind: intent
-- severity: high
-- precedence: 3
-- description: The runtime recorded success but the system shows the effect failed or
--   reversed (refund failed/canceled, message bounced/dropped).
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome = 'succeeded' AND observed_state = 'failed'
