-- rule_id: R101
-- mismatch_type: duplicate_effect
-- subject_kind: intent
-- severity: high
-- precedence: 1
-- repair: compensation if reversible else human_adjudication
-- duplicate_risk: high
-- next_action: decide which duplicate to keep and reverse the others by hand
-- prevention: send the idempotency key with every call and reuse it on every retry
-- metric: duplicate
-- scope: run
-- description: Two or more distinct objects matched to one intent are live (success or
--   pending): a retry or a duplicated webhook produced the effect twice.
SELECT intent_id AS subject_id
FROM intent_state
WHERE observed_state = 'duplicate'
