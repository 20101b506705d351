-- layer: spill (full audit)
-- description: Every run is in scope already.
CREATE OR REPLACE TABLE spill_runs AS SELECT NULL::VARCHAR AS run_id WHERE false;
