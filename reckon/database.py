"""The workspace database: its layout and one DuckDB session's settings, defined once.

The schema `main` holds the tables and views analysts read (`PUBLIC_TABLES`), the schema
`internal` every other one (configuration, scope and rule bookkeeping): the audit's SQL
creates each where it lives, so the analyst copy is the file as it is. Unqualified names
search `main`, then `internal` (`search_internal`).

Every audit connection, and the benchmark's own, runs with the same explicit resource
limits: UTC, `memory_limit`, `threads`, spilling into the workspace's `.duckdb_tmp/`
within `max_temp_directory_size`, no insertion order to keep, no vacuum at checkpoints
(deleted rows are reclaimed by reckon/compaction.py). SQL (models, rules, a
user's own rules) then runs sandboxed: external access only inside the workspace, and
the configuration locked so no script can loosen it. Values are passed as parameters,
never written into the SQL text.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from reckon.workspace import Workspace

SPILL_FOLDER = ".duckdb_tmp"
BUCKETS_FOLDER = "buckets"  # an audit in buckets: the passes' inputs and rows (reckon/buckets.py)
READ_COPY = "reckon-read.duckdb"  # the analyst copy, replaced in one step after each audit

# The tables and views an analyst reads, each documented in docs/outputs.md and commented
# in the database (rules/analyst/comments.sql), in the schema `main`; every other table and
# view (configuration, scope and rule bookkeeping) is created in the schema `internal`.
PUBLIC_TABLES = (
    "audit_context", "audit_files", "cfg_snapshots", "mismatch_types", "decisions", "flags", "quarantine",
    "raw_events", "raw_events_new", "raw_observed", "raw_observed_new", "events", "intended", "recorded",
    "recorded_runs", "observed", "system_freshness", "matches", "intent_state", "run_state", "findings",
    "findings_history", "repair_actions", "repair_actions_history", "applied_repairs", "lifecycle_events",
    "finding_lifecycle", "metrics", "metrics_daily", "audits", "suspicious_runs", "suspicious_run_reasons",
    "prevention_backlog", "stored_results", "open_findings", "operator_queue", "since_last_audit", "time_to_reconcile",
)  # fmt: skip
# Those of them that are views: a table of one of these names (an earlier version kept
# `stored_results` as a table) is dropped when an audit starts (reckon/incremental.py).
PUBLIC_VIEWS = (
    "raw_events", "raw_events_new", "raw_observed", "raw_observed_new", "finding_lifecycle", "stored_results",
    "open_findings", "operator_queue", "since_last_audit", "time_to_reconcile",
)  # fmt: skip
INTERNAL_SCHEMA = "internal"


def qualified(table: str) -> str:
    """`main.<table>` for a public table, `internal.<table>` for any other: where SQL
    creates it (an unqualified CREATE would land in `main`)."""
    return f"{'main' if table in PUBLIC_TABLES else INTERNAL_SCHEMA}.{table}"


def search_internal(con: duckdb.DuckDBPyConnection) -> None:
    """Let unqualified names find the public tables, then the internal ones (the audit's
    SQL and a user's own rules name neither schema); in a writable database the schema
    `internal` is created first. A read-only database without it (written by an earlier
    version, every table in `main`) is read as it is. `sandbox` calls it before it locks
    the configuration; a session that is not sandboxed calls it itself. (DuckDB 2.0.1's
    lock leaves `search_path` settable: a script that changes it changes only which of
    the database's own tables its later names find, never what it may read or write.)"""
    readonly = con.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
                           ).fetchone()[0]
    if not readonly:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {INTERNAL_SCHEMA}")
    elif not con.execute("SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() "
                         "AND schema_name = ?", [INTERNAL_SCHEMA]).fetchone()[0]:
        return
    con.execute("SET search_path = ?", [f"main,{INTERNAL_SCHEMA}"])


def session_settings(ws: Workspace) -> dict[str, Any]:
    """The settings every audit session runs with, in the order they are applied."""
    pol = ws.config.policies
    return {
        "TimeZone": "UTC",
        "memory_limit": pol.memory_limit,
        "threads": int(pol.threads),
        "temp_directory": str(ws.root / SPILL_FOLDER),
        "max_temp_directory_size": pol.max_temp_directory_size or spill_room(ws.root),
        "preserve_insertion_order": False,
        # No checkpoint merges the row groups deletes thinned: reckon/compaction.py does, when worth it.
        "max_vacuum_tasks": 0,
    }


def apply_settings(con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> None:
    for name, value in settings.items():
        con.execute(f"SET {name} = ?", [value])  # names are this module's own


def spill_room(root: Path) -> str:
    """90% of the free space on the workspace's disk, as DuckDB reads a size."""
    return f"{int(shutil.disk_usage(root).free * 0.9) // 2**20}MiB"


# The folders SQL may touch, under the workspace: the snapshots it reads, the spill folder,
# the exports it writes, the Parquet an audit in buckets passes between its passes. Never reckon.yaml, decisions/ or landing/: Python reads those.
SQL_FOLDERS = ("snapshots", SPILL_FOLDER, "exports", BUCKETS_FOLDER)
# The audit's snapshot files, per view over them (reckon/inputs.py `register_audit`): a
# session variable each, set on every connection from the `audit_files` table, so that no
# file name is ever written into SQL text.
FILE_VIEWS = ("raw_events", "raw_events_new", "raw_observed", "raw_observed_new", "quarantine_files")


@contextmanager
def connect(ws: Workspace, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the workspace database with the session settings, sandboxed."""
    ws.root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(ws.database), read_only=read_only)
    try:
        apply_settings(con, session_settings(ws))
        set_file_variables(con, ws.root)
        sandbox(con, ws)
        yield con
    finally:
        con.close()


def sandbox(con: duckdb.DuckDBPyConnection, ws: Workspace) -> None:
    """Rules are SQL files anyone may add: from here on, SQL finds the tables through the
    search path the audit's SQL expects, reads and writes only the folders it needs, and
    cannot change these settings back."""
    search_internal(con)
    con.execute("SET allowed_directories = ?", [[f"{ws.root / folder}/" for folder in SQL_FOLDERS]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def set_file_variables(con: duckdb.DuckDBPyConnection, root: Path,
                       files: dict[str, list[str]] | None = None) -> None:
    """`<view>` -> the files it reads, as the session variable of the view's name: given, or
    as the audit's inputs recorded them (`audit_files`). Paths are relative to the workspace
    and resolved against `root` here, at open, so a moved or shared workspace still reads."""
    if files is None:
        if not table_exists(con, "audit_files"):
            return
        files = {view: paths for view, paths in con.execute(
            "SELECT view, list(path ORDER BY path) FROM audit_files GROUP BY view").fetchall()}
    for view in FILE_VIEWS:
        if files.get(view):
            paths = [str(root / path) for path in files[view]]
            con.execute(f"SET VARIABLE {view} = ?", [paths])  # the names are this module's own


def run_script(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """One SQL file of the repository, as it is."""
    con.execute(path.read_text(encoding="utf-8"))


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` exists in its own schema (`qualified`)."""
    schema, name = qualified(table).split(".")
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = ?", [name, schema]
    ).fetchone()[0])


@contextmanager
def connect_read_copy(ws: Workspace) -> Iterator[duckdb.DuckDBPyConnection]:
    """The analyst copy, read-only, with the session settings: what reports and summaries
    read, so that they never wait on an audit nor make one wait (the audit holds
    `reckon.duckdb`)."""
    path = ws.root / READ_COPY
    if not path.exists():
        raise LookupError(f"{path} does not exist yet: the workspace has no finished audit (run `reckon audit`)")
    con = duckdb.connect(str(path), read_only=True)
    try:
        apply_settings(con, {k: v for k, v in session_settings(ws).items() if k != "temp_directory"})
        set_file_variables(con, ws.root)
        sandbox(con, ws)
        yield con
    finally:
        con.close()
