-- rule_id: R301
-- mismatch_type: orphan_effect
-- subject_kind: effect
-- severity: high
-- precedence: 1
-- repair: compensation if compensable else human_adjudication
-- duplicate_risk: high
-- next_action: find the run that made it; keep, attach or reverse it
-- prevention: declare every intent before acting, so that every effect has an intent to match
-- metric: orphan
-- description: An object carries the agent's correlation marker or was last written by the
--   agent, but matches no declared intent by any key.
-- An anti-join, not NOT EXISTS: DuckDB plans the correlated form as a mark join with
-- null-safe comparisons over every object.
SELECT o.system || ':' || o.external_id AS subject_id
FROM observed o
ANTI JOIN matches m ON m.system = o.system AND m.external_id = o.external_id
WHERE (len(o.correlation_keys) > 0 OR o.agent_last_writer)
  AND o.state <> 'deleted'
