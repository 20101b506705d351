"""`findings_history` and `repair_actions_history` are stored once per change and read
back exactly.

The views put back every audit's findings and actions as they were (the export time of an
intent finding's `observed` included) from narrow rows and values stored once; a database
that holds the histories as tables (an earlier version's) has their rows moved into that
storage on its next audit, the same rows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon.database import search_internal
from reckon.workspace import Workspace
from simulator import simulate
from simulator.timeline import advance

SEED = 5


def query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> Path:
    """Three daily audits of one simulated workspace."""
    root = tmp_path_factory.mktemp("findings_history") / "ws"
    simulate(root, 40, SEED)
    run_audit(Workspace.open(root))
    for day in (2, 3):
        advance(root, day, SEED)
        run_audit(Workspace.open(root))
    return root


def columns(root: Path, table: str) -> list[tuple]:
    return query(root, "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' "
                       "AND table_name = ? ORDER BY column_index", [table])


HISTORIES = {"findings_history": "findings", "repair_actions_history": "repair_actions"}


@pytest.mark.parametrize("view", HISTORIES)
def test_a_history_has_the_columns_of_its_table(days, view):
    assert columns(days, view) == columns(days, HISTORIES[view])


@pytest.mark.parametrize("view", HISTORIES)
def test_each_audit_reads_back_exactly_as_its_rows_were(days, view):
    """The latest audit's rows equal its table itself, every value's text included."""
    table = HISTORIES[view]
    latest = f"SELECT * FROM {view} WHERE audit_id = (SELECT audit_id FROM audit_context)"
    missing = query(days, f"SELECT * FROM {table} EXCEPT ALL {latest}")
    extra = query(days, f"{latest} EXCEPT ALL SELECT * FROM {table}")
    assert query(days, f"SELECT count(*) FROM {table}")[0][0] > 0
    assert (missing, extra) == ([], [])


def test_values_are_stored_once_per_distinct_set(days):
    """A finding has as many values rows as distinct values over its audits, its export
    time aside: an intent finding open in every audit whose values stayed has one, though
    its export time moved each day."""
    (audits,) = query(days, "SELECT count(*) FROM audits")[0]
    assert audits == 3
    per_finding = query(days, """
        SELECT r.finding_id, count(DISTINCT r.values_id),
            count(DISTINCT [h.intended, h.recorded, regexp_replace(h.observed, ',"export_observed_at":[^,]*}$', '}'),
                            h.evidence]),
            count(DISTINCT r.export_observed_at_text), count(DISTINCT h.observed), count(*)
        FROM finding_rows r JOIN findings_history h USING (finding_id, audit_id)
        GROUP BY ALL""")
    assert all(stored == distinct for _, stored, distinct, _, _, _ in per_finding)
    shared = [row for row in per_finding if row[1] == 1 and row[3] == 3 and row[5] == 3]
    assert shared, "some intent finding must keep its values over three audits while its export time moves"
    assert all(texts == 3 for *_, texts, _ in shared), "the view shows each audit's export time"
    assert_stored_once(days, "finding_rows", "finding_values")


def test_an_action_planned_again_keeps_one_set_of_values(days):
    per_action = query(days, """
        SELECT r.action_id, count(DISTINCT r.values_id), count(DISTINCT [h.parameters, h.preconditions, h.explanation]),
            count(*)
        FROM action_rows r JOIN repair_actions_history h USING (action_id, audit_id)
        GROUP BY ALL""")
    assert all(stored == distinct for _, stored, distinct, _ in per_action)
    assert any(stored == 1 and audits == 3 for _, stored, _, audits in per_action)
    assert_stored_once(days, "action_rows", "action_values")


def assert_stored_once(root: Path, rows: str, values: str) -> None:
    """Fewer values than rows, each used by some row and stored once."""
    (n_rows, n_values, n_ids) = query(root, f"SELECT (SELECT count(*) FROM {rows}), (SELECT count(*) FROM {values}), "
                                            f"(SELECT count(DISTINCT values_id) FROM {values})")[0]
    assert n_ids == n_values < n_rows
    assert query(root, f"SELECT count(*) FROM {values} WHERE values_id NOT IN (SELECT values_id FROM {rows})") == [
        (0,)]


def test_histories_kept_as_tables_move_into_the_storage(tmp_path):
    """A database whose histories are tables (an earlier version's): its next audit moves
    their rows into the storage, and the audits before read back as they were."""
    root = tmp_path / "ws"
    simulate(root, 30, SEED)
    run_audit(Workspace.open(root))
    advance(root, 2, SEED)
    run_audit(Workspace.open(root))
    before = {view: query(root, f"SELECT * FROM {view} ORDER BY ALL") for view in HISTORIES}
    with duckdb.connect(str(root / "reckon.duckdb")) as con:
        for view in HISTORIES:
            con.execute(f"CREATE TABLE as_table AS SELECT * FROM {view}; DROP VIEW {view}; "
                        f"ALTER TABLE as_table RENAME TO {view}")
        con.execute("DROP TABLE internal.finding_rows; DROP TABLE internal.finding_values; "
                    "DROP TABLE internal.action_rows; DROP TABLE internal.action_values")
    advance(root, 3, SEED)
    latest = run_audit(Workspace.open(root))["audit_id"]
    for view, table in HISTORIES.items():
        assert query(root, "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [view]) == [
            ("VIEW",)]
        assert query(root, f"SELECT * FROM {view} WHERE audit_id <> ? ORDER BY ALL", [latest]) == before[view]
        assert query(root, f"SELECT count(*) FROM {view} WHERE audit_id = ?", [latest]) == query(
            root, f"SELECT count(*) FROM {table}")
