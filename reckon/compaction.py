"""Deleted rows reclaimed when they are worth it, not at every checkpoint.

An incremental audit deletes its scope's rows from the kept tables wherever they sit (the
runs a day touches, the runs a natural key couples to them, the runs not settled yet) and
appends the new ones. With DuckDB's vacuum on, the next checkpoint merges whatever row
groups those deletes let it merge, rewriting them, almost every day: over days 33 to 45
added to the 1M bench's workspace, a day took 22.0 s on average with it and 19.1 s
without (docs/outputs.md, section 2.2). Audit sessions therefore run with the vacuum off (`max_vacuum_tasks = 0`,
reckon/database.py), and the deleted rows stay in their row groups, skipped by every
scan, until `compact` rewrites a table: once a quarter of its rows or more are deleted
ones, and at least a row group's worth (DuckDB's 122,880 rows). At the 0.4% a day measured
there, that is a rewrite about every two months rather than every day.

It runs with no other connection open, after the audit's last database step and before the
analyst copy is published (reckon/engine.py). A rewrite keeps the rows in their order (a
session of its own, with insertion order kept) and the columns' types; the database's
comments are written again after it (rules/analyst/comments.sql).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from reckon.database import apply_settings, run_script, search_internal, session_settings
from reckon.workspace import Workspace

DEAD_SHARE = 0.25
ROW_GROUP_ROWS = 122_880
# Only the database's own tables are rewritten: their names are written into the SQL text.
_OWN_NAME = re.compile(r"[a-z][a-z0-9_]*")


def thinned_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables (`schema.name`) whose deleted rows are DEAD_SHARE of their stored rows or
    more, and at least a row group's worth."""
    # `estimated_size` is the rows stored, deleted ones included; a table with a constraint
    # (`audits`' key) is not rewritten, a copy would lose it.
    stored = con.execute("SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
                         "WHERE NOT temporary AND database_name = current_database() "
                         "AND estimated_size >= ? "
                         "AND (schema_name, table_name) NOT IN (SELECT (schema_name, table_name) FROM duckdb_constraints()) "
                         "ORDER BY ALL", [ROW_GROUP_ROWS]).fetchall()
    thinned = []
    for schema, table, rows in stored:
        if not (_OWN_NAME.fullmatch(schema) and _OWN_NAME.fullmatch(table)):
            continue
        name = f"{schema}.{table}"
        dead = rows - con.execute("SELECT count(*) FROM query_table(?)", [name]).fetchone()[0]
        if dead >= ROW_GROUP_ROWS and dead >= DEAD_SHARE * rows:
            thinned.append(name)
    return thinned


def compact(ws: Workspace, comments: Path) -> list[str]:
    """Rewrite the thinned tables of the workspace database, in one transaction, then write
    the `comments` script again; returns the tables rewritten. Call with no connection open."""
    con = duckdb.connect(str(ws.database))
    try:
        # The audit's limits, but insertion order kept: the rewrite keeps the rows' order.
        apply_settings(con, {**session_settings(ws), "preserve_insertion_order": True, "enable_progress_bar": False})
        search_internal(con)
        thinned = thinned_tables(con)
        if thinned:
            con.execute("BEGIN")
            for name in thinned:
                con.execute(f"CREATE OR REPLACE TABLE {name} AS FROM {name}")  # own names (_OWN_NAME)
            run_script(con, comments)
            con.execute("COMMIT")
        return thinned
    finally:
        con.close()
