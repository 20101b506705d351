-- model: run_reasons
-- reads: scoped_intent_state, scoped_recorded, scoped_recorded_reasons, scoped_run_state
-- builds: scoped_run_reasons, scoped_run_evidence
-- scoped_tables: run_reasons, run_evidence
-- description: Every reason a run's own rows give to verify it (TAXONOMY.md "Suspicious
--   runs"; each reason is defined in rules/findings/60_suspicious_runs.sql, which adds a
--   flag file's lines; the events' reasons come from `recorded_reasons`, 50_recorded.sql),
--   and, for each run with one, the evidence checked: each intent's recorded outcome
--   against its observed state and the object that showed it. Both depend only on the
--   run's rows, so a day recomputes its scope's and keeps the others' (the suspicious runs
--   of a day's audit are mostly outside its scope).
CREATE OR REPLACE TABLE internal.scoped_run_reasons AS
SELECT * FROM (
    SELECT run_id, 'attempted_without_receipt' AS reason, intent_id AS detail, last_event_at AS detail_at,
        NULL::VARCHAR AS note
    FROM scoped_recorded WHERE outcome IN ('attempted', 'timed_out')
    UNION ALL
    SELECT run_id, 'past_completion_window', NULL, completion_deadline, status
    FROM scoped_run_state WHERE past_window AND NOT terminal
    UNION ALL
    SELECT run_id, 'required_step_not_done', NULL, last_event_at,
        format('{} of {} required intents observed done', required_done, required_intents)
    FROM scoped_run_state WHERE terminal AND required_done < required_intents
    UNION ALL
    SELECT run_id, reason, detail, detail_at, note FROM scoped_recorded_reasons
)
WHERE run_id IS NOT NULL;

CREATE OR REPLACE TABLE internal.scoped_run_evidence AS
SELECT run_id,
    list(checked_intent(intent_id, recorded_outcome, observed_state, external_id, matched_by, object_snapshot_id)
         ORDER BY intent_id) AS intents_checked
-- Only the suspicious runs' intents: list() cannot spill, so keep its input small.
FROM scoped_intent_state SEMI JOIN scoped_run_reasons USING (run_id)
GROUP BY run_id;
