-- layer: spill
-- depends_on: claims
-- full_mode: full/65_spill.sql
-- table: spill_runs
-- description: Runs outside the scope that a natural-key group couples to it. A natural
--   key matches only objects no intent claims (60_claims.sql), and a unique key's owner is
--   decided over the group's live objects, so an intent's rows also change when its group
--   gains, loses or changes such a candidate within its natural-key window: an object
--   whose claim came or went, or a changed object that is (or was) unclaimed; and, for a
--   unique key, when any object of the group changed. Those runs have no new events and no changed object of their own, so their
--   intended, recorded and claims rows are the kept ones: copied into the scoped tables;
--   70_matches.sql onwards recomputes the rest.
CREATE OR REPLACE TEMP TABLE claimed_before AS SELECT DISTINCT system, external_id FROM claims;
CREATE OR REPLACE TEMP TABLE claimed_now AS
SELECT system, external_id FROM claims_outside_scope
UNION SELECT system, external_id FROM scoped_claims;

CREATE OR REPLACE TABLE spill_runs AS
WITH claim_changed AS (
    (SELECT * FROM claimed_before EXCEPT SELECT * FROM claimed_now)
    UNION ALL
    (SELECT * FROM claimed_now EXCEPT SELECT * FROM claimed_before)
),
-- Candidates gained, lost or changed: (system, natural key, creation time).
touched AS (
    SELECT o.system, o.natural_key, o.created_at FROM observed o
    SEMI JOIN claim_changed x ON x.system = o.system AND x.external_id = o.external_id
    UNION ALL
    SELECT c.system, c.natural_key, c.created_at FROM changed_objects c
    ANTI JOIN claimed_before b ON b.system = c.system AND b.external_id = c.external_id
    WHERE c.version = 'before'
    UNION ALL
    SELECT c.system, c.natural_key, c.created_at FROM changed_objects c
    ANTI JOIN claimed_now n ON n.system = c.system AND n.external_id = c.external_id
    WHERE c.version = 'after'
),
-- Unique keys: every live object of the group decides its owner.
owner_groups AS (
    SELECT DISTINCT c.system, c.natural_key FROM changed_objects c
    JOIN cfg_systems s ON s.system = c.system AND s.natural_key_unique
    WHERE c.natural_key IS NOT NULL
)
SELECT run_id FROM (
    SELECT i.run_id FROM intended i
    JOIN touched t ON t.system = i.system AND t.natural_key = i.natural_key
    WHERE i.natural_key_from IS NULL OR t.created_at BETWEEN i.natural_key_from AND i.natural_key_until
    UNION
    SELECT m.run_id FROM matches m
    SEMI JOIN (SELECT o.system, o.external_id FROM observed o
               SEMI JOIN owner_groups g ON g.system = o.system AND g.natural_key = o.natural_key) g
        ON g.system = m.system AND g.external_id = m.external_id
)
ANTI JOIN scope_runs USING (run_id);

INSERT INTO scope_runs SELECT run_id FROM spill_runs;
INSERT INTO scoped_intended SELECT * FROM intended SEMI JOIN spill_runs USING (run_id);
INSERT INTO scoped_recorded SELECT * FROM recorded SEMI JOIN spill_runs USING (run_id);
INSERT INTO scoped_recorded_runs SELECT * FROM recorded_runs SEMI JOIN spill_runs USING (run_id);
INSERT INTO scoped_intent_keys SELECT * FROM intent_keys SEMI JOIN spill_runs USING (run_id);
INSERT INTO scoped_claims SELECT * FROM claims SEMI JOIN spill_runs USING (run_id);
DROP TABLE claimed_before;
DROP TABLE claimed_now;
