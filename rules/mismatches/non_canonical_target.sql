-- rule_id: R102
-- mismatch_type: non_canonical_target
-- subject_kind: intent
-- severity: medium
-- precedence: 2
-- description: The matched object was merged into another, archived or deleted, or
--   another record owns the same (unique) natural key as the canonical one.
SELECT intent_id AS subject_id
FROM intent_state
WHERE non_canonical
