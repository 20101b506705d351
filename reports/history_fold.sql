-- step: the audits before this one, folded
-- description: What lifecycle.sql, stored_results.sql and metrics.sql need of every audit before this
--   one, kept one audit at a time so that their cost follows the findings, not the number
--   of audits: each finding's latest `lifecycle_events` row (`lifecycle_latest`), its latest
--   `findings_history` row with the number of audits it was in and its latest decision
--   (`finding_latest`; the values compared only for the findings this audit does not have),
--   its earliest sighting and latest status (`finding_seen`, for the
--   findings step), and every repair action proposed for it (`proposed_actions`); which
--   prevention line each finding counts for under which workflow, and in which audits
--   (`finding_lines`, `line_audits`: metrics.sql counts the workflows' and the lines'
--   consecutive audits from them).
--   `history_folded` says up to which audit (`seq`) they hold, with a digest of those
--   audits' ids and finish times. When this audit is one of them (a re-run of an earlier
--   audit) or they changed outside an audit (deleted or re-published: the digest no longer
--   matches), the tables are rebuilt from every audit before this one. Otherwise an audit
--   folds in the audits published since (normally one, the audit before it; a re-run of
--   the latest audit, none).
CREATE TABLE IF NOT EXISTS repair_actions_history AS SELECT * FROM repair_actions WHERE false;
CREATE TABLE IF NOT EXISTS lifecycle_events (
    audit_id VARCHAR, seq BIGINT, as_of TIMESTAMPTZ, finding_id VARCHAR, subject_kind VARCHAR, subject_id VARCHAR,
    mismatch_type VARCHAR, workflow VARCHAR, run_id VARCHAR, system VARCHAR, status VARCHAR,
    changed BOOLEAN, first_seen_at TIMESTAMPTZ, opened_at TIMESTAMPTZ, last_seen_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ, resolution VARCHAR, times_regressed INTEGER, repair_pattern VARCHAR,
    decision VARCHAR, applied_action_id VARCHAR
);
CREATE TABLE IF NOT EXISTS internal.history_folded (through_seq BIGINT, audits_digest VARCHAR);
CREATE TABLE IF NOT EXISTS internal.lifecycle_latest AS SELECT * FROM lifecycle_events WHERE false;
CREATE TABLE IF NOT EXISTS internal.finding_latest AS
SELECT h.finding_id, a.seq, a.as_of, h.subject_kind, h.subject_id, h.run_id, h.workflow, h.system,
    h.mismatch_type, h.severity, h.repair_pattern, h.intended, h.recorded, h.observed, h.evidence,
    0::BIGINT AS audits_present, h.decision, h.decided_by, h.decided_at
FROM findings_history h, audits a WHERE false;
CREATE TABLE IF NOT EXISTS internal.proposed_actions AS
SELECT finding_id, action_id, pattern, requires_approval FROM repair_actions_history WHERE false;
DROP TABLE IF EXISTS internal.workflow_streaks;  -- folded by an earlier version; derived from line_audits now
CREATE TABLE IF NOT EXISTS internal.finding_lines (
    finding_id VARCHAR, wf VARCHAR, mismatch_type VARCHAR, key_workflow VARCHAR, key_system VARCHAR
);
CREATE TABLE IF NOT EXISTS internal.line_audits (
    wf VARCHAR, mismatch_type VARCHAR, key_workflow VARCHAR, key_system VARCHAR, seq BIGINT
);

-- The published audits before this one.
CREATE OR REPLACE TEMP TABLE fold_published AS
SELECT audit_id, seq, as_of FROM audits WHERE seq < (SELECT seq FROM audit_context);

-- Up to which audit the folded tables still hold: 0 (start over) unless those audits are
-- still the published ones, unchanged (`folded_through()`, rules/findings/05_prior.sql).
CREATE OR REPLACE TEMP TABLE fold_from AS SELECT * FROM folded_through();

DELETE FROM lifecycle_latest WHERE (SELECT through_seq FROM fold_from) = 0;
DELETE FROM finding_latest WHERE (SELECT through_seq FROM fold_from) = 0;
DELETE FROM proposed_actions WHERE (SELECT through_seq FROM fold_from) = 0;
DELETE FROM finding_seen WHERE (SELECT through_seq FROM fold_from) = 0;

CREATE OR REPLACE TEMP TABLE fold_audits AS
SELECT audit_id, seq, as_of FROM fold_published WHERE seq > (SELECT through_seq FROM fold_from);

-- Each finding's latest lifecycle row.
CREATE OR REPLACE TEMP TABLE fold_lifecycle AS
SELECT l.* FROM lifecycle_events l SEMI JOIN fold_audits USING (audit_id)
QUALIFY row_number() OVER (PARTITION BY l.finding_id ORDER BY l.seq DESC) = 1;
DELETE FROM lifecycle_latest WHERE finding_id IN (SELECT finding_id FROM fold_lifecycle);
INSERT INTO lifecycle_latest BY NAME SELECT * FROM fold_lifecycle;

-- Each finding's latest row, the audits it was in, its latest decision (who and when:
-- the latest known, as an audit after it may carry the decision without them). Without the
-- values compared (the four JSON columns, most of a row's bytes): see below.
CREATE OR REPLACE TEMP TABLE fold_rows AS
SELECT h.finding_id, a.seq, a.as_of, h.subject_kind, h.subject_id, h.run_id, h.workflow, h.system,
    h.mismatch_type, h.severity, h.repair_pattern,
    h.decision, h.decided_by, h.decided_at, h.first_seen_at, h.status
FROM findings_history h JOIN fold_audits a USING (audit_id);

CREATE OR REPLACE TEMP TABLE fold_findings AS
WITH folded AS (
    SELECT finding_id, count(*) AS audits_present,
        arg_max(decision, seq) FILTER (decision IS NOT NULL) AS decision,
        arg_max(decided_by, seq) FILTER (decision IS NOT NULL) AS decided_by,
        arg_max(decided_at, seq) FILTER (decision IS NOT NULL) AS decided_at
    FROM fold_rows GROUP BY finding_id
),
last_rows AS (
    SELECT * EXCLUDE (decision, decided_by, decided_at, first_seen_at, status) FROM fold_rows
    QUALIFY row_number() OVER (PARTITION BY finding_id ORDER BY seq DESC) = 1
)
SELECT r.*, coalesce(o.audits_present, 0) + n.audits_present AS audits_present,
    coalesce(n.decision, o.decision) AS decision, coalesce(n.decided_by, o.decided_by) AS decided_by,
    coalesce(n.decided_at, o.decided_at) AS decided_at
FROM last_rows r
JOIN folded n USING (finding_id)
LEFT JOIN finding_latest o USING (finding_id);
DELETE FROM finding_latest WHERE finding_id IN (SELECT finding_id FROM fold_findings);
INSERT INTO finding_latest BY NAME SELECT * FROM fold_findings;

-- The values compared are kept only for the findings this audit does not have:
-- stored_results.sql reads this audit's row for the others. (Writing every open finding's
-- values again each audit was about a quarter of this step's commit.) A row without them
-- (`evidence`, never NULL in a finding, is NULL) whose finding this audit lacks takes them
-- from its history row: a finding gone since the audit folded in, or dropped by a re-run of
-- the same audit under other rules or configuration.
UPDATE finding_latest l SET intended = v.intended, recorded = v.recorded, observed = v.observed, evidence = v.evidence
FROM (
    SELECT h.finding_id, h.intended, h.recorded, h.observed, h.evidence
    FROM findings_history h
    SEMI JOIN (
        SELECT l.finding_id, a.audit_id FROM finding_latest l JOIN audits a USING (seq)
        WHERE l.evidence IS NULL AND l.finding_id NOT IN (SELECT finding_id FROM findings)
    ) n ON h.finding_id = n.finding_id AND h.audit_id = n.audit_id
) v
WHERE l.finding_id = v.finding_id;

-- Each finding's earliest first sighting and its status in the latest audit that had it
-- (`finding_seen`, which the findings step reads; created there).
CREATE OR REPLACE TEMP TABLE fold_seen AS
SELECT finding_id, min(first_seen_at) AS first_seen_at, max(seq) AS seq, arg_max(status, seq) AS status
FROM (SELECT finding_id, first_seen_at, seq, status FROM fold_rows
      UNION ALL SELECT finding_id, first_seen_at, seq, status FROM finding_seen SEMI JOIN fold_rows USING (finding_id))
GROUP BY finding_id;
DELETE FROM finding_seen WHERE finding_id IN (SELECT finding_id FROM fold_seen);
INSERT INTO finding_seen BY NAME SELECT * FROM fold_seen;

-- Which prevention line each finding's rows count for (metrics.sql, `prevention_backlog`):
-- the workflow of the row, and the type, workflow and system of the finding's latest row
-- (this audit's if it has one: they choose the line). `finding_lines`: each finding's
-- pairs of them; `line_audits`: the audits that had a finding of each. When a finding's
-- latest workflow or system is no longer the one its earlier rows were counted under,
-- they are counted again from every audit before this one.
CREATE OR REPLACE TEMP TABLE fold_keys AS
SELECT finding_id, workflow, system FROM findings
UNION ALL SELECT finding_id, workflow, system FROM finding_latest ANTI JOIN findings USING (finding_id);

CREATE OR REPLACE TEMP TABLE lines_from AS
SELECT CASE WHEN EXISTS (SELECT 1 FROM finding_lines l JOIN fold_keys k USING (finding_id)
                         WHERE l.key_workflow IS DISTINCT FROM k.workflow OR l.key_system IS DISTINCT FROM k.system)
            THEN 0 ELSE (SELECT through_seq FROM fold_from) END AS through_seq;
DELETE FROM finding_lines WHERE (SELECT through_seq FROM lines_from) = 0;
DELETE FROM line_audits WHERE (SELECT through_seq FROM lines_from) = 0;

CREATE OR REPLACE TEMP TABLE fold_line_rows AS
WITH line_rows AS (
    SELECT finding_id, workflow, mismatch_type, seq FROM fold_rows
    UNION ALL  -- counted again: the audits already folded for the rest (none unless a key moved)
    SELECT h.finding_id, h.workflow, h.mismatch_type, p.seq
    FROM findings_history h
    JOIN (SELECT audit_id, seq FROM fold_published
          WHERE seq > (SELECT through_seq FROM lines_from) AND seq <= (SELECT through_seq FROM fold_from)) p
        USING (audit_id)
)
SELECT r.finding_id, coalesce(r.workflow, '(none)') AS wf, r.mismatch_type, k.workflow AS key_workflow,
    k.system AS key_system, r.seq
FROM line_rows r JOIN fold_keys k USING (finding_id);
INSERT INTO finding_lines
SELECT DISTINCT finding_id, wf, mismatch_type, key_workflow, key_system FROM fold_line_rows
EXCEPT SELECT * FROM finding_lines;
INSERT INTO line_audits
SELECT DISTINCT wf, mismatch_type, key_workflow, key_system, seq FROM fold_line_rows
EXCEPT SELECT * FROM line_audits;

INSERT INTO proposed_actions
SELECT DISTINCT h.finding_id, h.action_id, h.pattern, h.requires_approval
FROM repair_actions_history h SEMI JOIN fold_audits USING (audit_id)
EXCEPT SELECT * FROM proposed_actions;

DELETE FROM history_folded;
INSERT INTO history_folded
SELECT coalesce(max(seq), 0), published_digest(coalesce(max(seq), 0)) FROM fold_published;

DROP TABLE fold_published; DROP TABLE fold_from; DROP TABLE fold_audits; DROP TABLE fold_lifecycle;
DROP TABLE fold_rows; DROP TABLE fold_findings; DROP TABLE fold_seen; DROP TABLE fold_keys;
DROP TABLE lines_from; DROP TABLE fold_line_rows;
