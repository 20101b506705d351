-- step: repair patterns
-- description: The one place a finding's repair pattern is decided: TAXONOMY.md's default
--   per mismatch type, refined by the catalog (reversible, safe to retry), the idempotency
--   key and policy.
CREATE OR REPLACE MACRO repair_pattern(mismatch_type, reversible, safe_to_retry, has_key, compensable) AS
    CASE mismatch_type
        WHEN 'duplicate_effect' THEN CASE WHEN reversible THEN 'compensation' ELSE 'human_adjudication' END
        WHEN 'non_canonical_target' THEN 'human_adjudication'
        WHEN 'effect_failed' THEN CASE WHEN safe_to_retry THEN 'forward_completion' ELSE 'human_adjudication' END
        WHEN 'phantom_receipt' THEN 'human_adjudication'
        WHEN 'satisfied_out_of_band' THEN 'status_patch'
        WHEN 'receipt_missing' THEN 'receipt_backfill'
        WHEN 'out_of_band_change' THEN 'human_adjudication'
        WHEN 'field_drift' THEN 'forward_completion'
        WHEN 'unknown_outcome' THEN 'wait_and_verify'
        WHEN 'attempt_lost' THEN CASE WHEN has_key THEN 'forward_completion' ELSE 'human_adjudication' END
        WHEN 'missing_step' THEN 'forward_completion'
        WHEN 'false_completion' THEN 'status_patch'
        WHEN 'stale_run_status' THEN 'status_patch'
        WHEN 'stuck_run' THEN 'human_adjudication'
        WHEN 'orphan_effect' THEN CASE WHEN compensable THEN 'compensation' ELSE 'human_adjudication' END
    END;

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
CREATE OR REPLACE TABLE cfg_compensations AS
SELECT system, split_part(action, '.', 2) AS object_type, min(compensation) AS compensation
FROM cfg_steps
WHERE reversible
GROUP BY ALL;
