-- layer: scope
-- depends_on: events, observed
-- full_mode: full/30_scope.sql
-- table: scope_runs
-- description: The runs this audit recomputes (`scope_runs`); every other run keeps its
--   rows in the run-scoped layers. A run's rows depend only on its own events, the objects
--   its keys reach, the natural-key groups of those objects, and two clocks that only
--   move forward (its completion window, its systems' export freshness). So the scope is:
--   runs with new events; runs not yet settled (within their window, or with an intent
--   whose export is not fresh yet); runs whose intents reach a changed object by any key;
--   and every run in a natural-key group that a changed object or a scope intent's
--   claim (before or now) touches, since stronger claims and key owners are decided per
--   group. A full audit (first run, changed rules or config, a snapshot gone) takes every
--   run: full/30_scope.sql.
CREATE OR REPLACE TABLE scope_runs AS
WITH changed AS (
    SELECT DISTINCT system, external_id, natural_key FROM changed_objects
),
seeds AS (
    SELECT run_id FROM changed_runs
    UNION SELECT run_id FROM run_state WHERE NOT (past_window AND all_intents_fresh)
    UNION SELECT m.run_id FROM matches m SEMI JOIN changed c ON c.system = m.system AND c.external_id = m.external_id
    UNION SELECT k.run_id FROM intent_keys k
        JOIN observed_keys ok ON ok.key = k.key
        SEMI JOIN changed c ON c.system = ok.system AND c.external_id = ok.external_id
    UNION SELECT i.run_id FROM intended i JOIN changed c ON c.system = i.system AND c.external_id = i.target_key
    UNION SELECT i.run_id FROM intended i JOIN changed c ON c.system = i.system AND c.natural_key = i.natural_key
    UNION SELECT r.run_id FROM recorded r JOIN changed c ON c.external_id = r.receipt_external_id
),
seed_events AS (
    SELECT intent_id, idempotency_key, target_key, receipt_external_id
    FROM events SEMI JOIN seeds USING (run_id)
),
-- Objects the seed runs' intents claim by a stronger key than the natural key, before or
-- now (a superset: system and object type are not checked here).
claimed AS (
    SELECT m.system, m.external_id FROM matches m SEMI JOIN seeds USING (run_id) WHERE m.strength <= 3
    UNION SELECT ok.system, ok.external_id FROM observed_keys ok
        SEMI JOIN (SELECT intent_id AS key FROM seed_events UNION SELECT idempotency_key FROM seed_events) k USING (key)
    UNION SELECT o.system, o.external_id FROM observed o
        SEMI JOIN (SELECT target_key AS id FROM seed_events UNION SELECT receipt_external_id FROM seed_events) t
        ON t.id = o.external_id
),
groups AS (
    SELECT DISTINCT system, natural_key FROM (
        SELECT system, natural_key FROM changed
        UNION ALL
        SELECT o.system, o.natural_key FROM observed o
        SEMI JOIN claimed c ON c.system = o.system AND c.external_id = o.external_id
    )
    WHERE natural_key IS NOT NULL
),
group_objects AS (
    SELECT o.system, o.external_id FROM observed o
    SEMI JOIN groups g ON g.system = o.system AND g.natural_key = o.natural_key
)
SELECT run_id FROM seeds
UNION SELECT i.run_id FROM intended i SEMI JOIN groups g ON g.system = i.system AND g.natural_key = i.natural_key
UNION SELECT m.run_id FROM matches m SEMI JOIN group_objects g ON g.system = m.system AND g.external_id = m.external_id;

-- The scope's events, and the stronger claims of the runs outside it (60_matches.sql
-- must not hand to a natural-key match).
CREATE OR REPLACE TABLE scope_event_rows AS SELECT * FROM events SEMI JOIN scope_runs USING (run_id);
CREATE OR REPLACE VIEW scoped_events AS SELECT * FROM scope_event_rows;
CREATE OR REPLACE VIEW claims_outside_scope AS
SELECT m.system, m.external_id
FROM matches m
ANTI JOIN scope_runs s USING (run_id)
WHERE m.strength <= 3;
