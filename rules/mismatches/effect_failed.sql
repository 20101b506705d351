-- rule_id: R103
-- mismatch_type: effect_failed
-- subject_kind: intent
-- severity: high
-- precedence: 3
-- repair: forward_completion if safe_to_retry else human_adjudication
-- operation: retry_new_key
-- duplicate_risk: low
-- next_action: fix the cause, then retry or cancel the intent
-- prevention: record success only once the system confirms the effect (webhook or read-back), not when it accepts the call
-- metric: failure
-- scope: run
-- description: The runtime recorded success but the system shows the effect failed or
--   reversed (refund failed/canceled, message bounced/dropped).
SELECT intent_id AS subject_id
FROM intent_state
WHERE recorded_outcome = 'succeeded' AND observed_state = 'failed'
