-- model: intended
-- reads: cfg_steps, cfg_systems, scoped_events
-- builds: scoped_intended
-- scoped_tables: intended
-- description: One row per intent: each `intent.declared` event (the first, if repeated),
--   plus every required catalog step a run never declared, named `<run_id>/<step>`. The
--   target and idempotency key may be on any event of the intent (runtimes usually put
--   them on the attempt): every value is kept (`targets`, canonical in the system's id
--   form); the latest target is the one the update acted on, and more than one is
--   evidence the findings report.
-- Staged on purpose: each aggregate over the events is a table of its own (they spill),
-- then one join. At 10M intents, one statement holding them all ran out of memory at 4 GB.
-- The first declaration's event id per intent, then its row: cheaper than ranking whole rows.
CREATE OR REPLACE TEMP TABLE first_declarations AS
SELECT arg_min(event_id, {'ts': ts, 'id': event_id}) AS event_id
FROM scoped_events
WHERE type = 'intent.declared'
GROUP BY intent_id;

CREATE OR REPLACE TEMP TABLE declarations AS
SELECT intent_id, run_id, workflow, step, action, system, expected, description, ts, event_id
FROM scoped_events
WHERE type = 'intent.declared' AND event_id IN (SELECT event_id FROM first_declarations);
DROP TABLE first_declarations;

CREATE OR REPLACE TEMP TABLE run_workflows AS
SELECT run_id, arg_min(workflow, ts) AS workflow
FROM scoped_events
GROUP BY run_id;

-- Ids the intent's events carry, wherever the runtime put them (canonical below, per intent).
CREATE OR REPLACE TEMP TABLE intent_event_ids AS
SELECT intent_id,
    arg_min(idempotency_key, {'ts': ts, 'id': event_id}) FILTER (idempotency_key IS NOT NULL) AS idempotency_key,
    arg_max({'object_type': target_object_type, 'key': target_key}, {'ts': ts, 'id': event_id})
        FILTER (target_key IS NOT NULL) AS target,
    -- Every target, repeats included: canonical, then distinct, below.
    list(target_key) FILTER (target_key IS NOT NULL) AS targets
FROM scoped_events
WHERE intent_id IS NOT NULL AND (idempotency_key IS NOT NULL OR target_key IS NOT NULL)
GROUP BY intent_id;

CREATE OR REPLACE TABLE scoped_intended AS
WITH undeclared AS (
    SELECT r.run_id || '/' || s.step AS intent_id, r.run_id, r.workflow, s.step, s.action, s.system
    FROM run_workflows r
    JOIN cfg_steps s ON s.workflow = r.workflow AND s.required
    ANTI JOIN declarations d ON d.run_id = r.run_id AND d.step = s.step
),
all_intents AS (
    SELECT intent_id, run_id, workflow, step, action, system, expected, description,
           true AS declared, ts AS declared_at, event_id AS declared_event_id
    FROM declarations
    UNION ALL BY NAME
    SELECT intent_id, run_id, workflow, step, action, system, false AS declared
    FROM undeclared
),
-- The natural key's parts, from the expected values of the system's key fields.
keyed AS (
    SELECT i.*, key_parts(i.expected, sys.natural_key) AS key_parts
    FROM all_intents i
    LEFT JOIN cfg_systems sys ON sys.system = i.system
)
SELECT
    i.intent_id, i.run_id, i.workflow, i.step, i.action, i.system,
    split_part(i.action, '.', 2) AS object_type,
    split_part(i.action, '.', 3) AS verb,
    -- An intent that names its target, or whose verb changes an object, acts on an existing
    -- object (an update): its write must be visible on what it matches.
    k.target IS NOT NULL OR updates_existing(split_part(i.action, '.', 3)) AS is_update,
    k.idempotency_key, k.target.object_type AS target_object_type,
    canonical_id(sys.id_form, k.target.key) AS target_key,
    list_sort(list_distinct(list_transform(coalesce(k.targets, []), lambda t: canonical_id(sys.id_form, t)))) AS targets,
    i.expected, i.description,
    -- The natural key, built from the expected values of the system's key fields.
    natural_key_of(i.key_parts) AS natural_key,
    -- When an object must have been created to match by a non-unique natural key.
    CASE WHEN NOT sys.natural_key_unique THEN i.declared_at - to_seconds(sys.natural_key_window_seconds) END AS natural_key_from,
    CASE WHEN NOT sys.natural_key_unique THEN i.declared_at + to_seconds(sys.natural_key_window_seconds) END AS natural_key_until,
    i.declared, i.declared_at, i.declared_event_id,
    coalesce(s.required, true) AS required,
    s.step_order,
    coalesce(s.reversible, false) AS reversible,
    s.compensation,
    coalesce(s.safe_to_retry, false) AS safe_to_retry
FROM keyed i
LEFT JOIN intent_event_ids k USING (intent_id)
LEFT JOIN cfg_steps s ON s.workflow = i.workflow AND s.step = i.step
LEFT JOIN cfg_systems sys ON sys.system = i.system;
DROP TABLE declarations;
DROP TABLE run_workflows;
DROP TABLE intent_event_ids;
