-- layer: matches
-- depends_on: recorded, observed
-- scoped_tables: intent_keys, matches
-- description: Intent <-> effect pairs, by the strongest key first (TAXONOMY.md):
--   1 correlation key written into the object, 2 the update's target, 3 the recorded
--   receipt, 4 the natural key. Only an intent's strongest tier counts (`is_primary`);
--   a weaker key pointing at another object stays here as evidence. Natural keys only
--   match objects that no intent claims by a stronger key (in the scope or outside it).
CREATE OR REPLACE TABLE scoped_intent_keys AS
SELECT run_id, intent_id, intent_id AS key FROM scoped_intended
UNION
SELECT run_id, intent_id, idempotency_key FROM scoped_intended WHERE idempotency_key IS NOT NULL
UNION
-- A retry may carry a new idempotency key on its attempt event.
SELECT run_id, intent_id, idempotency_key FROM scoped_events WHERE intent_id IS NOT NULL AND idempotency_key IS NOT NULL;

CREATE OR REPLACE TABLE scoped_matches AS
WITH strong AS (
    SELECT i.run_id, i.intent_id, o.system, o.external_id, 1 AS strength
    FROM scoped_intended i
    JOIN scoped_intent_keys k USING (intent_id)
    JOIN observed_keys ok ON ok.key = k.key AND ok.system = i.system
    JOIN observed o ON o.system = ok.system AND o.external_id = ok.external_id AND o.object_type = i.object_type
    UNION ALL
    SELECT i.run_id, i.intent_id, o.system, o.external_id, 2
    FROM scoped_intended i
    JOIN observed o ON o.system = i.system AND o.object_type = i.object_type AND o.external_id = i.target_key
    UNION ALL
    SELECT i.run_id, i.intent_id, o.system, o.external_id, 3
    FROM scoped_intended i
    JOIN scoped_recorded r USING (intent_id)
    JOIN observed o ON o.system = i.system AND o.object_type = i.object_type AND o.external_id = r.receipt_external_id
),
by_natural_key AS (
    SELECT i.run_id, i.intent_id, o.system, o.external_id, 4 AS strength
    FROM scoped_intended i
    JOIN observed o ON o.system = i.system AND o.object_type = i.object_type AND o.natural_key = i.natural_key
    ANTI JOIN (SELECT system, external_id FROM strong UNION ALL SELECT system, external_id FROM claims_outside_scope) c
        ON c.system = o.system AND c.external_id = o.external_id
),
pairs AS (
    SELECT run_id, intent_id, system, external_id,
        min(strength) AS strength,
        bool_or(strength = 1) AS by_correlation,
        bool_or(strength = 2) AS by_target,
        bool_or(strength = 3) AS by_receipt,
        bool_or(strength = 4) AS by_natural_key
    FROM (SELECT * FROM strong UNION ALL SELECT * FROM by_natural_key)
    GROUP BY run_id, intent_id, system, external_id
)
SELECT
    *,
    CASE strength WHEN 1 THEN 'correlation' WHEN 2 THEN 'target' WHEN 3 THEN 'receipt' ELSE 'natural_key' END AS matched_by,
    strength = min(strength) OVER (PARTITION BY intent_id) AS is_primary
FROM pairs;
