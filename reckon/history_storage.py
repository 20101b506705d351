"""The history tables stored once per change: `findings_history` and
`repair_actions_history` are views over narrow rows per audit and each distinct set of
values once (rules/analyst/history_storage.sql says how), kept by the findings step and
appended to by publish."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from reckon.database import run_script
from rules import RULES_DIR

STORAGE = RULES_DIR / "analyst" / "history_storage.sql"


@dataclass(frozen=True)
class History:
    view: str  # the public view, once a table
    source: str  # the audit's table whose rows it gains
    rows: str
    values: str
    split: str  # the table macro that splits a source's rows (values_id, ...)
    value_columns: tuple[str, ...]


# Names of reckon's own tables, never from configuration or data: safe in SQL text.
HISTORIES = (
    History("findings_history", "findings", "finding_rows", "finding_values", "findings_split",
            ("intended", "recorded", "observed", "evidence")),
    History("repair_actions_history", "repair_actions", "action_rows", "action_values", "actions_split",
            ("parameters", "preconditions", "explanation")),
)  # fmt: skip


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """The storage and the views, in the caller's transaction. A database that holds a
    history as a table (written by an earlier version) has its rows moved into the storage."""
    tables = {name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()}  # fmt: skip
    legacy = [h for h in HISTORIES if h.view in tables]
    for history in legacy:
        con.execute(f"ALTER TABLE {history.view} RENAME TO {history.view}_table")
    run_script(con, STORAGE)
    for history in legacy:
        _append(con, history, f"{history.view}_table")
        con.execute(f"DROP TABLE {history.view}_table")


def append_audit(con: duckdb.DuckDBPyConnection) -> None:
    """This audit's findings and actions into the histories, in the caller's transaction.
    A re-run replaces the audit's rows; the values only they used go with them."""
    for history in HISTORIES:
        con.execute(f"CREATE OR REPLACE TEMP TABLE replaced_values AS SELECT DISTINCT values_id FROM {history.rows} "
                    "WHERE audit_id = (SELECT audit_id FROM audit_context)")
        con.execute(f"DELETE FROM {history.rows} WHERE audit_id = (SELECT audit_id FROM audit_context)")
        _append(con, history, history.source)
        con.execute(f"DELETE FROM {history.values} WHERE values_id IN (SELECT values_id FROM replaced_values "
                    f"EXCEPT SELECT values_id FROM {history.rows} SEMI JOIN replaced_values USING (values_id))")
        con.execute("DROP TABLE replaced_values")


def _append(con: duckdb.DuckDBPyConnection, history: History, source: str) -> None:
    """The rows of the table `source` (shaped like `history.source`): each row narrow, and
    only the values no row had before."""
    values = ", ".join(history.value_columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE history_new AS SELECT * FROM {history.split}(?)", [source])
    con.execute(f"INSERT INTO {history.values} SELECT DISTINCT ON (values_id) values_id, {values} "
                f"FROM history_new ANTI JOIN {history.values} USING (values_id)")
    con.execute(f"INSERT INTO {history.rows} BY NAME SELECT * EXCLUDE ({values}) FROM history_new")
    con.execute("DROP TABLE history_new")
