"""What an audit keeps from the last one, and when it must start over.

The layer tables persist in the workspace database. An audit folds in only the snapshots
not folded yet and recomputes only the runs in its scope (rules/layers/30_scope.sql); the
rest keep their rows. That holds while the layer SQL and the catalog (systems, workflows,
steps) are the ones the rows were computed with, and every folded snapshot still exists
(snapshots are immutable, but a workspace may be pruned). Otherwise the audit is full: the
kept tables are dropped and every layer is rebuilt from all snapshots.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from rules import LAYERS_DIR, MACROS_FILE, load_layers

# Tables an audit keeps for the next one, besides the run-scoped layer tables.
KEPT_TABLES = ("events", "observed", "observed_keys", "observed_fields", "changed_runs", "changed_objects",
               "changed_fields", "folded_snapshots")

STATE_DDL = """
CREATE TABLE IF NOT EXISTS layer_state (fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS folded_snapshots (snapshot_id VARCHAR);
"""


def fingerprint(catalog: list[list[dict]]) -> str:
    """Hash of every layer script, the macros they call and the catalog tables they read."""
    digest = hashlib.sha256()
    for path in [*sorted(LAYERS_DIR.rglob("*.sql")), MACROS_FILE]:
        digest.update(path.relative_to(LAYERS_DIR.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(catalog, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


def resume(con: duckdb.DuckDBPyConnection, print_: str, snapshot_ids: set[str], allowed: bool) -> set[str]:
    """The snapshots already folded into the kept tables, or none after starting over."""
    con.execute(STATE_DDL)
    kept = {row[0] for row in con.execute("SELECT fingerprint FROM layer_state").fetchall()}
    folded = {row[0] for row in con.execute("SELECT snapshot_id FROM folded_snapshots").fetchall()}
    if allowed and kept == {print_} and folded <= snapshot_ids:
        return folded
    for table in (*KEPT_TABLES, *scoped_layer_tables(), "layer_state"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(STATE_DDL)
    return set()


def scoped_layer_tables() -> tuple[str, ...]:
    return tuple(t for layer in load_layers() for t in layer.scoped_tables)


def record(con: duckdb.DuckDBPyConnection, print_: str) -> None:
    """The kept tables now match this fingerprint (called inside the layer commit)."""
    con.execute("DELETE FROM layer_state")
    con.execute("INSERT INTO layer_state VALUES (?)", [print_])
