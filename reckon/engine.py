"""The audit, step by step. The Dagster assets and the CLI both call these functions.

connectors -> snapshots (ingest) -> layers -> findings -> repair plan / metrics -> publish.
All state between steps lives in the workspace's DuckDB file, so each step can run
in its own Dagster asset, one after the other, without passing data in memory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from reckon import atomic
from reckon import incremental as incremental_state
from reckon.inputs import register_inputs
from reckon.snapshots import Snapshot, list_snapshots, take_snapshot
from reckon.workspace import Workspace
from rules import FINDINGS_DIR, REPAIRS_DIR, Layer, load_layers, load_rules

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"


READ_COPY = "reckon-read.duckdb"


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
        con.execute(f"SET max_temp_directory_size = '{pol.max_temp_directory_size or _spill_room(ws.root)}'")
        con.execute("SET preserve_insertion_order = false")
        # Rules are SQL files anyone may add: they read and write inside the workspace only,
        # and cannot change these settings back.
        con.execute("SET allowed_directories = ?", [[str(ws.root) + "/"]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()


def _spill_room(root: Path) -> str:
    """90% of the free space on the workspace's disk, as DuckDB reads a size."""
    return f"{int(shutil.disk_usage(root).free * 0.9) // 2**20}MiB"


def run_script(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(path.read_text(encoding="utf-8"))


# --- step 1: snapshots -----------------------------------------------------


def ingest(ws: Workspace, source_name: str) -> Snapshot | None:
    """Snapshot one source's new landing files (None when nothing changed)."""
    source = next(s for s in ws.config.sources if s.name == source_name)
    return take_snapshot(ws, source)


# --- step 2: layers --------------------------------------------------------


def prepare(con: duckdb.DuckDBPyConnection, ws: Workspace) -> str:
    """Register the audit's inputs: config tables, snapshot views, audit context."""
    con.execute("BEGIN")
    audit_id = register_inputs(con, ws.config, list_snapshots(ws), ws.root)
    con.execute("COMMIT")
    return audit_id


LAYERS = load_layers()
# The tables the layers build (not the scope's bookkeeping): what analysts and rules read.
LAYER_TABLES = tuple(t for layer in LAYERS if layer.full_path is None for t in layer.scoped_tables or (layer.name,))


def build_layer(con: duckdb.DuckDBPyConnection, layer: Layer) -> int:
    """Run one layer script (rules/layers/); returns the row count it computed (for a
    run-scoped layer: the rows of the audit's scope)."""
    full = layer.full_path is not None and not _incremental(con)
    con.execute("BEGIN")
    run_script(con, layer.full_path if full else layer.path)
    con.execute("COMMIT")
    return con.execute(f"SELECT count(*) FROM {layer.table}").fetchone()[0]


def commit_layers(con: duckdb.DuckDBPyConnection) -> int:
    """Fold the scope's rows into the run-scoped layer tables, in one transaction.

    Incremental: the scope's runs are replaced. Full: the scoped tables become the tables.
    Returns the number of runs recomputed.
    """
    incremental = _incremental(con)
    con.execute("BEGIN")
    for table in (t for layer in LAYERS for t in layer.scoped_tables):
        if incremental:
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM scope_runs)")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM scoped_{table}")
            con.execute(f"DROP TABLE scoped_{table}")
        else:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"ALTER TABLE scoped_{table} RENAME TO {table}")
    con.execute("DROP VIEW scoped_events; DROP VIEW claims_outside_scope; DROP TABLE IF EXISTS scope_event_rows")
    con.execute("DELETE FROM changed_runs; DELETE FROM changed_objects; DELETE FROM changed_fields")
    incremental_state.record(con, con.execute("SELECT layers_fingerprint FROM audit_context").fetchone()[0])
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM scope_runs").fetchone()[0]


def build_layers(con: duckdb.DuckDBPyConnection, buckets: int = 1) -> None:
    """Every layer in order, then the commit; with `buckets` > 1, a full audit in buckets."""
    if buckets > 1:
        _build_layers_in_buckets(con, buckets)
        return
    for layer in LAYERS:
        build_layer(con, layer)
    commit_layers(con)


def _build_layers_in_buckets(con: duckdb.DuckDBPyConnection, buckets: int) -> None:
    """A full audit's layers as one pass per bucket of runs (a hash of run_id).

    Each pass is an incremental pass whose new data is one bucket's runs, so it holds
    about 1/buckets of the runs at a time; a later bucket's claims spill back into the
    natural-key groups of earlier ones (65_spill.sql), which is what makes the union
    equal one pass (tests/test_incremental.py). On a cluster the same SQL would run per
    Dagster partition.
    """
    if _incremental(con):
        raise ValueError("an audit in buckets starts from nothing: set policies.incremental to false")
    # Until the last bucket is in, the kept tables are incomplete: a fingerprint that never
    # matches makes an audit after a crash start over.
    fingerprint = con.execute("SELECT layers_fingerprint FROM audit_context").fetchone()[0]
    con.execute("UPDATE audit_context SET layers_fingerprint = 'unfinished buckets'")
    start = next(i for i, layer in enumerate(LAYERS) if layer.full_path is not None)
    for layer in LAYERS[:start]:  # events and observed: folded once, for every bucket
        build_layer(con, layer)
    # Empty run-scoped tables, with the layers' own schemas.
    con.execute("CREATE OR REPLACE TABLE scope_runs AS SELECT run_id FROM events WHERE false")
    con.execute("CREATE OR REPLACE VIEW scoped_events AS SELECT * FROM events WHERE false")
    con.execute("CREATE OR REPLACE VIEW claims_outside_scope AS SELECT system, external_id FROM observed WHERE false")
    for layer in LAYERS[start + 1:]:
        build_layer(con, layer)
    commit_layers(con)
    # No object changes between passes: only the buckets' claims do, and 65_spill.sql
    # follows those.
    con.execute("UPDATE audit_context SET incremental = true")
    for bucket in range(buckets):
        con.execute("DELETE FROM changed_runs")
        con.execute("INSERT INTO changed_runs SELECT DISTINCT run_id FROM events WHERE hash(run_id) % ? = ?",
                    [buckets, bucket])
        for layer in LAYERS[start:]:
            build_layer(con, layer)
        commit_layers(con)
    con.execute("UPDATE audit_context SET incremental = false, layers_fingerprint = ?", [fingerprint])
    con.execute("BEGIN")
    incremental_state.record(con, fingerprint)
    con.execute("COMMIT")


def _incremental(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT incremental FROM audit_context").fetchone()[0])


# --- step 3: findings ------------------------------------------------------


def detect_findings(con: duckdb.DuckDBPyConnection) -> int:
    """Run every mismatch rule; keep one primary finding per subject by precedence."""
    rules = load_rules()
    by_kind = {kind: [r for r in rules if r.subject_kind == kind] for kind in ("intent", "run", "effect")}
    con.execute("BEGIN")
    run_script(con, REPAIRS_DIR / "10_patterns.sql")
    # Findings of earlier audits (none on the first): for first_seen_at, decisions, lifecycle.
    # A view, not a copy: its readers look up only this audit's findings, and the history
    # grows with every audit.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW prior_findings AS "
        + ("SELECT finding_id, audit_id, detected_at, first_seen_at, state_hash, status FROM findings_history "
           "WHERE audit_id <> (SELECT audit_id FROM audit_context)"
           if _exists(con, "findings_history") else
           "SELECT NULL::VARCHAR finding_id, NULL::VARCHAR audit_id, NULL::TIMESTAMPTZ detected_at, "
           "NULL::TIMESTAMPTZ first_seen_at, NULL::VARCHAR state_hash, NULL::VARCHAR status WHERE false")
    )
    _hits(con, "intent_hits", by_kind["intent"])
    con.execute("CREATE OR REPLACE TABLE rule_hits AS SELECT * FROM intent_hits")
    run_script(con, FINDINGS_DIR / "10_subjects.sql")
    # Run-level rules read the intents' primary findings (false_completion does).
    run_script(con, FINDINGS_DIR / "20_decisions.sql")
    _hits(con, "other_hits", by_kind["run"] + by_kind["effect"])
    con.execute("INSERT INTO rule_hits SELECT * FROM other_hits")
    for script in ("30_run_subjects.sql", "40_assemble.sql", "50_lifecycle.sql"):
        run_script(con, FINDINGS_DIR / script)
    con.execute("DROP TABLE other_hits; DROP VIEW prior_findings")
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
        INSERT INTO audits BY NAME
        SELECT c.audit_id, c.seq, c.as_of, c.log_observed_at,
            (SELECT list(snapshot_id ORDER BY snapshot_id) FROM cfg_snapshots) AS snapshot_ids,
            (SELECT count(*) FROM recorded_runs) AS runs, (SELECT count(*) FROM intended) AS intents,
            (SELECT count(*) FROM observed) AS observed_objects, (SELECT count(*) FROM findings) AS findings,
            (SELECT count(*) FROM repair_actions) AS repair_actions, (SELECT count(*) FROM quarantine) AS quarantined,
            (SELECT to_json(list({'source': source, 'snapshots': n, 'rows': r, 'quarantined': q, 'repeats_dropped': d}
                                 ORDER BY source))::VARCHAR
               FROM (SELECT source, count(*) n, sum(rows) r, sum(quarantined) q, sum(repeats_dropped) d
                     FROM cfg_snapshots GROUP BY source)) AS sources,
            ? AS started_at, now() AS finished_at,
            (SELECT to_json(list({'system': system, 'reason': stale_reason, 'newest_observed_at': newest_observed_at}
                                 ORDER BY system))::VARCHAR
               FROM system_freshness WHERE stale_reason IS NOT NULL) AS stale_systems
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
    atomic.remove_leftovers(ws.root, f".{READ_COPY}.*.tmp")
    staging = atomic.staging_path(final)
    shutil.copyfile(ws.database, staging)
    atomic.publish([(staging, final)])
    return final


# --- helpers ---------------------------------------------------------------


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'", [table]
    ).fetchone()[0])
