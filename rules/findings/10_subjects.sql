-- step: subjects
-- description: The JSON context every intent and effect finding carries: what was intended,
--   recorded and observed (the values the rules compare), the evidence (receipts, external
--   ids, snapshot ids, event ids) and a state hash, built only for subjects some rule hit
--   (`intent_hits`, `rule_hits`). (Runs: 30_run_subjects.sql, after the intents' findings
--   are known.)
--   An intent's context depends only on its run's rows in the run-scoped tables and the
--   objects they reach, so it is kept between audits like them (`intent_subject_context`):
--   the commit of the models drops the rows of the runs in scope (reckon/incremental.py),
--   and this step builds the rows of the hits that have none (`audit_id`: the audit that
--   built it). Only the export's freshness (`export_observed_at`) moves for every intent;
--   `intent_subjects` adds it on reading. The catalog's facts that refine an intent's
--   repair pattern (40_assemble.sql) are run-scoped too, and kept beside it, and so is
--   what the repair plan reads of the intent and its object (`plan`): the plan then reads
--   the open intents' rows here, not every row of the wide `intent_state`, `intended` and
--   `observed` (rules/repairs/20_repair_actions.sql).
CREATE TABLE IF NOT EXISTS internal.intent_subject_context (
    subject_id VARCHAR, run_id VARCHAR, workflow VARCHAR, system VARCHAR,
    intended VARCHAR, recorded VARCHAR, observed VARCHAR, evidence VARCHAR, state_hash VARCHAR,
    reversible BOOLEAN, safe_to_retry BOOLEAN, has_key BOOLEAN, audit_id VARCHAR,
    plan STRUCT(
        step VARCHAR, action VARCHAR, object_type VARCHAR, idempotency_key VARCHAR, target_object_type VARCHAR,
        target_key VARCHAR, targets VARCHAR[], required BOOLEAN, compensation VARCHAR, recorded_outcome VARCHAR,
        attempts INTEGER, first_attempt_at TIMESTAMPTZ, last_attempt_at TIMESTAMPTZ, receipt_external_id VARCHAR,
        last_attempt_key VARCHAR, external_id VARCHAR, object_state VARCHAR, raw_status VARCHAR, last_actor VARCHAR,
        settle_seconds BIGINT, acted_at TIMESTAMPTZ, idempotency_ttl_seconds BIGINT, n_diff BIGINT, field_diff JSON,
        fresh BOOLEAN, observed_state VARCHAR, expected VARCHAR, fields VARCHAR
    )
);
DELETE FROM intent_subject_context WHERE subject_id NOT IN (SELECT subject_id FROM intent_hits);
CREATE OR REPLACE TEMP TABLE unbuilt AS
SELECT subject_id FROM intent_hits EXCEPT SELECT subject_id FROM intent_subject_context;
INSERT INTO intent_subject_context
WITH matched AS (
    -- Only for intents some rule hit: list() cannot spill, so keep its input small.
    SELECT intent_id, list(system || ':' || external_id ORDER BY external_id) AS objects
    FROM matches
    WHERE is_primary AND intent_id IN (SELECT subject_id FROM unbuilt)
    GROUP BY intent_id
),
-- The wide tables' rows the unbuilt intents need, fetched by row id (narrow scans find the
-- ids, and the scans apply them as filters): a day's are mostly at the tables' end, where
-- the commit appends the scope's rows, and the row groups that hold none are skipped.
states AS (
    FROM intent_state
    SEMI JOIN (SELECT rowid AS row_id FROM intent_state WHERE intent_id IN (SELECT subject_id FROM unbuilt)) k
        ON intent_state.rowid = k.row_id
),
object_rows AS (
    SELECT o.rowid AS row_id FROM observed o
    SEMI JOIN states s ON o.system = s.system AND o.external_id = s.external_id
)
SELECT
    s.intent_id AS subject_id, s.run_id, s.workflow, s.system,
    to_json({
        'action': s.action, 'step': s.step, 'expected': json(i.expected), 'target_key': s.target_key,
        'targets': s.targets,
        'idempotency_key': s.idempotency_key, 'natural_key': s.natural_key,
        'required': s.required, 'declared': s.declared
    })::VARCHAR AS intended,
    to_json({
        'outcome': s.recorded_outcome, 'attempts': s.attempts, 'receipt_external_id': s.receipt_external_id,
        'receipts': s.receipts,
        'first_attempt_at': s.first_attempt_at, 'last_attempt_at': s.last_attempt_at,
        'last_error_kind': s.last_error_kind, 'run_status': r.status
    })::VARCHAR AS recorded,
    to_json({
        'state': s.observed_state, 'external_id': s.external_id, 'object_state': s.object_state,
        'raw_status': s.raw_status, 'matched_by': s.matched_by, 'matched_objects': s.n_live + s.n_failed + s.n_gone,
        'fields': json(o.fields), 'mapped_fields': json(o.mapped_fields), 'field_diff': json(s.field_diff),
        'unverified_fields': json(s.unverified_fields), 'last_actor': s.last_actor,
        'agent_last_writer': s.agent_last_writer, 'last_writer': s.last_writer, 'updated_at': s.object_updated_at,
        'changed_at': s.object_changed_at,
        'merged_into': s.merged_into, 'key_owner_id': s.key_owner_id,
        'settle_seconds': s.settle_seconds, 'fresh': s.fresh
    })::VARCHAR AS observed,
    to_json({
        'receipt_external_id': s.receipt_external_id, 'receipt_event_id': s.receipt_event_id,
        'declared_event_id': s.declared_event_id, 'last_event_id': s.last_event_id,
        'matched_objects': coalesce(m.objects, []), 'weaker_match_external_id': s.weaker_external_id,
        'object_snapshot_id': s.object_snapshot_id, 'matched_by': s.matched_by,
        -- What the verdict could not settle or found contradictory, said, not hidden.
        'last_writer': s.last_writer, 'last_writer_basis': s.last_writer_basis,
        'unverified_fields': json(s.unverified_fields),
        'conflicting_targets': CASE WHEN len(s.targets) > 1 THEN s.targets END,
        'conflicting_receipts': CASE WHEN len(s.receipts) > 1 THEN s.receipts END
    })::VARCHAR AS evidence,
    -- What an operator's decision is about: if any of these change, the decision lapses.
    sha256(concat_ws('|', s.observed_state, coalesce(s.external_id, ''), coalesce(s.raw_status, ''),
        coalesce(o.fields, ''), coalesce(s.last_actor, ''), s.recorded_outcome,
        coalesce(s.receipt_external_id, ''), coalesce(s.field_diff::VARCHAR, ''))) AS state_hash,
    -- The catalog's facts that refine the repair pattern (40_assemble.sql): may it be
    -- undone or retried, and does a key make a retry safe to repeat.
    i.reversible, i.safe_to_retry,
    i.idempotency_key IS NOT NULL OR s.intent_id IN (
        SELECT intent_id FROM intent_keys WHERE key <> intent_id AND intent_id IN (SELECT subject_id FROM unbuilt)
    ) AS has_key,
    (SELECT audit_id FROM audit_context) AS audit_id,
    {
        'step': s.step, 'action': s.action, 'object_type': s.object_type, 'idempotency_key': s.idempotency_key,
        'target_object_type': s.target_object_type, 'target_key': s.target_key, 'targets': s.targets,
        'required': s.required, 'compensation': s.compensation, 'recorded_outcome': s.recorded_outcome,
        'attempts': s.attempts, 'first_attempt_at': s.first_attempt_at, 'last_attempt_at': s.last_attempt_at,
        'receipt_external_id': s.receipt_external_id, 'last_attempt_key': s.last_attempt_key,
        'external_id': s.external_id, 'object_state': s.object_state, 'raw_status': s.raw_status,
        'last_actor': s.last_actor, 'settle_seconds': s.settle_seconds, 'acted_at': s.acted_at,
        'idempotency_ttl_seconds': s.idempotency_ttl_seconds, 'n_diff': s.n_diff, 'field_diff': s.field_diff,
        'fresh': s.fresh, 'observed_state': s.observed_state, 'expected': i.expected, 'fields': o.fields
    } AS plan
FROM states s
JOIN (
    FROM intended
    SEMI JOIN (SELECT rowid AS row_id FROM intended WHERE intent_id IN (SELECT subject_id FROM unbuilt)) k
        ON intended.rowid = k.row_id
) i USING (intent_id)
LEFT JOIN (FROM observed SEMI JOIN object_rows k ON observed.rowid = k.row_id) o
    ON o.system = s.system AND o.external_id = s.external_id
LEFT JOIN recorded_runs r ON r.run_id = s.run_id
LEFT JOIN matched m USING (intent_id);
DROP TABLE unbuilt;

CREATE OR REPLACE VIEW internal.intent_subjects AS
SELECT c.* EXCLUDE (reversible, safe_to_retry, has_key, audit_id, plan) REPLACE (
    concat(substr(c.observed, 1, length(c.observed) - 1), ',"export_observed_at":',
           coalesce(to_json(sf.newest_observed_at)::VARCHAR, 'null'), '}') AS observed)
FROM intent_subject_context c
LEFT JOIN system_freshness sf ON sf.system = c.system;

CREATE OR REPLACE VIEW internal.effect_subjects AS
SELECT
    o.system || ':' || o.external_id AS subject_id, NULL::VARCHAR AS run_id, NULL::VARCHAR AS workflow, o.system,
    '{}' AS intended,
    '{}' AS recorded,
    to_json({
        'external_id': o.external_id, 'object_type': o.object_type, 'state': o.state, 'raw_status': o.raw_status,
        'correlation_keys': o.correlation_keys, 'last_actor': o.last_actor, 'fields': json(o.fields)
    })::VARCHAR AS observed,
    to_json({'snapshot_id': o.snapshot_id, 'source_file': o.source_file, 'source_record': o.source_record})::VARCHAR AS evidence,
    sha256(concat_ws('|', o.state, coalesce(o.raw_status, ''), coalesce(o.fields, ''), coalesce(o.last_actor, ''))) AS state_hash
FROM observed o
WHERE o.system || ':' || o.external_id IN (SELECT subject_id FROM rule_hits WHERE subject_kind = 'effect');
