-- layer: observed
-- depends_on: audit_inputs
-- description: What the systems of record show: one row per object (system, external_id),
--   its newest version across all snapshots. A terminal version beats a pending one (a late
--   `processed` webhook does not undo `delivered`); then the newest version time (the
--   object's own update time, else the export time), then the newest export. Kept across
--   audits: the version already kept competes with the new snapshots' versions (the order
--   is total, so folding in snapshot by snapshot gives what one pass over all would), and
--   each touched object is queued in `changed_objects`: its kept version ('before', if it
--   existed) and its new one ('after'), each with its natural key and creation time.
--   `observed_keys` holds every object's correlation keys, one row each.
CREATE TABLE IF NOT EXISTS observed (
    system VARCHAR, object_type VARCHAR, external_id VARCHAR, correlation_keys VARCHAR[], natural_key VARCHAR,
    state VARCHAR, raw_status VARCHAR, fields VARCHAR, last_actor VARCHAR, agent_last_writer BOOLEAN,
    created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, merged_into VARCHAR,
    snapshot_id VARCHAR, observed_at TIMESTAMPTZ, source_file VARCHAR, source_record BIGINT);
CREATE TABLE IF NOT EXISTS observed_keys (system VARCHAR, external_id VARCHAR, key VARCHAR);
CREATE TABLE IF NOT EXISTS changed_objects (
    system VARCHAR, external_id VARCHAR, natural_key VARCHAR, created_at TIMESTAMPTZ, version VARCHAR);

CREATE OR REPLACE TEMP TABLE observed_merged AS
WITH new_versions AS (
    SELECT system, object_type, external_id, correlation_keys, state, raw_status, fields, last_actor,
        created_at, coalesce(updated_at, observed_at) AS version_at, merged_into,
        snapshot_id, observed_at, source_file, source_record
    FROM raw_observed_new
),
versions AS (
    SELECT * FROM new_versions
    UNION ALL
    -- The version kept so far (its created_at is already the first seen).
    SELECT o.system, o.object_type, o.external_id, o.correlation_keys, o.state, o.raw_status, o.fields,
        o.last_actor, o.created_at, o.updated_at, o.merged_into,
        o.snapshot_id, o.observed_at, o.source_file, o.source_record
    FROM observed o
    SEMI JOIN (SELECT DISTINCT system, external_id FROM new_versions) n
        ON n.system = o.system AND n.external_id = o.external_id
),
-- Each object's winning version and its first-seen time in one aggregate (no sort).
ranked AS (
    SELECT
        arg_max(v, {'terminal': v.state <> 'pending', 'version_at': v.version_at, 'observed_at': v.observed_at,
                    'source_file': v.source_file, 'source_record': v.source_record}) AS winner,
        min(coalesce(v.created_at, v.version_at)) AS first_seen_at
    FROM versions v
    GROUP BY v.system, v.external_id
),
latest AS (
    SELECT unnest(winner), first_seen_at FROM ranked
)
SELECT
    l.system, l.object_type, l.external_id, l.correlation_keys,
    CASE WHEN len(s.natural_key) > 0
              AND list_bool_and(list_transform(s.natural_key, lambda f: (l.fields ->> f) IS NOT NULL))
         THEN array_to_string(list_transform(s.natural_key, lambda f: l.fields ->> f), '|')
    END AS natural_key,
    l.state, l.raw_status, l.fields, l.last_actor,
    coalesce(list_contains(s.agent_actors, l.last_actor), false) AS agent_last_writer,
    l.first_seen_at AS created_at, l.version_at AS updated_at, l.merged_into,
    l.snapshot_id, l.observed_at, l.source_file, l.source_record
FROM latest l
LEFT JOIN cfg_systems s ON s.system = l.system;

-- A full audit folds everything: no queue needed then.
INSERT INTO changed_objects
SELECT * FROM (
    SELECT o.system, o.external_id, o.natural_key, o.created_at, 'before'
    FROM observed o
    SEMI JOIN observed_merged m ON m.system = o.system AND m.external_id = o.external_id
    UNION ALL
    SELECT system, external_id, natural_key, created_at, 'after' FROM observed_merged
)
WHERE (SELECT incremental FROM audit_context);

DELETE FROM observed o USING observed_merged m WHERE o.system = m.system AND o.external_id = m.external_id;
DELETE FROM observed_keys k USING observed_merged m WHERE k.system = m.system AND k.external_id = m.external_id;
INSERT INTO observed BY NAME SELECT * FROM observed_merged;
INSERT INTO observed_keys SELECT system, external_id, unnest(correlation_keys) AS key FROM observed_merged;

INSERT INTO folded_snapshots
SELECT snapshot_id FROM cfg_snapshots
WHERE layer = 'observed' AND snapshot_id NOT IN (SELECT snapshot_id FROM folded_snapshots);
DROP TABLE observed_merged;

-- How fresh each system's newest export is: an empty export still proves absence.
CREATE OR REPLACE TABLE system_freshness AS
SELECT s.system, s.settle_seconds, max(c.observed_at) AS newest_observed_at
FROM cfg_systems s
LEFT JOIN cfg_snapshots c ON c.system = s.system
GROUP BY s.system, s.settle_seconds;
