-- rule_id: R102
-- mismatch_type: non_canonical_target
-- subject_kind: intent
-- severity: medium
-- precedence: 2
-- repair: human_adjudication
-- duplicate_risk: medium
-- next_action: apply the intent to the canonical record, or accept it as is
-- prevention: resolve the target by its natural key at call time, following merges, before writing
-- metric: drift
-- scope: run
-- description: The matched object was merged into another, archived or deleted, or
--   another record owns the same (unique) natural key as the canonical one.
SELECT intent_id AS subject_id
FROM intent_state
WHERE non_canonical
