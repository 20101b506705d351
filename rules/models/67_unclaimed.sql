-- model: unclaimed
-- reads: cfg_systems, claims_outside_scope, observed, scoped_claims
-- builds: unclaimed
-- description: The objects a natural key may match (70_matches.sql): those with a natural
--   key that no intent claims by a stronger key (in the scope or outside it). `slot`
--   numbers the window-long stretch of time the object was created in (none for a unique
--   key). The audit's bookkeeping, dropped at its commit; an audit in buckets computes it
--   once, one slice of the objects per pass, after every bucket's claims
--   (reckon/buckets.py), and every matches pass reads it. Apart and first: most objects
--   are claimed, and a shared natural key (an owner's address) would otherwise pair every
--   intent with every object of its group before the anti-join.
CREATE OR REPLACE TABLE internal.unclaimed AS
SELECT o.system, o.object_type, o.external_id, o.natural_key, o.created_at,
    CASE WHEN NOT s.natural_key_unique THEN epoch(o.created_at)::BIGINT // s.natural_key_window_seconds END AS slot
FROM observed o
JOIN cfg_systems s ON s.system = o.system
ANTI JOIN (SELECT system, external_id FROM scoped_claims UNION ALL SELECT system, external_id FROM claims_outside_scope) c
    ON c.system = o.system AND c.external_id = o.external_id
WHERE o.natural_key IS NOT NULL;
