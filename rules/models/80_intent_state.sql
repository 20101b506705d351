-- model: intent_state
-- reads: cfg_field_map, cfg_status_vocabulary, cfg_systems, observed, observed_fields, scoped_intended, scoped_matches, scoped_recorded, system_freshness
-- builds: scoped_intent_state
-- scoped_tables: intent_state
-- description: Everything the intent-level rules compare, one row per intent: the recorded
--   outcome, the observed state after matching (TAXONOMY.md "Derived states"), who produced
--   the effect and who wrote it last, the field diff (intended fields read through the
--   system's field mapping; a field its exports never show is unverified, not a
--   difference), and the settle-window timing. Staged on purpose: per-key
--   aggregates and the field diffs first, as tables of their own (they spill); the last
--   statement joins them per intent and writes the wide joined row once (a temp table
--   of it cost as much again to write).
-- Per intent: what its primary matches show (only the columns the verdict needs).
CREATE OR REPLACE TEMP TABLE intent_matched AS
SELECT
    m.intent_id,
    any_value(m.system) AS system,
    min(m.strength) AS strength,
    any_value(m.matched_by) AS matched_by,
    count(*) FILTER (o.state IN ('success', 'pending')) AS n_live,
    count(*) FILTER (o.state = 'success') AS n_success,
    count(*) FILTER (o.state = 'pending') AS n_pending,
    count(*) FILTER (o.state = 'failed') AS n_failed,
    count(*) FILTER (o.state = 'deleted' OR o.merged_into IS NOT NULL) AS n_gone,
    -- The one object the verdict is about: success > pending > failed > deleted.
    arg_max(o.external_id, {'rank': CASE o.state WHEN 'success' THEN 4 WHEN 'pending' THEN 3 WHEN 'failed' THEN 2 ELSE 1 END,
                            'id': o.external_id}) AS external_id
FROM scoped_matches m
JOIN observed o USING (system, external_id)
WHERE m.is_primary
GROUP BY m.intent_id;

-- The canonical owner of a unique natural key: its oldest live record.
CREATE OR REPLACE TEMP TABLE key_owner AS
SELECT o.system, o.natural_key, arg_min(o.external_id, {'created': o.created_at, 'id': o.external_id}) AS owner_id
FROM observed o
JOIN cfg_systems s ON s.system = o.system AND s.natural_key_unique
WHERE o.natural_key IS NOT NULL AND o.state IN ('success', 'pending')
GROUP BY o.system, o.natural_key;

-- Per matched intent: the chosen object, its key owner and the weaker evidence.
CREATE OR REPLACE TEMP TABLE intent_object AS
WITH others AS (
    -- Objects matched by a weaker key than the intent's strongest: contradicting evidence.
    SELECT intent_id, count(*) AS n_weaker, min(external_id) AS weaker_external_id
    FROM scoped_matches
    WHERE NOT is_primary
    GROUP BY intent_id
)
SELECT
    a.intent_id, a.strength, a.matched_by, a.n_live, a.n_success, a.n_pending, a.n_failed, a.n_gone,
    coalesce(x.n_weaker, 0) AS n_weaker, x.weaker_external_id,
    o.external_id AS external_id, o.object_type AS matched_object_type, o.state AS object_state, o.raw_status,
    o.fields, o.mapped_fields, o.last_actor, o.agent_last_writer, o.actor_writes, o.created_at AS object_created_at,
    o.updated_at AS object_updated_at, o.changed_at AS object_changed_at,
    o.merged_into, o.snapshot_id AS object_snapshot_id,
    o.natural_key IS NOT NULL AND ko.owner_id IS NOT NULL AND ko.owner_id <> o.external_id AS not_key_owner,
    ko.owner_id AS key_owner_id
FROM intent_matched a
LEFT JOIN others x USING (intent_id)
LEFT JOIN observed o ON o.system = a.system AND o.external_id = a.external_id
LEFT JOIN key_owner ko ON ko.system = o.system AND ko.natural_key = o.natural_key;

-- Each intended field of a matched intent: where the system shows it (the mapping, else
-- reckon's normalized fields under the same name), whether its exports ever show it, and
-- the intended value in the system's words (`values` of the mapping; for `$state`, the
-- system's status vocabulary).
CREATE OR REPLACE TEMP TABLE intent_fields AS
-- The status vocabulary as two lookups by (system, word), one row: looked up per field
-- instead of joined (a join would hash the fields, the larger side).
WITH vocabulary AS (
    SELECT map_from_entries(list({'k': {'system': system, 'status': status}, 'v': state})) AS states,
        map_from_entries(list({'k': {'system': system, 'status': status}, 'v': implies})) AS implies
    FROM cfg_status_vocabulary
),
named AS (
    SELECT a.intent_id, i.system, a.matched_object_type, a.fields, a.mapped_fields, a.object_state, a.raw_status,
        unnest(json_keys(i.expected)) AS field, i.expected
    FROM intent_object a
    JOIN scoped_intended i USING (intent_id)
    WHERE a.external_id IS NOT NULL AND json_type(i.expected) = 'OBJECT'
),
worded AS (
    SELECT n.intent_id, n.system, n.field, m.kind, m.path, n.raw_status,
        json_field(n.expected, n.field) AS intended,
        coalesce(list_extract(list_filter(m."values", lambda v: v.intended = (json_field(n.expected, n.field) ->> '$')), 1).shown,
                 json_field(n.expected, n.field) ->> '$') AS word,
        CASE WHEN m.kind IS NULL THEN json_field(n.fields, n.field)
             WHEN m.kind = 'state' THEN to_json(n.object_state)
             WHEN m.kind = 'status' THEN to_json(n.raw_status)
             ELSE json_field(n.mapped_fields, n.field) END AS shown,
        EXISTS (
            SELECT 1 FROM observed_fields f
            WHERE f.system = n.system AND f.object_type = n.matched_object_type AND f.field = n.field) AS ever_shown
    FROM named n
    LEFT JOIN cfg_field_map m ON m.system = n.system AND m.field = n.field
)
SELECT w.* EXCLUDE (implies),
    CASE WHEN NOT w.ever_shown THEN 'the export never shows it'
         WHEN w.kind = 'state' AND w.intended_state IS NULL THEN 'not a status word of the system'
    END AS unverified_reason,
    -- The field shows the object's status word: an earlier word of it holds too (an opened
    -- message was delivered, a closed ticket solved).
    CASE WHEN lower(w.shown ->> '$') = lower(w.raw_status)
         THEN w.implies[{'system': w.system, 'status': lower(w.raw_status)}] END AS shown_implies
FROM (
    SELECT w.*, v.implies,
        CASE WHEN w.kind = 'state' THEN coalesce(
            v.states[{'system': w.system, 'status': lower(w.word)}],
            CASE WHEN lower(w.word) IN ('success', 'pending', 'failed', 'deleted') THEN lower(w.word) END)
        END AS intended_state
    FROM worded w
    CROSS JOIN vocabulary v
) w;

CREATE OR REPLACE TEMP TABLE intent_diffs AS
WITH judged_fields AS (
    SELECT *,
        unverified_reason IS NULL AND NOT (CASE kind
            WHEN 'state' THEN coalesce(intended_state = (shown ->> '$'), false)
            WHEN 'status' THEN coalesce(lower(word) = lower(shown ->> '$'), false)
            ELSE value_holds(CASE WHEN word IS DISTINCT FROM (intended ->> '$') THEN to_json(word) ELSE intended END, shown)
        END OR coalesce(list_contains(shown_implies, lower(word)), false)) AS differs
    FROM intent_fields
)
SELECT intent_id,
    count(*) FILTER (unverified_reason IS NULL) AS n_compared,
    count(*) FILTER (differs) AS n_diff,
    to_json(list({'field': field, 'intended': intended ->> '$', 'observed': shown ->> '$', 'system_field': path}
                 ORDER BY field) FILTER (differs)) AS field_diff,
    to_json(list({'field': field, 'reason': unverified_reason} ORDER BY field)
            FILTER (unverified_reason IS NOT NULL)) AS unverified_fields
FROM judged_fields
GROUP BY intent_id;

-- The intents whose recorded receipt names an object the system's export has. A join from
-- the scope's receipts: a correlated NOT EXISTS on `observed` hashed every object each
-- audit (a null-safe mark join), whatever the scope.
CREATE OR REPLACE TEMP TABLE receipt_found AS
SELECT DISTINCT r.intent_id
FROM scoped_recorded r
JOIN scoped_intended i USING (intent_id)
JOIN observed o ON o.system = i.system AND o.external_id = r.receipt_external_id;

CREATE OR REPLACE TABLE scoped_intent_state AS
WITH intent_base AS (
    SELECT
        i.*,
        r.outcome AS recorded_outcome, r.attempts, r.first_attempt_at, r.last_attempt_at,
        r.last_event_at, r.last_agent_event_at, r.receipt_external_id, r.receipt_event_id, r.receipts,
        r.last_error_kind, r.last_event_id, r.last_attempt_key,
        a.strength, a.matched_by, coalesce(a.n_live, 0) AS n_live, coalesce(a.n_success, 0) AS n_success,
        coalesce(a.n_pending, 0) AS n_pending, coalesce(a.n_failed, 0) AS n_failed, coalesce(a.n_gone, 0) AS n_gone,
        coalesce(a.n_weaker, 0) AS n_weaker, a.weaker_external_id,
        a.external_id, a.matched_object_type, a.object_state, a.raw_status, a.fields, a.mapped_fields, a.last_actor,
        a.agent_last_writer, a.object_created_at, a.object_updated_at, a.object_changed_at,
        -- The system names the agent among the object's writers since the agent's first call.
        coalesce(list_bool_or(list_transform(json_keys(a.actor_writes), lambda w: list_contains(sys.agent_actors, w)
            AND (json_field(a.actor_writes, w) ->> '$')::TIMESTAMPTZ >= coalesce(r.first_attempt_at, i.declared_at))),
            false) AS agent_wrote_since_attempt,
        a.merged_into, a.object_snapshot_id,
        a.not_key_owner, a.key_owner_id,
        f.newest_observed_at, f.settle_seconds,
        -- When the agent last acted on the intent; settle windows count from here.
        coalesce(r.last_attempt_at, r.last_event_at) AS acted_at,
        -- The agent's write: its first call (or, with no call recorded, the declaration) and
        -- its last one, after which a change is someone else's once the settle window passed.
        coalesce(r.first_attempt_at, i.declared_at) AS attempted_at,
        coalesce(r.last_attempt_at, r.last_agent_event_at, i.declared_at) AS agent_write_at,
        sys.idempotency_ttl_seconds
    FROM scoped_intended i
    JOIN scoped_recorded r USING (intent_id)
    LEFT JOIN intent_object a USING (intent_id)
    LEFT JOIN system_freshness f ON f.system = i.system
    LEFT JOIN cfg_systems sys ON sys.system = i.system
),
judged AS (
    SELECT
        b.*,
        coalesce(d.n_compared, 0) AS n_compared,
        coalesce(d.n_diff, 0) AS n_diff,
        -- Only the differences: a field with no difference is not listed.
        CASE WHEN d.n_diff > 0 THEN d.field_diff END AS field_diff,
        d.unverified_fields,
        -- The export is fresh when it was taken after the attempt plus the settle window.
        b.newest_observed_at IS NOT NULL
            AND (b.acted_at IS NULL OR b.newest_observed_at >= b.acted_at + to_seconds(b.settle_seconds)) AS fresh,
        -- Who wrote the object last, and on what evidence (TAXONOMY.md "Who wrote last"):
        -- the actor the system names; where it names none, someone else only on evidence
        -- (an edit past the agent's write and the settle window), the agent when its own
        -- key found the object, else unknown.
        CASE
            WHEN b.external_id IS NULL THEN NULL
            WHEN b.last_actor IS NOT NULL THEN 'actor'
            WHEN b.object_changed_at > b.agent_write_at + to_seconds(b.settle_seconds) THEN 'edited after the agent''s write'
            WHEN b.strength <= 3 THEN 'the agent''s object, no edit after its write'
            ELSE 'no actor and no edit seen'
        END AS last_writer_basis
    FROM intent_base b
    LEFT JOIN intent_diffs d USING (intent_id)
),
visible AS (
    SELECT *,
        CASE last_writer_basis
            WHEN 'actor' THEN CASE WHEN agent_last_writer THEN 'agent' ELSE 'other' END
            WHEN 'edited after the agent''s write' THEN 'other'
            WHEN 'the agent''s object, no edit after its write' THEN 'agent'
            WHEN 'no actor and no edit seen' THEN 'unknown'
        END AS last_writer,
        -- An update is present only when the agent's write is visible on it: its marker, a
        -- change by the agent since its call (the system names the agent among the writers,
        -- or the agent last, or no one and shows an edit since the call), or every intended
        -- field that can be compared holding.
        NOT is_update
            OR strength = 1
            OR agent_wrote_since_attempt
            OR (object_changed_at >= attempted_at AND (last_actor IS NULL OR agent_last_writer))
            OR (n_compared > 0 AND n_diff = 0) AS write_visible
    FROM judged
)
SELECT
    -- The export time changes every audit: readers take it from system_freshness, so an
    -- intent's row changes only when its own evidence does. The intended values and the
    -- object's fields stay in intended and observed (the diff is here): no copy to write.
    j.* EXCLUDE (newest_observed_at, expected, fields, mapped_fields, description),
    CASE
        WHEN j.n_live >= 2 THEN 'duplicate'
        WHEN j.n_success = 1 AND j.object_state = 'success' AND j.write_visible THEN 'present'
        WHEN j.n_pending >= 1 AND j.n_success = 0 THEN 'pending'
        WHEN j.n_failed >= 1 AND j.n_success = 0 THEN 'failed'
        WHEN NOT j.fresh THEN 'unverifiable'
        ELSE 'absent'
    END AS observed_state,
    -- Non-canonical: matched object merged away, archived or deleted, or another record
    -- owns the same unique natural key.
    j.n_gone > 0 OR coalesce(j.not_key_owner, false) AS non_canonical,
    -- Produced by the agent: matched by its own keys, or by natural key but last written
    -- by one of the agent's actor ids.
    CASE WHEN j.strength <= 3 OR (j.strength = 4 AND j.agent_last_writer) THEN 'agent'
         WHEN j.strength = 4 THEN 'other' END AS produced_by,
    -- The recorded receipt names an object the (fresh) export does not have.
    j.receipt_external_id IS NOT NULL AND j.fresh AND rf.intent_id IS NULL AS receipt_unknown
FROM visible j
LEFT JOIN receipt_found rf USING (intent_id);
DROP TABLE intent_matched;
DROP TABLE key_owner;
DROP TABLE intent_object;
DROP TABLE intent_diffs;
DROP TABLE intent_fields;
DROP TABLE receipt_found;
