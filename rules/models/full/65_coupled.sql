-- model: coupled (full audit)
-- builds: coupled_runs
-- description: Every run is in scope already.
CREATE OR REPLACE TABLE internal.coupled_runs AS SELECT NULL::VARCHAR AS run_id WHERE false;
