-- layer: run_state
-- depends_on: intent_state, recorded
-- description: Per run: its recorded status and window, and how many of its required
--   intents are observed done (present, whoever produced them).
CREATE OR REPLACE TABLE run_state AS
SELECT
    r.*,
    count(s.intent_id) AS intents,
    count(s.intent_id) FILTER (s.required) AS required_intents,
    count(s.intent_id) FILTER (s.required AND s.observed_state = 'present') AS required_done,
    count(s.intent_id) FILTER (s.required) > 0
        AND count(s.intent_id) FILTER (s.required) = count(s.intent_id) FILTER (s.required AND s.observed_state = 'present') AS all_required_done
FROM recorded_runs r
LEFT JOIN intent_state s USING (run_id)
GROUP BY ALL;
