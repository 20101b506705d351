-- model: scope (full audit)
-- reads: events
-- builds: scope_runs, scoped_events, claims_outside_scope
-- description: Every run is in scope; nothing is kept from earlier audits.
CREATE OR REPLACE TABLE internal.scope_runs AS SELECT DISTINCT run_id FROM events;
DROP TABLE IF EXISTS scope_event_rows;
CREATE OR REPLACE VIEW internal.scoped_events AS SELECT * FROM events;
CREATE OR REPLACE VIEW internal.claims_outside_scope AS
SELECT NULL::VARCHAR AS system, NULL::VARCHAR AS external_id WHERE false;
