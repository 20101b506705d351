-- step: the history tables, stored once per change
-- description: `findings_history` and `repair_actions_history` (one row per finding, or
--   action, and audit, with the columns of `findings`, or `repair_actions`) are views over
--   two internal tables each: the rows without their large JSON values (`finding_rows`,
--   `action_rows`), and each distinct set of those values once, by `values_id`
--   (`finding_values`: `intended`, `recorded`, `observed`, `evidence`; `action_values`:
--   `parameters`, `preconditions`, `explanation`). A finding that stays open, or an action
--   planned again, mostly keeps its values from one audit to the next, so an audit writes
--   narrow rows and only the values that are new, not every open finding's and action's
--   values again. One thing moves every day: the export time every intent finding's
--   `observed` ends with (`"export_observed_at":…`, spliced in by
--   rules/findings/10_subjects.sql). It is kept in the row (`export_observed_at_text`) and
--   the rest of `observed` once. The split is textual and exact: the views put back the
--   same text (tests/test_history_storage.py).
--   reckon/history_storage.py runs this in each findings step (`ensure`) and appends each
--   audit's rows when it is published (`append_audit`).
CREATE TABLE IF NOT EXISTS internal.finding_rows (
    finding_id VARCHAR, audit_id VARCHAR, subject_kind VARCHAR, subject_id VARCHAR, run_id VARCHAR,
    workflow VARCHAR, system VARCHAR, mismatch_type VARCHAR, repair_pattern VARCHAR, rule_id VARCHAR,
    severity VARCHAR, values_id VARCHAR, export_observed_at_text VARCHAR, detected_at TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ, status VARCHAR, secondary_types VARCHAR[], state_hash VARCHAR,
    lifecycle_status VARCHAR, decision VARCHAR, decision_reason VARCHAR, decided_by VARCHAR,
    decided_at TIMESTAMPTZ, decision_holds BOOLEAN
);
CREATE TABLE IF NOT EXISTS internal.finding_values (
    values_id VARCHAR, intended VARCHAR, recorded VARCHAR, observed VARCHAR, evidence VARCHAR
);
CREATE TABLE IF NOT EXISTS internal.action_rows (
    action_id VARCHAR, audit_id VARCHAR, finding_id VARCHAR, subject_kind VARCHAR, subject_id VARCHAR,
    run_id VARCHAR, workflow VARCHAR, mismatch_type VARCHAR, pattern VARCHAR, target_system VARCHAR,
    target_object_type VARCHAR, target_external_id VARCHAR, values_id VARCHAR, idempotency_key VARCHAR,
    duplicate_risk VARCHAR, reversible BOOLEAN, requires_approval BOOLEAN, touches_external_system BOOLEAN
);
CREATE TABLE IF NOT EXISTS internal.action_values (
    values_id VARCHAR, parameters VARCHAR, preconditions VARCHAR, explanation VARCHAR
);

-- A digest of a set of texts, each length first, so that no two sets run together alike.
CREATE OR REPLACE MACRO internal.values_digest(texts) AS
sha256(concat(array_to_string(list_transform(texts, lambda t: coalesce(strlen(t), -1)::VARCHAR), ','), '|',
              array_to_string(list_transform(texts, lambda t: coalesce(t, '')), '')));

-- The rows of a table shaped like `findings` (`source`: its name), split: the export time
-- an `observed` ends with, if it does, taken out (`export_observed_at_text`, the JSON
-- text of the value), and `values_id` the digest of the four values as they are stored.
CREATE OR REPLACE MACRO internal.findings_split(source) AS TABLE
WITH marked AS (
    SELECT *, nullif(regexp_extract(right(observed, 96), ',"export_observed_at":("[^"]*"|null)}$', 1), '')
        AS export_observed_at_text
    FROM query_table(source)
),
split AS (
    SELECT * REPLACE (
        CASE WHEN export_observed_at_text IS NULL THEN observed
             ELSE concat(left(observed, length(observed) - length(export_observed_at_text)
                                        - length(',"export_observed_at":') - 1), '}') END AS observed)
    FROM marked
)
SELECT *, values_digest([intended, recorded, observed, evidence]) AS values_id FROM split;

-- The rows of a table shaped like `repair_actions`, with the digest of their values.
CREATE OR REPLACE MACRO internal.actions_split(source) AS TABLE
SELECT *, values_digest([parameters, preconditions, explanation]) AS values_id FROM query_table(source);

-- A stored `observed` with its export time put back where it was.
CREATE OR REPLACE MACRO internal.history_observed(observed, export_observed_at_text) AS
CASE WHEN export_observed_at_text IS NULL THEN observed
     ELSE concat(left(observed, length(observed) - 1), ',"export_observed_at":', export_observed_at_text, '}') END;

-- The views name the internal tables with their schema: a plain session on the analyst
-- copy reads them without setting `search_path`.
CREATE OR REPLACE VIEW findings_history AS
SELECT r.finding_id, r.audit_id, r.subject_kind, r.subject_id, r.run_id, r.workflow, r.system, r.mismatch_type,
    r.repair_pattern, r.rule_id, r.severity, v.intended, v.recorded,
    internal.history_observed(v.observed, r.export_observed_at_text) AS observed, v.evidence,
    r.detected_at, r.first_seen_at, r.status, r.secondary_types, r.state_hash, r.lifecycle_status, r.decision,
    r.decision_reason, r.decided_by, r.decided_at, r.decision_holds
FROM internal.finding_rows r
JOIN internal.finding_values v USING (values_id);

CREATE OR REPLACE VIEW repair_actions_history AS
SELECT r.action_id, r.audit_id, r.finding_id, r.subject_kind, r.subject_id, r.run_id, r.workflow, r.mismatch_type,
    r.pattern, r.target_system, r.target_object_type, r.target_external_id, v.parameters, r.idempotency_key,
    v.preconditions, r.duplicate_risk, r.reversible, r.requires_approval, r.touches_external_system, v.explanation
FROM internal.action_rows r
JOIN internal.action_values v USING (values_id);
