-- step: suspicious runs
-- description: The runs that enter reconciliation (TAXONOMY.md "Suspicious runs"), each
--   with every reason that sent it and its verdict in this audit: `findings` (the run's
--   findings, primary types listed) or `verified_consistent`, with the evidence checked
--   (each intent's recorded outcome against its observed state and the object that showed
--   it); `run_not_in_log` for a flag file naming a run the workflow log does not have.
--   `runs_entering_reconciliation` counts these runs, not findings.
--
--   Reasons (one row each in `suspicious_run_reasons`, `detail` naming the intent or event):
--     attempted_without_receipt  an intent's latest outcome is `attempted` or `timed_out`
--     timeout_after_call         an `action.timed_out` event, or an error of kind `timeout`
--     past_completion_window     the run is past its completion window and not terminal
--     required_step_not_done     a terminal run has a required intent not observed done
--     duplicate_attempt_blocked  an `action.blocked` event, or an error of kind
--                                `idempotency_conflict`
--     operator_flag              a `run.flagged` event (its actor and description kept), or
--                                a line of a flag file (`flags/`, its operator and reason)
-- Every reason but a flag file's is the run's own (rules/models/95_run_reasons.sql), kept
-- between audits with its rows; a flag file may name any run, so its lines are read here.
CREATE OR REPLACE TABLE suspicious_run_reasons AS
SELECT run_id, reason, detail, detail_at, note FROM run_reasons
UNION ALL
SELECT run_id, 'operator_flag', source_file || ':' || source_record, flagged_at, concat_ws(': ', operator, reason)
FROM flags WHERE run_id IS NOT NULL;

CREATE OR REPLACE TABLE suspicious_runs AS
WITH reasons AS (
    SELECT run_id,
        list(DISTINCT reason ORDER BY reason) AS reasons,
        list({'reason': reason, 'detail': detail, 'at': detail_at, 'note': note}
             ORDER BY reason, detail_at, detail) AS reason_details
    FROM suspicious_run_reasons GROUP BY run_id
),
run_findings AS (
    SELECT run_id,
        list(DISTINCT mismatch_type ORDER BY mismatch_type) AS mismatch_types,
        list(finding_id ORDER BY finding_id) AS finding_ids,
        count(*) FILTER (status = 'open') AS open_findings
    FROM findings WHERE run_id IS NOT NULL GROUP BY run_id
),
-- The evidence of a run only a flag file names is listed here, as the model lists the others'.
checked AS (
    SELECT run_id, intents_checked FROM run_evidence
    UNION ALL
    SELECT run_id,
        list(checked_intent(intent_id, recorded_outcome, observed_state, external_id, matched_by, object_snapshot_id)
             ORDER BY intent_id)
    FROM intent_state
    WHERE run_id IN (SELECT run_id FROM flags EXCEPT SELECT run_id FROM run_reasons)
    GROUP BY run_id
)
SELECT
    r.run_id,
    s.workflow,
    s.status AS recorded_status,
    r.reasons,
    r.reason_details,
    CASE WHEN f.run_id IS NOT NULL THEN 'findings' WHEN s.run_id IS NULL THEN 'run_not_in_log'
         ELSE 'verified_consistent' END AS verdict,
    coalesce(f.mismatch_types, []) AS mismatch_types,
    coalesce(f.finding_ids, []) AS finding_ids,
    coalesce(f.open_findings, 0) AS open_findings,
    coalesce(c.intents_checked, []) AS evidence
FROM reasons r
LEFT JOIN run_state s USING (run_id)
LEFT JOIN run_findings f USING (run_id)
LEFT JOIN checked c USING (run_id);
