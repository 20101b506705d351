"""The audit, step by step. The Dagster assets and the CLI both call these functions.

connectors -> snapshots (ingest) -> layers -> findings -> repair plan / metrics -> publish.
All state between steps lives in the workspace's DuckDB file, so each step can run
in its own Dagster asset, one after the other, without passing data in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors import CONNECTORS
from connectors.base import QuarantineSink
from reckon import decisions
from reckon.config import Config
from reckon.snapshots import Snapshot, list_snapshots, take_snapshot
from reckon.workspace import Workspace
from rules import FINDINGS_DIR, REPAIRS_DIR, Layer, load_layers, load_rules, sql_scripts

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"


READ_COPY = "reckon-read.duckdb"
AUDITS_DDL = """
CREATE TABLE IF NOT EXISTS audits (
    audit_id VARCHAR PRIMARY KEY, as_of TIMESTAMPTZ, log_observed_at TIMESTAMPTZ,
    snapshot_ids VARCHAR[], runs BIGINT, intents BIGINT, observed_objects BIGINT,
    findings BIGINT, repair_actions BIGINT, quarantined BIGINT, sources VARCHAR,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ)
"""


@contextmanager
def connect(ws: Workspace, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the workspace database with explicit resource limits."""
    ws.root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(ws.database), read_only=read_only)
    try:
        pol = ws.config.policies
        temp = ws.root / ".duckdb_tmp"
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{pol.memory_limit}'")
        con.execute(f"SET threads = {int(pol.threads)}")
        con.execute(f"SET temp_directory = '{temp}'")
        con.execute("SET preserve_insertion_order = false")
        # Rules are SQL files anyone may add: they read and write inside the workspace only,
        # and cannot change these settings back.
        con.execute("SET allowed_directories = ?", [[str(ws.root) + "/"]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()


def run_script(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(path.read_text(encoding="utf-8"))


# --- step 1: snapshots -----------------------------------------------------


def ingest(ws: Workspace, source_name: str) -> Snapshot | None:
    """Snapshot one source's new landing files (None when nothing changed)."""
    source = next(s for s in ws.config.sources if s.name == source_name)
    return take_snapshot(ws, source)


def audit_identity(snapshots: list[Snapshot], decisions_digest: str = "") -> tuple[str, datetime]:
    """The audit id hashes the snapshot set and the operator decisions; "now" is the newest
    export time, not the wall clock."""
    ids = sorted(s.snapshot_id for s in snapshots)
    audit_id = "aud_" + hashlib.sha256("|".join([*ids, decisions_digest]).encode()).hexdigest()[:20]
    as_of = max((datetime.fromisoformat(s.observed_at) for s in snapshots), default=datetime(1970, 1, 1, tzinfo=UTC))
    return audit_id, as_of


# --- step 2: layers --------------------------------------------------------


def prepare(con: duckdb.DuckDBPyConnection, ws: Workspace) -> str:
    """Register the audit's inputs: config tables, snapshot views, audit context."""
    con.execute("BEGIN")
    audit_id = register_inputs(con, ws.config, list_snapshots(ws), ws.root)
    con.execute("COMMIT")
    return audit_id


def register_inputs(con: duckdb.DuckDBPyConnection, cfg: Config, snapshots: list[Snapshot], root: Path) -> str:
    """Config tables, the snapshot catalog and views, and the audit's identity."""
    sink = QuarantineSink(decisions.SOURCE)
    _arrow_table(con, "decisions", decisions.load_decisions(root, sink))
    audit_id, as_of = audit_identity(snapshots, decisions.digest(root))
    _table(con, "cfg_systems", [
        {"system": s.name, "object_type": s.object_type, "natural_key": s.natural_key,
         "natural_key_unique": s.natural_key_unique, "settle_seconds": int(s.settle_window.total_seconds()),
         "agent_actors": s.agent_actors, "idempotency_ttl_seconds": int(s.idempotency_ttl.total_seconds())}
        for s in cfg.systems.values()
    ], pa.schema([("system", pa.string()), ("object_type", pa.string()), ("natural_key", pa.list_(pa.string())),
                  ("natural_key_unique", pa.bool_()), ("settle_seconds", pa.int64()),
                  ("agent_actors", pa.list_(pa.string())), ("idempotency_ttl_seconds", pa.int64())]))
    _table(con, "cfg_workflows", [
        {"workflow": w.name, "completion_window_seconds": int(w.completion_window.total_seconds())}
        for w in cfg.workflows.values()
    ], pa.schema([("workflow", pa.string()), ("completion_window_seconds", pa.int64())]))
    _table(con, "cfg_steps", [
        {"workflow": w.name, "step": s.name, "action": s.action, "system": s.system, "required": s.required,
         "reversible": s.reversible, "compensation": s.compensation, "safe_to_retry": s.safe_to_retry,
         "step_order": s.order}
        for w in cfg.workflows.values() for s in w.steps
    ], pa.schema([("workflow", pa.string()), ("step", pa.string()), ("action", pa.string()), ("system", pa.string()),
                  ("required", pa.bool_()), ("reversible", pa.bool_()), ("compensation", pa.string()),
                  ("safe_to_retry", pa.bool_()), ("step_order", pa.int32())]))
    pol = cfg.policies
    _table(con, "cfg_policies", [
        {"quarantine_max_share": pol.quarantine_max_share, "compensate_orphans": pol.compensate_orphans,
         "minutes_per_operator_task": pol.minutes_per_operator_task, "approval_required": list(pol.approval_required),
         "repeated_drift_audits": pol.repeated_drift_audits}
    ], pa.schema([("quarantine_max_share", pa.float64()), ("compensate_orphans", pa.bool_()),
                  ("minutes_per_operator_task", pa.float64()), ("approval_required", pa.list_(pa.string())),
                  ("repeated_drift_audits", pa.int64())]))
    _table(con, "cfg_snapshots", [
        {"snapshot_id": s.snapshot_id, "source": s.source, "connector": s.connector, "layer": s.layer,
         "system": s.system, "observed_at": datetime.fromisoformat(s.observed_at), "rows": s.rows,
         "quarantined": s.quarantined, "path": str(s.folder.relative_to(root))}
        for s in snapshots
    ], pa.schema([("snapshot_id", pa.string()), ("source", pa.string()), ("connector", pa.string()),
                  ("layer", pa.string()), ("system", pa.string()), ("observed_at", pa.timestamp("us", tz="UTC")),
                  ("rows", pa.int64()), ("quarantined", pa.int64()), ("path", pa.string())]))
    log_times = [datetime.fromisoformat(s.observed_at) for s in snapshots if s.layer == "workflow"]
    con.execute(AUDITS_DDL)
    con.execute(
        "CREATE OR REPLACE TABLE audit_context AS SELECT ?::VARCHAR AS audit_id, ?::TIMESTAMPTZ AS as_of, "
        "?::TIMESTAMPTZ AS log_observed_at",
        [audit_id, as_of, max(log_times) if log_times else None],
    )
    for layer in ("workflow", "observed"):
        files = [s.data_file for s in snapshots if s.layer == layer]
        name = "raw_events" if layer == "workflow" else "raw_observed"
        schema = next(c.schema for c in CONNECTORS.values() if c.layer == layer)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {_parquet_or_empty(files, schema)}")
    _arrow_table(con, "rejected_decisions", sink.table())
    quarantine = [s.quarantine_file for s in snapshots]
    con.execute(
        "CREATE OR REPLACE TABLE quarantine AS SELECT *, NULL::VARCHAR AS snapshot_id FROM rejected_decisions"
        + (f" UNION ALL BY NAME SELECT * FROM read_parquet({_paths(quarantine)}, union_by_name = true, "
           "hive_partitioning = false)" if quarantine else "")
    )
    return audit_id


LAYERS = load_layers()


def build_layer(con: duckdb.DuckDBPyConnection, layer: Layer) -> int:
    """Run one layer script (rules/layers/); returns the layer's row count."""
    con.execute("BEGIN")
    run_script(con, layer.path)
    con.execute("COMMIT")
    return con.execute(f"SELECT count(*) FROM {layer.name}").fetchone()[0]


# --- step 3: findings ------------------------------------------------------


def detect_findings(con: duckdb.DuckDBPyConnection) -> int:
    """Run every mismatch rule; keep one primary finding per subject by precedence."""
    rules = load_rules()
    by_kind = {kind: [r for r in rules if r.subject_kind == kind] for kind in ("intent", "run", "effect")}
    con.execute("BEGIN")
    run_script(con, REPAIRS_DIR / "10_patterns.sql")
    _hits(con, "intent_hits", by_kind["intent"])
    # Run-level rules read the intents' primary findings (false_completion does).
    con.execute(
        "CREATE OR REPLACE TABLE intent_findings AS SELECT h.*, i.run_id FROM intent_hits h "
        "JOIN intended i ON i.intent_id = h.subject_id "
        "QUALIFY row_number() OVER (PARTITION BY subject_id ORDER BY precedence, rule_id) = 1"
    )
    _hits(con, "other_hits", by_kind["run"] + by_kind["effect"])
    con.execute("CREATE OR REPLACE TABLE rule_hits AS SELECT * FROM intent_hits UNION ALL SELECT * FROM other_hits")
    con.execute(
        "CREATE OR REPLACE TABLE prior_first_seen AS "
        + ("SELECT finding_id, min(first_seen_at) AS first_seen_at FROM findings_history GROUP BY finding_id"
           if _exists(con, "findings_history") else
           "SELECT NULL::VARCHAR AS finding_id, NULL::TIMESTAMPTZ AS first_seen_at WHERE false")
    )
    for path in sql_scripts(FINDINGS_DIR):
        run_script(con, path)
    con.execute("DROP TABLE intent_hits; DROP TABLE other_hits; DROP TABLE prior_first_seen")
    con.execute("CREATE TABLE IF NOT EXISTS findings_history AS SELECT * FROM findings WHERE false")
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM findings").fetchone()[0]


def _hits(con: duckdb.DuckDBPyConnection, table: str, rules: list) -> None:
    if rules:
        body = "\nUNION ALL\n".join(r.hits_sql() for r in rules)
    else:
        body = ("SELECT NULL::VARCHAR rule_id, NULL::VARCHAR mismatch_type, NULL::VARCHAR subject_kind, "
                "NULL::VARCHAR severity, NULL::INTEGER precedence, NULL::VARCHAR subject_id WHERE false")
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {body}")


# --- step 4: repair plan and metrics --------------------------------------


def plan_repairs(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("BEGIN")
    run_script(con, REPAIRS_DIR / "10_patterns.sql")
    run_script(con, REPAIRS_DIR / "20_repair_actions.sql")
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM repair_actions").fetchone()[0]


def compute_metrics(con: duckdb.DuckDBPyConnection) -> int:
    """Update the finding lifecycle, then the metrics that read it."""
    con.execute("BEGIN")
    run_script(con, REPORTS_DIR / "lifecycle.sql")
    run_script(con, REPORTS_DIR / "metrics.sql")
    con.execute("COMMIT")
    return con.execute(
        "SELECT count(*) FROM metrics WHERE audit_id = (SELECT audit_id FROM audit_context)"
    ).fetchone()[0]


# --- step 5: publish -------------------------------------------------------


def publish(con: duckdb.DuckDBPyConnection, started_at: datetime | None = None) -> dict:
    """Append this audit to the history tables and record it in `audits` (idempotent)."""
    con.execute("BEGIN")
    con.execute("DELETE FROM findings_history WHERE audit_id = (SELECT audit_id FROM audit_context)")
    con.execute("INSERT INTO findings_history BY NAME SELECT * FROM findings")
    con.execute("DELETE FROM repair_actions_history WHERE audit_id = (SELECT audit_id FROM audit_context)")
    con.execute("INSERT INTO repair_actions_history BY NAME SELECT * FROM repair_actions")
    con.execute("DELETE FROM audits WHERE audit_id = (SELECT audit_id FROM audit_context)")
    con.execute(
        """
        INSERT INTO audits
        SELECT c.audit_id, c.as_of, c.log_observed_at,
            (SELECT list(snapshot_id ORDER BY snapshot_id) FROM cfg_snapshots),
            (SELECT count(*) FROM recorded_runs), (SELECT count(*) FROM intended),
            (SELECT count(*) FROM observed), (SELECT count(*) FROM findings),
            (SELECT count(*) FROM repair_actions), (SELECT count(*) FROM quarantine),
            (SELECT to_json(list({'source': source, 'snapshots': n, 'rows': r, 'quarantined': q} ORDER BY source))::VARCHAR
               FROM (SELECT source, count(*) n, sum(rows) r, sum(quarantined) q FROM cfg_snapshots GROUP BY source)),
            ?, now()
        FROM audit_context c
        """,
        [started_at or datetime.now(UTC)],
    )
    con.execute("COMMIT")
    row = con.execute("SELECT * FROM audits WHERE audit_id = (SELECT audit_id FROM audit_context)").fetchone()
    cols = [d[0] for d in con.description]
    return dict(zip(cols, row, strict=True))


def publish_read_copy(ws: Workspace) -> Path:
    """Replace `reckon-read.duckdb`, the copy analysts open while audits run, in one step.

    Call with no connection open: the database file is then checkpointed and whole.
    """
    final = ws.root / READ_COPY
    for leftover in ws.root.glob(f".{READ_COPY}.*.tmp"):  # from a killed run
        leftover.unlink()
    staging = ws.root / f".{READ_COPY}.{os.getpid()}.tmp"
    shutil.copyfile(ws.database, staging)
    with staging.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, final)
    return final


# --- helpers ---------------------------------------------------------------


def _table(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict], schema: pa.Schema) -> None:
    _arrow_table(con, name, pa.Table.from_pylist(rows, schema=schema))


def _arrow_table(con: duckdb.DuckDBPyConnection, name: str, data: pa.Table) -> None:
    # Registered explicitly: with external access off, DuckDB does not scan Python variables.
    con.register("_arrow_input", data)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _arrow_input")
    finally:
        con.unregister("_arrow_input")


def _paths(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _parquet_or_empty(files: list[Path], schema: pa.Schema) -> str:
    if files:
        return f"SELECT * FROM read_parquet({_paths(files)}, union_by_name = true, hive_partitioning = false)"
    from connectors.schema import with_snapshot_columns

    cols = ", ".join(f"NULL::{_duck_type(f.type)} AS {f.name}" for f in with_snapshot_columns(schema))
    return f"SELECT {cols} WHERE false"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN"}[t]


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'", [table]
    ).fetchone()[0])
