-- model: events
-- reads: audit_context, cfg_snapshots, folded_snapshots, raw_events_new
-- builds: events, changed_runs, folded_snapshots
-- description: The workflow log as the runtime wrote it, each event once (at-least-once
--   delivery repeats event_ids; the first copy read wins). Kept across audits: an audit
--   folds in only the snapshots not folded yet (`raw_events_new`; all of them on a full
--   audit) and queues the runs they touch in `changed_runs` for the scope. Unordered:
--   every reader orders by `ts` itself.
CREATE TABLE IF NOT EXISTS events AS SELECT * FROM raw_events_new WHERE false;
CREATE TABLE IF NOT EXISTS internal.changed_runs (run_id VARCHAR);

-- Copies already kept of event ids the new snapshots repeat: they compete again. Fetched
-- by row id (a narrow scan finds them): the scan applies a row-id filter itself, so the
-- wide read touches only their rows' row groups (and none when there is no copy).
CREATE OR REPLACE TEMP TABLE kept_copies AS
SELECT * FROM events
SEMI JOIN (SELECT rowid AS row_id FROM events WHERE event_id IN (SELECT event_id FROM raw_events_new)) k
    ON events.rowid = k.row_id;
DELETE FROM events WHERE event_id IN (SELECT event_id FROM kept_copies);

-- Only event ids read more than once need ranking (a few percent): the rest go straight in.
CREATE OR REPLACE TEMP TABLE repeated_ids AS
SELECT event_id FROM (SELECT event_id FROM raw_events_new UNION ALL SELECT event_id FROM kept_copies)
GROUP BY event_id HAVING count(*) > 1;

-- A full audit folds everything: no queue needed then.
INSERT INTO changed_runs
SELECT DISTINCT run_id FROM (SELECT run_id FROM raw_events_new UNION ALL SELECT run_id FROM kept_copies)
WHERE (SELECT incremental FROM audit_context);

INSERT INTO events BY NAME
SELECT * FROM raw_events_new WHERE event_id NOT IN (SELECT event_id FROM repeated_ids);

INSERT INTO events BY NAME
SELECT * FROM (
    SELECT * FROM raw_events_new WHERE event_id IN (SELECT event_id FROM repeated_ids)
    UNION ALL BY NAME
    SELECT * FROM kept_copies
)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY observed_at, source_file, source_record) = 1;

INSERT INTO folded_snapshots
SELECT snapshot_id FROM cfg_snapshots
WHERE layer = 'workflow' AND snapshot_id NOT IN (SELECT snapshot_id FROM folded_snapshots);
DROP TABLE kept_copies;
DROP TABLE repeated_ids;
