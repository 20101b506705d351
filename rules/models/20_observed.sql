-- model: observed
-- reads: audit_context, cfg_snapshots, cfg_systems, folded_snapshots, raw_observed_new
-- builds: observed, observed_keys, observed_fields, changed_objects, changed_fields, folded_snapshots, system_freshness
-- description: What the systems of record show: one row per object (system, external_id),
--   its newest version across all snapshots. Ids are in the system's canonical form. A
--   terminal version beats a pending one (a late `processed` webhook does not undo
--   `delivered`); then the newest version time (the object's own update time, else the
--   export time), then the newest export. `mapped_fields` holds the intended fields the
--   system's field mapping reads from the record (workflow vocabulary), `changed_at` the
--   latest edit the format reports, `actor_writes` each named writer's newest write. Kept across audits: the version already kept competes
--   with the new snapshots' versions (the order is total, so folding in snapshot by
--   snapshot gives what one pass over all would), and each touched object is queued in
--   `changed_objects`: its kept version ('before', if it existed) and its new one
--   ('after'), each with its natural key and creation time. `observed_keys` holds every
--   object's correlation keys, one row each; `observed_fields` every field an export of
--   the system has shown (the others are unverifiable), new ones queued in `changed_fields`.
CREATE TABLE IF NOT EXISTS observed (
    system VARCHAR, object_type VARCHAR, external_id VARCHAR, correlation_keys VARCHAR[], natural_key VARCHAR,
    state VARCHAR, raw_status VARCHAR, fields VARCHAR, mapped_fields VARCHAR, last_actor VARCHAR,
    actor_writes VARCHAR, agent_last_writer BOOLEAN, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, changed_at TIMESTAMPTZ,
    merged_into VARCHAR, snapshot_id VARCHAR, observed_at TIMESTAMPTZ, source_file VARCHAR, source_record BIGINT);
CREATE TABLE IF NOT EXISTS internal.observed_keys (system VARCHAR, external_id VARCHAR, key VARCHAR);
CREATE TABLE IF NOT EXISTS internal.observed_fields (system VARCHAR, object_type VARCHAR, field VARCHAR);
CREATE TABLE IF NOT EXISTS internal.changed_objects (
    system VARCHAR, external_id VARCHAR, natural_key VARCHAR, created_at TIMESTAMPTZ, version VARCHAR);
CREATE TABLE IF NOT EXISTS internal.changed_fields (system VARCHAR, object_type VARCHAR, field VARCHAR);

-- The new versions, ids canonical, each with the intended fields its system maps (only
-- those the record shows: a value of null is not shown).
CREATE OR REPLACE TEMP VIEW observed_versions AS
SELECT n.system, n.object_type, canonical_id(s.id_form, n.external_id) AS external_id, n.correlation_keys,
    n.state, n.raw_status, n.fields,
    CASE WHEN len(s.field_map) > 0 THEN to_json(map_from_entries(list_filter(
        list_transform(s.field_map, lambda m: {'k': m.field, 'v': CASE m.kind
            WHEN 'raw' THEN coalesce(json_extract(n.raw, m.json_path), json_extract(n.raw, m.index_path))
            WHEN 'fields' THEN coalesce(json_extract(n.fields, m.json_path), json_extract(n.fields, m.index_path))
            WHEN 'state' THEN to_json(n.state)
            WHEN 'status' THEN to_json(n.raw_status) END}),
        lambda e: e.v IS NOT NULL AND json_type(e.v) <> 'NULL')))::VARCHAR
    END AS mapped_fields,
    n.last_actor, n.actor_writes, n.created_at, coalesce(n.updated_at, n.observed_at) AS version_at, n.edited_at,
    canonical_id(s.id_form, n.merged_into) AS merged_into, n.snapshot_id, n.observed_at, n.source_file,
    n.source_record
FROM raw_observed_new n
LEFT JOIN cfg_systems s ON s.system = n.system;

-- The new versions, read and shaped once: every statement below reads them.
CREATE OR REPLACE TEMP TABLE versions AS SELECT * FROM observed_versions;

-- Fields the new versions show, by their own names and by the mapping's.
CREATE OR REPLACE TEMP TABLE fields_shown AS
SELECT DISTINCT system, object_type, unnest(keys) AS field FROM (
    SELECT DISTINCT system, object_type, json_keys(fields) AS keys FROM versions WHERE fields IS NOT NULL
    UNION
    SELECT DISTINCT system, object_type, json_keys(mapped_fields) FROM versions WHERE mapped_fields IS NOT NULL
);
-- A field shown for the first time can change the verdicts of runs outside the scope.
INSERT INTO changed_fields
SELECT * FROM (SELECT * FROM fields_shown EXCEPT SELECT * FROM observed_fields)
WHERE (SELECT incremental FROM audit_context);
INSERT INTO observed_fields SELECT * FROM fields_shown EXCEPT SELECT * FROM observed_fields;
DROP TABLE fields_shown;

-- The objects the new versions touch (a small table: the kept rows are looked up by it).
CREATE OR REPLACE TEMP TABLE touched_objects AS SELECT DISTINCT system, external_id FROM versions;

-- The version kept so far of each touched object competes again (its created_at is
-- already the first seen, its edited_at the latest edit seen).
INSERT INTO versions BY NAME
SELECT o.system, o.object_type, o.external_id, o.correlation_keys, o.state, o.raw_status, o.fields,
    o.mapped_fields, o.last_actor, o.actor_writes, o.created_at, o.updated_at AS version_at,
    o.changed_at AS edited_at,
    o.merged_into, o.snapshot_id, o.observed_at, o.source_file, o.source_record
FROM observed o
-- By row id: a semi-join on the keys reads every projected column of every kept row
-- before it filters; the row ids come from a scan of the keys alone, and a filter on
-- the row id is applied in the scan.
SEMI JOIN (
    SELECT k.rowid AS row_id FROM observed k
    SEMI JOIN touched_objects n ON n.system = k.system AND n.external_id = k.external_id
) t ON o.rowid = t.row_id;

-- A full audit folds everything: no queue needed then.
INSERT INTO changed_objects
SELECT o.system, o.external_id, o.natural_key, o.created_at, 'before'
FROM observed o
SEMI JOIN touched_objects n ON n.system = o.system AND n.external_id = o.external_id
WHERE (SELECT incremental FROM audit_context);

DELETE FROM observed o USING touched_objects n WHERE o.system = n.system AND o.external_id = n.external_id;
DELETE FROM observed_keys k USING touched_objects n WHERE k.system = n.system AND k.external_id = n.external_id;

INSERT INTO observed BY NAME
WITH
-- Each object's winning version (its row in `versions`), its first-seen time and its
-- latest edit in one aggregate.
ranked AS (
    SELECT
        arg_max(v.rowid, {'terminal': v.state <> 'pending', 'version_at': v.version_at, 'observed_at': v.observed_at,
                          'source_file': v.source_file, 'source_record': v.source_record}) AS winner,
        min(coalesce(v.created_at, v.version_at)) AS first_seen_at,
        max(v.edited_at) AS changed_at
    FROM versions v
    GROUP BY v.system, v.external_id
),
latest AS (
    SELECT v.*, r.first_seen_at, r.changed_at FROM ranked r JOIN versions v ON v.rowid = r.winner
),
keyed AS (
    -- The natural key's parts, from the fields the intents name (through the mapping).
    SELECT l.*, s.agent_actors,
        list_transform(list_transform(s.natural_key, lambda f:
            CASE WHEN list_contains(list_transform(s.field_map, lambda m: m.field), f)
                 THEN json_field(l.mapped_fields, f) ELSE json_field(l.fields, f) END), lambda v: key_part(v))
            AS key_parts
    FROM latest l
    LEFT JOIN cfg_systems s ON s.system = l.system
)
SELECT
    system, object_type, external_id, correlation_keys, natural_key_of(key_parts) AS natural_key,
    state, raw_status, fields, mapped_fields, last_actor, actor_writes,
    coalesce(list_contains(agent_actors, last_actor), false) AS agent_last_writer,
    first_seen_at AS created_at, version_at AS updated_at, changed_at, merged_into,
    snapshot_id, observed_at, source_file, source_record
FROM keyed;

INSERT INTO changed_objects
SELECT o.system, o.external_id, o.natural_key, o.created_at, 'after'
FROM observed o
SEMI JOIN touched_objects n ON n.system = o.system AND n.external_id = o.external_id
WHERE (SELECT incremental FROM audit_context);
INSERT INTO observed_keys
SELECT o.system, o.external_id, unnest(o.correlation_keys) AS key
FROM observed o
SEMI JOIN touched_objects n ON n.system = o.system AND n.external_id = o.external_id;

INSERT INTO folded_snapshots
SELECT snapshot_id FROM cfg_snapshots
WHERE layer = 'observed' AND snapshot_id NOT IN (SELECT snapshot_id FROM folded_snapshots);
DROP TABLE versions;
DROP TABLE touched_objects;
DROP VIEW observed_versions;

-- How fresh each system's newest export is: an empty export still proves absence. A system
-- never exported, or exported longer before the workflow log than its settle window, cannot
-- confirm what the log says happened since: the audit names it (`stale_reason`). A live
-- read (`reckon verify`) shows only the objects it read, so it proves no absence: only
-- exports count here.
CREATE OR REPLACE TABLE system_freshness AS
SELECT s.system, s.settle_seconds, max(c.observed_at) AS newest_observed_at,
    CASE WHEN max(c.observed_at) IS NULL THEN 'no export'
         WHEN max(c.observed_at) + to_seconds(s.settle_seconds) < any_value(ctx.log_observed_at)
             THEN 'exported before the workflow log by more than its settle window'
    END AS stale_reason
FROM cfg_systems s
LEFT JOIN cfg_snapshots c ON c.system = s.system AND c.origin = 'export'
CROSS JOIN audit_context ctx
GROUP BY s.system, s.settle_seconds;
