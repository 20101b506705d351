-- model: run_state
-- reads: scoped_intent_state, scoped_recorded_runs
-- builds: scoped_run_state
-- scoped_tables: run_state
-- description: Per run: its recorded status and window, and how many of its required
--   intents are observed done (present, whoever produced them). A run past its window
--   whose intents' exports are all fresh is settled: only new events or changed objects
--   can change its rows (see 30_scope.sql).
CREATE OR REPLACE TABLE scoped_run_state AS
SELECT
    r.*,
    count(s.intent_id) AS intents,
    count(s.intent_id) FILTER (s.required) AS required_intents,
    count(s.intent_id) FILTER (s.required AND s.observed_state = 'present') AS required_done,
    count(s.intent_id) FILTER (s.required) > 0
        AND count(s.intent_id) FILTER (s.required) = count(s.intent_id) FILTER (s.required AND s.observed_state = 'present') AS all_required_done,
    coalesce(bool_and(s.fresh), true) AS all_intents_fresh
FROM scoped_recorded_runs r
LEFT JOIN scoped_intent_state s USING (run_id)
GROUP BY ALL;
