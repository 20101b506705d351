-- layer: matches
-- depends_on: spill
-- scoped_tables: matches
-- description: Intent <-> effect pairs, by the strongest key first (TAXONOMY.md): the
--   claims of 60_claims.sql (1 correlation key, 2 target, 3 receipt), then 4 the
--   natural key. Only an intent's strongest tier counts (`is_primary`);
--   a weaker key pointing at another object stays here as evidence. Natural keys only
--   match objects that no intent claims by a stronger key (in the scope or outside it),
--   and a non-unique one only objects created within the system's `natural_key_window`
--   of the intent's declaration (a charge refunded again next month is another refund).
CREATE OR REPLACE TABLE scoped_matches AS
WITH unclaimed AS MATERIALIZED (
    -- First: most objects are claimed, and a shared natural key (an owner's address) would
    -- otherwise pair every intent with every object of its group before the anti-join.
    SELECT o.system, o.object_type, o.external_id, o.natural_key, o.created_at
    FROM observed o
    ANTI JOIN (SELECT system, external_id FROM scoped_claims UNION ALL SELECT system, external_id FROM claims_outside_scope) c
        ON c.system = o.system AND c.external_id = o.external_id
    WHERE o.natural_key IS NOT NULL
),
by_natural_key AS (
    SELECT i.run_id, i.intent_id, o.system, o.external_id, 4 AS strength
    FROM scoped_intended i
    JOIN unclaimed o ON o.system = i.system AND o.object_type = i.object_type AND o.natural_key = i.natural_key
        AND (i.natural_key_from IS NULL OR o.created_at BETWEEN i.natural_key_from AND i.natural_key_until)
),
pairs AS (
    SELECT run_id, intent_id, system, external_id,
        min(strength) AS strength,
        bool_or(strength = 1) AS by_correlation,
        bool_or(strength = 2) AS by_target,
        bool_or(strength = 3) AS by_receipt,
        bool_or(strength = 4) AS by_natural_key
    FROM (SELECT * FROM scoped_claims UNION ALL SELECT * FROM by_natural_key)
    GROUP BY run_id, intent_id, system, external_id
)
SELECT
    *,
    CASE strength WHEN 1 THEN 'correlation' WHEN 2 THEN 'target' WHEN 3 THEN 'receipt' ELSE 'natural_key' END AS matched_by,
    strength = min(strength) OVER (PARTITION BY intent_id) AS is_primary
FROM pairs;
