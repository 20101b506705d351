"""Deleted rows: never merged away by an audit's checkpoints, reclaimed by a rewrite once a
table is a quarter deleted rows (reckon/compaction.py), with its rows, order and comments."""

from __future__ import annotations

import duckdb

from pipelines.runner import run_audit
from reckon import compaction, database
from reckon.engine import ANALYST_DIR
from reckon.workspace import Workspace
from simulator import simulate

COMMENTS = ANALYST_DIR / "comments.sql"


def _stored(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute("SELECT sum(count) FROM pragma_storage_info(?) WHERE column_id = 0 AND column_path = '[0]'",
                       [table]).fetchone()[0]


def test_an_audit_session_checkpoint_leaves_thinned_row_groups_as_they_are(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=5, seed=2).workspace)
    for settings in ({}, database.session_settings(ws)):  # DuckDB's default, then an audit session's
        con = duckdb.connect(str(ws.database))
        con.execute("CREATE OR REPLACE TABLE thinned AS SELECT range AS x FROM range(3 * 122880)")
        con.execute("CHECKPOINT")
        database.apply_settings(con, settings)
        con.execute("DELETE FROM thinned WHERE x % 3 <> 0")  # two thirds of every row group
        con.close()  # checkpoints
        con = duckdb.connect(str(ws.database), read_only=True)
        stored, live = _stored(con, "thinned"), con.execute("SELECT count(*) FROM thinned").fetchone()[0]
        con.close()
        assert live == 122880
        assert stored == (3 * 122880 if settings else live), settings


def test_compaction_rewrites_only_the_tables_a_quarter_deleted_keeping_rows_order_and_comments(tmp_path, monkeypatch):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=40, seed=5).workspace)
    run_audit(ws)
    monkeypatch.setattr(compaction, "ROW_GROUP_ROWS", 10)  # the simulator's tables are small
    con = duckdb.connect(str(ws.database))
    database.apply_settings(con, {"max_vacuum_tasks": 0})
    con.execute("DELETE FROM intent_state WHERE hash(intent_id) % 3 = 0")  # about a third
    con.execute("DELETE FROM main.events WHERE rowid IN (SELECT rowid FROM main.events LIMIT 3)")  # a few
    kept = con.execute("SELECT * FROM intent_state ORDER BY rowid").fetchall()
    events_stored = _stored(con, "main.events")
    con.close()

    assert compaction.compact(ws, COMMENTS) == ["main.intent_state"]

    con = duckdb.connect(str(ws.database), read_only=True)
    assert con.execute("SELECT * FROM intent_state ORDER BY rowid").fetchall() == kept  # same rows, same order
    assert _stored(con, "main.intent_state") == len(kept)  # the deleted rows are gone
    assert _stored(con, "main.events") == events_stored  # under the share: left as it was
    comment = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'intent_state' "
                          "AND column_name = 'intent_id'").fetchone()[0]
    con.close()
    assert comment
    assert compaction.compact(ws, COMMENTS) == []  # nothing thinned any more

    run_audit(ws)  # and the next audit runs on the rewritten table
