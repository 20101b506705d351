-- layer: events
-- depends_on: audit_inputs
-- description: The workflow log as the runtime wrote it, each event once (at-least-once
--   delivery repeats event_ids; the first copy read wins). Unordered: every reader orders
--   by `ts` itself.
CREATE OR REPLACE TABLE events AS
SELECT *
FROM raw_events
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY observed_at, source_file, source_record) = 1;
