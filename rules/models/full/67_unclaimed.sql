-- model: unclaimed (full audit)
-- builds: unclaimed
-- description: Every object with a natural key: every intent is in scope (and a pass of
--   an audit in buckets has no intents at hand, only every bucket's claims).
CREATE OR REPLACE TABLE internal.unclaimed AS
SELECT o.system, o.object_type, o.external_id, o.natural_key, o.created_at,
    CASE WHEN NOT s.natural_key_unique THEN epoch(o.created_at)::BIGINT // s.natural_key_window_seconds END AS slot
FROM observed o
JOIN cfg_systems s ON s.system = o.system
ANTI JOIN (SELECT system, external_id FROM scoped_claims UNION ALL SELECT system, external_id FROM claims_outside_scope) c
    ON c.system = o.system AND c.external_id = o.external_id
WHERE o.natural_key IS NOT NULL;
