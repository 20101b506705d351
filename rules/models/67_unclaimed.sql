-- model: unclaimed
-- reads: cfg_systems, claims_outside_scope, observed, scoped_claims, scoped_intended
-- builds: unclaimed
-- full_mode: full/67_unclaimed.sql
-- description: The objects a natural key may match (70_matches.sql): those with a natural
--   key that no intent claims by a stronger key (in the scope or outside it). `slot`
--   numbers the window-long stretch of time the object was created in (none for a unique
--   key). The audit's bookkeeping, dropped at its commit. Apart and first: most objects
--   are claimed, and a shared natural key (an owner's address) would otherwise pair every
--   intent with every object of its group before the anti-join. An incremental audit
--   takes only the objects of the natural keys its scope's intents have: 70_matches.sql
--   joins on nothing else, and hashing a day's few objects, not every one, is most of
--   the saving. A full audit takes every object (full/67_unclaimed.sql), where the
--   semi-join over every intent would cost more than it spares; so does an audit in
--   buckets, which computes it once, one slice of the objects per pass, after every
--   bucket's claims (reckon/buckets.py), and every matches pass reads it.
CREATE OR REPLACE TABLE internal.unclaimed AS
SELECT o.system, o.object_type, o.external_id, o.natural_key, o.created_at,
    CASE WHEN NOT s.natural_key_unique THEN epoch(o.created_at)::BIGINT // s.natural_key_window_seconds END AS slot
FROM observed o
JOIN cfg_systems s ON s.system = o.system
SEMI JOIN (SELECT DISTINCT system, object_type, natural_key FROM scoped_intended WHERE natural_key IS NOT NULL) k
    ON k.system = o.system AND k.object_type = o.object_type AND k.natural_key = o.natural_key
ANTI JOIN (SELECT system, external_id FROM scoped_claims UNION ALL SELECT system, external_id FROM claims_outside_scope) c
    ON c.system = o.system AND c.external_id = o.external_id
WHERE o.natural_key IS NOT NULL;
