-- model: scope
-- reads: events, observed_keys, changed_runs, changed_objects, changed_fields
-- kept: claims, intended, intent_keys, matches, recorded, run_state
-- builds: scope_runs, scope_event_rows, scoped_events, claims_outside_scope
-- full_mode: full/30_scope.sql
-- table: scope_runs
-- description: The runs this audit recomputes (`scope_runs`); every other run keeps its
--   rows in the run-scoped layer tables. A run's rows depend on its own events, the objects
--   its keys reach, the natural-key groups of those objects, and two clocks that only move
--   forward (its completion window, its systems' export freshness). This step takes the
--   runs with new events, the runs not settled yet (inside their window, or an intent
--   whose export is not fresh yet), and the runs whose intents reach a changed object by
--   a key of their own (correlation key, target, receipt, or a kept match), and the runs
--   with an intent on a system whose exports show one of its intended fields for the
--   first time (that field turns from unverified to compared).
--   65_coupled.sql adds the runs a natural-key group couples to these. A full audit (first
--   run, changed rules or catalog, a snapshot gone) takes every run: full/30_scope.sql.
CREATE OR REPLACE TABLE internal.scope_runs AS
WITH changed AS (
    SELECT DISTINCT system, external_id FROM changed_objects
),
changed_keys AS (
    SELECT DISTINCT ok.key
    FROM observed_keys ok
    SEMI JOIN changed c ON c.system = ok.system AND c.external_id = ok.external_id
)
SELECT run_id FROM changed_runs
UNION SELECT run_id FROM run_state WHERE NOT (past_window AND all_intents_fresh)
UNION SELECT m.run_id FROM matches m SEMI JOIN changed c ON c.system = m.system AND c.external_id = m.external_id
UNION SELECT k.run_id FROM intent_keys k SEMI JOIN changed_keys c ON c.key = k.key
UNION SELECT i.run_id FROM intended i SEMI JOIN changed c ON c.system = i.system AND c.external_id = i.target_key
UNION SELECT r.run_id FROM (SELECT run_id, unnest(receipts) AS receipt FROM recorded) r
    SEMI JOIN changed c ON c.external_id = r.receipt
UNION SELECT i.run_id FROM intended i
    SEMI JOIN changed_fields f ON f.system = i.system AND json_field(i.expected, f.field) IS NOT NULL;

-- The scope's events, fetched by row id (a narrow scan of `run_id` finds them): the wide
-- read touches only the row groups that hold them. The runs a day touches are mostly
-- recent and events sit in the order they were folded in, so most of older history is
-- skipped, and an old run in the scope (a late webhook) costs its own rows, not a read
-- of everything after its first event.
CREATE OR REPLACE TABLE internal.scope_event_rows AS
SELECT * FROM events
SEMI JOIN (SELECT rowid AS row_id FROM events WHERE run_id IN (SELECT run_id FROM scope_runs)) k
    ON events.rowid = k.row_id;
CREATE OR REPLACE VIEW internal.scoped_events AS SELECT * FROM scope_event_rows;
-- Stronger claims (tiers 1-3) of the runs outside the scope: not for a natural-key match.
CREATE OR REPLACE VIEW internal.claims_outside_scope AS
SELECT c.system, c.external_id FROM claims c ANTI JOIN scope_runs s USING (run_id);
