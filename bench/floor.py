"""The floor: the least work any audit of these snapshots must do, in one hand-written pass.

One DuckDB query over the same snapshot Parquet files the audit read:
- recorded state and intents in one `GROUP BY intent_id` over all events (the intent's
  declared system, run, expected values; its latest outcome by time; its receipt);
- observed state: the latest version per (system, external_id), its correlation keys
  unnested and counted per key;
- one join intents ⋈ observed on (system, key) with a CASE classification into a
  handful of mismatch types (duplicate_effect, effect_failed, receipt_missing,
  attempt_lost, phantom_receipt, field_drift, ok),
written to a table. It runs with the audit's DuckDB settings (threads, memory limit,
spill directory, no insertion order) in a database file of its own.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from bench.probes import cpu_seconds
from reckon.database import apply_settings, session_settings
from reckon.snapshots import list_snapshots
from reckon.workspace import Workspace

FLOOR_DB = "bench-floor.duckdb"

FLOOR_SQL = """
CREATE OR REPLACE TABLE floor_findings AS
WITH intents AS (
    SELECT
        intent_id,
        any_value(run_id) AS run_id,
        any_value(system) FILTER (type = 'intent.declared') AS system,
        any_value(expected) FILTER (type = 'intent.declared') AS expected,
        arg_max(CASE type
                    WHEN 'action.attempted' THEN 'attempted'
                    WHEN 'action.timed_out' THEN 'timed_out'
                    WHEN 'action.failed' THEN 'failed'
                    WHEN 'action.succeeded' THEN 'succeeded'
                    WHEN 'receipt.recorded' THEN 'succeeded'
                END, ts) FILTER (type <> 'intent.declared') AS outcome,
        arg_max(receipt_external_id, ts) FILTER (receipt_external_id IS NOT NULL) AS receipt
    FROM read_parquet({events})
    WHERE intent_id IS NOT NULL
    GROUP BY intent_id
),
objects AS (
    SELECT system, external_id,
        arg_max(state, coalesce(updated_at, observed_at)) AS state,
        arg_max(correlation_keys, coalesce(updated_at, observed_at)) AS keys,
        arg_max(fields, coalesce(updated_at, observed_at)) AS fields
    FROM read_parquet({observed})
    GROUP BY system, external_id
),
by_key AS (
    SELECT system, key,
        count(*) FILTER (state IN ('success', 'pending')) AS n_live,
        count(*) FILTER (state = 'success') AS n_success,
        count(*) FILTER (state = 'failed') AS n_failed,
        any_value(fields) FILTER (state = 'success') AS fields
    FROM (SELECT system, state, fields, unnest(keys) AS key FROM objects)
    GROUP BY system, key
)
SELECT i.intent_id, i.run_id, i.system, coalesce(i.outcome, 'not_started') AS outcome,
    CASE
        WHEN k.n_live >= 2 THEN 'duplicate_effect'
        WHEN k.n_failed > 0 AND k.n_success = 0 AND i.outcome = 'succeeded' THEN 'effect_failed'
        WHEN k.n_success = 1 AND coalesce(i.outcome, 'not_started') <> 'succeeded' THEN 'receipt_missing'
        WHEN k.key IS NULL AND i.outcome IN ('attempted', 'timed_out') THEN 'attempt_lost'
        WHEN k.key IS NULL AND i.receipt IS NOT NULL THEN 'phantom_receipt'
        WHEN k.n_success = 1 AND list_bool_or(list_transform(json_keys(i.expected),
                 lambda f: (i.expected ->> f) IS DISTINCT FROM (k.fields ->> f))) THEN 'field_drift'
        ELSE 'ok'
    END AS mismatch_type
FROM intents i
LEFT JOIN by_key k ON k.system = i.system AND k.key = i.intent_id
"""


def floor_sql(events: list[Path], observed: list[Path]) -> str:
    def paths(files: list[Path]) -> str:
        return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"

    return FLOOR_SQL.format(events=paths(events), observed=paths(observed))


def run_floor(ws: Workspace) -> dict:
    """Run the floor over the workspace's snapshots; wall/CPU seconds and counts by type."""
    snapshots = list_snapshots(ws)
    events = [s.data_file for s in snapshots if s.layer == "workflow"]
    observed = [s.data_file for s in snapshots if s.layer == "observed"]
    db = ws.root / FLOOR_DB
    for leftover in (db, db.with_name(db.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        apply_settings(con, {**session_settings(ws), "enable_progress_bar": False})
        sql = floor_sql(events, observed)
        wall, cpu = time.perf_counter(), cpu_seconds()
        con.execute(sql).fetchall()
        con.execute("CHECKPOINT").fetchall()
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        by_type = dict(con.execute(
            "SELECT mismatch_type, count(*) FROM floor_findings GROUP BY ALL ORDER BY 1"
        ).fetchall())
    finally:
        con.close()
    return {"wall": wall, "cpu": cpu, "rows": sum(by_type.values()), "by_type": by_type}
