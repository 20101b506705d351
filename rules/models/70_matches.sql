-- model: matches
-- reads: cfg_systems, scoped_claims, scoped_intended, unclaimed
-- builds: scoped_matches
-- scoped_tables: matches
-- description: Intent <-> effect pairs, by the strongest key first (TAXONOMY.md): the
--   claims of 60_claims.sql (1 correlation key, 2 target, 3 receipt), then 4 the
--   natural key. Only an intent's strongest tier counts (`is_primary`);
--   a weaker key pointing at another object stays here as evidence. Natural keys only
--   match objects that no intent claims by a stronger key (`unclaimed`, 67_unclaimed.sql),
--   and a non-unique one only objects created within the system's `natural_key_window`
--   of the intent's declaration (a charge refunded again next month is another refund).
CREATE OR REPLACE TABLE scoped_matches AS
WITH probes AS (
    -- An object within the window was created in the intent's slot or one either side:
    -- joining on the slot too keeps a busy shared key from pairing every intent with every
    -- object of its group over all history. A unique key has no window and one probe.
    SELECT i.run_id, i.intent_id, i.system, i.object_type, i.natural_key, i.natural_key_from, i.natural_key_until,
        epoch(i.declared_at)::BIGINT // s.natural_key_window_seconds + d.delta AS slot
    FROM scoped_intended i
    JOIN cfg_systems s ON s.system = i.system
    CROSS JOIN (VALUES (-1), (0), (1)) d(delta)
    WHERE i.natural_key IS NOT NULL AND (i.natural_key_from IS NOT NULL OR d.delta = 0)
),
by_natural_key AS (
    SELECT i.run_id, i.intent_id, o.system, o.external_id, 4 AS strength
    FROM probes i
    JOIN unclaimed o ON o.system = i.system AND o.object_type = i.object_type AND o.natural_key = i.natural_key
        AND o.slot IS NOT DISTINCT FROM (CASE WHEN i.natural_key_from IS NOT NULL THEN i.slot END)
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
