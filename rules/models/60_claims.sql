-- model: claims
-- reads: observed, observed_keys, scoped_events, scoped_intended, scoped_recorded
-- builds: scoped_intent_keys, scoped_claims
-- scoped_tables: intent_keys, claims
-- description: The objects each intent claims by a key of its own, one row per tier that
--   links them (TAXONOMY.md): 1 a correlation key written into the object, 2 the update's
--   target (the latest the events name), 3 a recorded receipt (every one: two receipts of
--   two live objects are a duplicate). Ids are compared in the system's canonical form
--   (both sides are, since 20_observed, 40_intended and 50_recorded). An object can be
--   claimed only within the intent's `system` and `object_type`. `intent_keys` lists the
--   keys an intent may have written (on any of its events).
CREATE OR REPLACE TABLE internal.scoped_intent_keys AS
SELECT run_id, intent_id, intent_id AS key FROM scoped_intended
UNION
-- Any event of the intent may carry a key (a retry may carry a new one).
SELECT run_id, intent_id, idempotency_key FROM scoped_events WHERE intent_id IS NOT NULL AND idempotency_key IS NOT NULL;

CREATE OR REPLACE TABLE internal.scoped_claims AS
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
JOIN (SELECT intent_id, unnest(receipts) AS receipt FROM scoped_recorded) r USING (intent_id)
JOIN observed o ON o.system = i.system AND o.object_type = i.object_type AND o.external_id = r.receipt;
