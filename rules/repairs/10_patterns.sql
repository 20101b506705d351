-- step: repair patterns
-- description: How a finding's repair pattern is decided: its type's `repair` header
--   (`mismatch_types`, built from the rule headers in rules/mismatches/), whose condition,
--   if any, is read here from the catalog (reversible, safe to retry), the intent's
--   idempotency key and policy; then an operator's decision that still holds.
-- Whether a repair header's condition holds (the names rules.REPAIR_CONDITIONS allows).
CREATE OR REPLACE MACRO condition_met(condition, reversible, safe_to_retry, has_key, compensable) AS
    CASE condition
        WHEN 'reversible' THEN reversible
        WHEN 'safe_to_retry' THEN safe_to_retry
        WHEN 'has_key' THEN has_key
        WHEN 'compensable' THEN compensable
    END;

-- A type's pattern: its repair, or the alternative when the condition does not hold.
CREATE OR REPLACE MACRO repair_pattern(repair, condition, otherwise, reversible, safe_to_retry, has_key, compensable) AS
    CASE WHEN condition IS NULL OR coalesce(condition_met(condition, reversible, safe_to_retry, has_key, compensable), false)
         THEN repair ELSE otherwise END;

-- An operator's decision that still holds overrides the default: `retry` asks for a
-- forward completion, `compensate` for a compensation; accepting the external truth or
-- ignoring closes the finding (it gets no action).
CREATE OR REPLACE MACRO decided_pattern(decision, holds, default_pattern) AS
    CASE
        WHEN NOT coalesce(holds, false) THEN default_pattern
        WHEN decision = 'retry' THEN 'forward_completion'
        WHEN decision = 'compensate' THEN 'compensation'
        ELSE default_pattern
    END;

-- Compensation operations the catalog declares, per system and object type.
CREATE OR REPLACE TABLE internal.cfg_compensations AS
SELECT system, split_part(action, '.', 2) AS object_type, min(compensation) AS compensation
FROM cfg_steps
WHERE reversible
GROUP BY ALL;
