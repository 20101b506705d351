-- layer: observed
-- depends_on: audit_inputs
-- description: What the systems of record show: one row per object (system, external_id),
--   its newest version across all snapshots. A terminal version beats a pending one (a late
--   `processed` webhook does not undo `delivered`); then the newest version time (the
--   object's own update time, else the export time), then the newest export.
CREATE OR REPLACE TABLE observed AS
WITH versions AS (
    SELECT *, coalesce(updated_at, observed_at) AS version_at
    FROM raw_observed
),
latest AS (
    SELECT *
    FROM versions
    QUALIFY row_number() OVER (
        PARTITION BY system, external_id
        ORDER BY (state <> 'pending') DESC, version_at DESC, observed_at DESC, source_file DESC, source_record DESC
    ) = 1
),
first_seen AS (
    SELECT system, external_id, min(coalesce(created_at, version_at)) AS created_at
    FROM versions
    GROUP BY system, external_id
)
SELECT
    l.system, l.object_type, l.external_id, l.correlation_keys,
    CASE WHEN len(s.natural_key) > 0
              AND list_bool_and(list_transform(s.natural_key, lambda f: (l.fields ->> f) IS NOT NULL))
         THEN array_to_string(list_transform(s.natural_key, lambda f: l.fields ->> f), '|')
    END AS natural_key,
    l.state, l.raw_status, l.fields, l.last_actor,
    coalesce(list_contains(s.agent_actors, l.last_actor), false) AS agent_last_writer,
    f.created_at, l.version_at AS updated_at, l.merged_into,
    l.snapshot_id, l.observed_at, l.source_file, l.source_record
FROM latest l
JOIN first_seen f USING (system, external_id)
LEFT JOIN cfg_systems s ON s.system = l.system;

-- How fresh each system's newest export is: an empty export still proves absence.
CREATE OR REPLACE TABLE system_freshness AS
SELECT s.system, s.settle_seconds, max(c.observed_at) AS newest_observed_at
FROM cfg_systems s
LEFT JOIN cfg_snapshots c ON c.system = s.system
GROUP BY s.system, s.settle_seconds;
