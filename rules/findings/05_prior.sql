-- step: what the audits before this one saw
-- description: The findings of the published audits before this one (by `seq`), as the
--   findings step needs them. `prior_seen`: for each finding any of them had, its earliest
--   `first_seen_at` and its `status` in the previous audit (NULL when it was not in it),
--   for `first_seen_at` and `lifecycle_status`. `prior_findings`: their rows' detection
--   time and state hash, for the evidence an operator's decision was made on (read only
--   for the findings that have a decision).
--   `prior_seen` reads `finding_seen`, which the metrics step folds (reports/history_fold.sql)
--   through the audit `history_folded` names, and only the rows of the audits published
--   since (normally one: the previous audit); it reads every audit before this one when
--   the fold does not hold for them (as there: this audit is one of those folded, or they
--   changed outside an audit). `prior_rows` is `findings_history` (its columns read here),
--   empty on a first audit (reckon/engine.py).
CREATE TABLE IF NOT EXISTS internal.history_folded (through_seq BIGINT, audits_digest VARCHAR);
CREATE TABLE IF NOT EXISTS internal.finding_seen (
    finding_id VARCHAR, first_seen_at TIMESTAMPTZ, seq BIGINT, status VARCHAR
);

-- The published audits up to `through`, as the fold records them: a digest of each one's
-- id and finish time, in order (reports/history_fold.sql writes it with `history_folded`).
CREATE OR REPLACE MACRO internal.published_digest(through) AS (
    SELECT md5(string_agg(a.audit_id || '@' || coalesce(epoch_us(a.finished_at)::VARCHAR, ''), ',' ORDER BY a.seq))
    FROM audits a WHERE a.seq <= through
);

-- Up to which audit the fold holds: 0 (read every audit) unless `history_folded` names an
-- audit before this one and those audits are still the published ones, unchanged. The
-- fold starts from the same audit.
CREATE OR REPLACE MACRO internal.folded_through() AS TABLE
SELECT coalesce(max(through_seq), 0) AS through_seq
FROM history_folded
WHERE through_seq < (SELECT seq FROM audit_context)
  AND audits_digest IS NOT DISTINCT FROM published_digest(through_seq);

CREATE OR REPLACE TEMP TABLE prior_audits AS
SELECT audit_id, seq FROM audits WHERE seq < (SELECT seq FROM audit_context);

CREATE OR REPLACE TEMP TABLE prior_folded AS SELECT * FROM folded_through();

CREATE OR REPLACE TEMP VIEW prior_findings AS
SELECT h.finding_id, h.detected_at, h.state_hash FROM prior_rows h SEMI JOIN prior_audits USING (audit_id);

CREATE OR REPLACE TEMP TABLE prior_seen AS
WITH seen AS (
    SELECT finding_id, first_seen_at, seq, status FROM finding_seen
    WHERE (SELECT through_seq FROM prior_folded) > 0
    UNION ALL
    SELECT h.finding_id, h.first_seen_at, p.seq, h.status
    FROM prior_rows h
    JOIN (SELECT audit_id, seq FROM prior_audits WHERE seq > (SELECT through_seq FROM prior_folded)) p USING (audit_id)
)
SELECT finding_id, min(first_seen_at) AS first_seen_at,
    CASE WHEN max(seq) = (SELECT max(seq) FROM prior_audits) THEN arg_max(status, seq) END AS previous_status
FROM seen
GROUP BY finding_id;

DROP TABLE prior_folded;
