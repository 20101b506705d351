-- layer: intent_state
-- depends_on: matches
-- scoped_tables: intent_state
-- description: Everything the intent-level rules compare, one row per intent: the recorded
--   outcome, the observed state after matching (TAXONOMY.md "Derived states"), who produced
--   the effect, the field diff, and the settle-window timing. Staged on purpose: per-key
--   aggregates first, then the joined base and its field diffs as tables of their own
--   (they spill), so no single query holds several large hash tables at once.
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
    o.external_id AS external_id, o.state AS object_state, o.raw_status, o.fields, o.last_actor,
    o.agent_last_writer, o.created_at AS object_created_at, o.updated_at AS object_updated_at,
    o.merged_into, o.snapshot_id AS object_snapshot_id,
    o.natural_key IS NOT NULL AND ko.owner_id IS NOT NULL AND ko.owner_id <> o.external_id AS not_key_owner,
    ko.owner_id AS key_owner_id
FROM intent_matched a
LEFT JOIN others x USING (intent_id)
LEFT JOIN observed o ON o.system = a.system AND o.external_id = a.external_id
LEFT JOIN key_owner ko ON ko.system = o.system AND ko.natural_key = o.natural_key;

CREATE OR REPLACE TEMP TABLE intent_base AS
SELECT
    i.*,
    r.outcome AS recorded_outcome, r.attempts, r.first_attempt_at, r.last_attempt_at,
    r.last_event_at, r.last_agent_event_at, r.receipt_external_id, r.receipt_event_id,
    r.last_error_kind, r.last_event_id,
    a.strength, a.matched_by, coalesce(a.n_live, 0) AS n_live, coalesce(a.n_success, 0) AS n_success,
    coalesce(a.n_pending, 0) AS n_pending, coalesce(a.n_failed, 0) AS n_failed, coalesce(a.n_gone, 0) AS n_gone,
    coalesce(a.n_weaker, 0) AS n_weaker, a.weaker_external_id,
    a.external_id, a.object_state, a.raw_status, a.fields, a.last_actor,
    a.agent_last_writer, a.object_created_at, a.object_updated_at,
    a.merged_into, a.object_snapshot_id,
    a.not_key_owner, a.key_owner_id,
    f.newest_observed_at, f.settle_seconds,
    -- When the agent last acted on the intent; settle windows count from here.
    coalesce(r.last_attempt_at, r.last_event_at) AS acted_at,
    coalesce(r.last_agent_event_at, r.last_attempt_at, i.declared_at) AS agent_write_at,
    sys.idempotency_ttl_seconds
FROM scoped_intended i
JOIN scoped_recorded r USING (intent_id)
LEFT JOIN intent_object a USING (intent_id)
LEFT JOIN system_freshness f ON f.system = i.system
LEFT JOIN cfg_systems sys ON sys.system = i.system;

CREATE OR REPLACE TEMP TABLE intent_diffs AS
SELECT intent_id,
    count(*) AS n_diff,
    to_json(list({'field': k, 'intended': expected ->> k, 'observed': fields ->> k} ORDER BY k)) AS field_diff
FROM (SELECT intent_id, expected, fields, unnest(json_keys(expected)) AS k FROM intent_base WHERE fields IS NOT NULL AND expected IS NOT NULL)
WHERE (expected ->> k) IS DISTINCT FROM (fields ->> k)
GROUP BY intent_id;

CREATE OR REPLACE TABLE scoped_intent_state AS
WITH judged AS (
    SELECT
        b.*,
        coalesce(d.n_diff, 0) AS n_diff,
        d.field_diff,
        -- The export is fresh when it was taken after the attempt plus the settle window.
        b.newest_observed_at IS NOT NULL
            AND (b.acted_at IS NULL OR b.newest_observed_at >= b.acted_at + to_seconds(b.settle_seconds)) AS fresh,
        -- An update is present only when the agent's write is visible on the object.
        NOT b.is_update
            OR b.strength = 1
            OR (b.agent_last_writer AND b.object_updated_at >= b.agent_write_at)
            OR coalesce(d.n_diff, 0) = 0 AS write_visible
    FROM intent_base b
    LEFT JOIN intent_diffs d USING (intent_id)
)
SELECT
    -- The export time changes every audit: readers take it from system_freshness, so an
    -- intent's row changes only when its own evidence does. The intended values and the
    -- object's fields stay in intended and observed (the diff is here): no copy to write.
    j.* EXCLUDE (newest_observed_at, expected, fields, description),
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
    j.receipt_external_id IS NOT NULL AND j.fresh
        AND NOT EXISTS (SELECT 1 FROM observed o2 WHERE o2.system = j.system AND o2.external_id = j.receipt_external_id) AS receipt_unknown
FROM judged j;
DROP TABLE intent_matched;
DROP TABLE key_owner;
DROP TABLE intent_object;
DROP TABLE intent_base;
DROP TABLE intent_diffs;
