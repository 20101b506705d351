-- model: coupled
-- reads: cfg_systems, changed_objects, observed, scope_runs, scoped_claims
-- kept: claims, intended, intent_keys, matches, recorded, recorded_reasons, recorded_runs
-- builds: coupled_runs, scope_runs, scoped_intended, scoped_recorded, scoped_recorded_runs, scoped_recorded_reasons, scoped_intent_keys, scoped_claims
-- full_mode: full/65_coupled.sql
-- table: coupled_runs
-- description: Runs outside the scope that a natural-key group couples to it. A natural
--   key matches only objects no intent claims (60_claims.sql), and a unique key's owner is
--   decided over the group's live objects, so an intent's rows also change when its group
--   gains, loses or changes such a candidate within its natural-key window: an object
--   whose claim came or went, or a changed object that is (or was) unclaimed; and, for a
--   unique key, when any object of the group changed. Those runs have no new events and no changed object of their own, so their
--   intended, recorded (with its reasons) and claims rows are the kept ones: copied into the scoped tables;
--   70_matches.sql onwards recomputes the rest.
-- Whether an object was claimed before this audit and is now. Only objects the scope
-- claimed (before or now) or that changed can differ, so only those are looked up.
CREATE OR REPLACE TEMP TABLE claim_status AS
WITH candidates AS (
    SELECT system, external_id FROM claims SEMI JOIN scope_runs USING (run_id)
    UNION SELECT system, external_id FROM scoped_claims
    UNION SELECT system, external_id FROM changed_objects
),
-- One pass over the kept claims of the candidates: by any run, and by runs outside the scope.
kept AS (
    SELECT k.system, k.external_id, count(*) FILTER (s.run_id IS NULL) AS outside
    FROM claims k
    SEMI JOIN candidates c ON c.system = k.system AND c.external_id = k.external_id
    LEFT JOIN scope_runs s ON s.run_id = k.run_id
    GROUP BY k.system, k.external_id
)
SELECT c.system, c.external_id,
    k.system IS NOT NULL AS claimed_before,
    coalesce(k.outside, 0) > 0
        OR EXISTS (SELECT 1 FROM scoped_claims n WHERE n.system = c.system AND n.external_id = c.external_id)
        AS claimed_now
FROM candidates c
LEFT JOIN kept k ON k.system = c.system AND k.external_id = c.external_id;

CREATE OR REPLACE TABLE internal.coupled_runs AS
WITH claim_changed AS (
    SELECT system, external_id FROM claim_status WHERE claimed_before <> claimed_now
),
-- Candidates gained, lost or changed: (system, natural key, creation time).
touched AS (
    SELECT o.system, o.natural_key, o.created_at FROM observed o
    SEMI JOIN claim_changed x ON x.system = o.system AND x.external_id = o.external_id
    UNION ALL
    SELECT c.system, c.natural_key, c.created_at FROM changed_objects c
    JOIN claim_status x ON x.system = c.system AND x.external_id = c.external_id
    WHERE (c.version = 'before' AND NOT x.claimed_before) OR (c.version = 'after' AND NOT x.claimed_now)
),
-- Unique keys: every live object of the group decides its owner.
owner_groups AS (
    SELECT DISTINCT c.system, c.natural_key FROM changed_objects c
    JOIN cfg_systems s ON s.system = c.system AND s.natural_key_unique
    WHERE c.natural_key IS NOT NULL
),
-- The intents of the touched natural keys. A key can be shared by many intents (one
-- owner's notifications: 26,000 intents at 10M) and touched hundreds of times a day, so
-- pairing each intent with each touched candidate of its key made 14.7M pairs at 10M.
keyed AS MATERIALIZED (
    SELECT i.run_id, i.system, i.natural_key, i.natural_key_from, i.natural_key_until FROM intended i
    SEMI JOIN (SELECT DISTINCT system, natural_key FROM touched) k
        ON k.system = i.system AND k.natural_key = i.natural_key
)
SELECT run_id FROM (
    SELECT run_id FROM keyed WHERE natural_key_from IS NULL
    UNION
    -- A window holds a candidate if the first one created at or after its start is within
    -- it: the ASOF join pairs each intent with that one only.
    SELECT k.run_id FROM keyed k
    ASOF JOIN touched t ON t.system = k.system AND t.natural_key = k.natural_key AND t.created_at >= k.natural_key_from
    WHERE t.created_at <= k.natural_key_until
    UNION
    SELECT m.run_id FROM matches m
    SEMI JOIN (SELECT o.system, o.external_id FROM observed o
               SEMI JOIN owner_groups g ON g.system = o.system AND g.natural_key = o.natural_key) g
        ON g.system = m.system AND g.external_id = m.external_id
)
ANTI JOIN scope_runs USING (run_id);

INSERT INTO scope_runs SELECT run_id FROM coupled_runs;
-- Their kept rows, fetched by row id as the scope's events are (30_scope.sql): the runs a
-- day couples were mostly recomputed lately, and a commit appends the rows it recomputes,
-- so the wide reads touch few row groups.
INSERT INTO scoped_intended SELECT * FROM intended
SEMI JOIN (SELECT rowid AS row_id FROM intended WHERE run_id IN (SELECT run_id FROM coupled_runs)) k ON intended.rowid = k.row_id;
INSERT INTO scoped_recorded SELECT * FROM recorded
SEMI JOIN (SELECT rowid AS row_id FROM recorded WHERE run_id IN (SELECT run_id FROM coupled_runs)) k ON recorded.rowid = k.row_id;
INSERT INTO scoped_recorded_runs SELECT * FROM recorded_runs
SEMI JOIN (SELECT rowid AS row_id FROM recorded_runs WHERE run_id IN (SELECT run_id FROM coupled_runs)) k ON recorded_runs.rowid = k.row_id;
INSERT INTO scoped_recorded_reasons SELECT * FROM recorded_reasons
SEMI JOIN (SELECT rowid AS row_id FROM recorded_reasons WHERE run_id IN (SELECT run_id FROM coupled_runs)) k ON recorded_reasons.rowid = k.row_id;
INSERT INTO scoped_intent_keys SELECT * FROM intent_keys
SEMI JOIN (SELECT rowid AS row_id FROM intent_keys WHERE run_id IN (SELECT run_id FROM coupled_runs)) k ON intent_keys.rowid = k.row_id;
INSERT INTO scoped_claims SELECT * FROM claims
SEMI JOIN (SELECT rowid AS row_id FROM claims WHERE run_id IN (SELECT run_id FROM coupled_runs)) k ON claims.rowid = k.row_id;
DROP TABLE claim_status;
