"""Two audits never interleave; analysts read a published copy; rules stay inside the workspace."""

from __future__ import annotations

import multiprocessing
import time

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon import database
from reckon.config import ConfigError
from reckon.locking import WorkspaceBusy, workspace_lock
from reckon.workspace import Workspace
from reports.html import write_report
from rules import parse_rule
from simulator import simulate


def _hold_lock(root: str, seconds: float, ready) -> None:
    with workspace_lock(__import__("pathlib").Path(root)):
        ready.set()
        time.sleep(seconds)


def test_second_audit_waits_then_gives_up_with_a_clear_message(tmp_path):
    sim = simulate(tmp_path / "ws", runs=10, seed=1)
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(sim.workspace), 3.0, ready))
    holder.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        with pytest.raises(WorkspaceBusy, match=r"another audit \(pid \d+\) holds .*\.reckon\.lock; waited 1 s"):
            run_audit(Workspace.open(sim.workspace), lock_timeout=1.0)
        assert time.monotonic() - started >= 1.0
        assert not (sim.workspace / "reckon.duckdb").exists()  # it touched nothing
    finally:
        holder.join()
    # once the first is done, the second goes through
    assert run_audit(Workspace.open(sim.workspace), lock_timeout=5.0)["findings"] > 0


def _audit(root: str) -> None:
    run_audit(Workspace.open(__import__("pathlib").Path(root)))


def test_analysts_read_the_published_copy_while_an_audit_runs(tmp_path):
    sim = simulate(tmp_path / "ws", runs=60, seed=2)
    ws = Workspace.open(sim.workspace)
    first = run_audit(ws)
    read_copy = ws.root / database.READ_COPY
    # a new export arrives and a second audit starts in another process
    (ws.landing / "stripe" / "refunds-late.json").write_text('{"object": "list", "data": [], "has_more": false}')
    auditor = multiprocessing.Process(target=_audit, args=(str(ws.root),))
    auditor.start()
    reads = 0
    while auditor.is_alive():
        with duckdb.connect(str(read_copy), read_only=True) as con:
            audits = con.execute("SELECT count(*) FROM audits").fetchone()[0]
            assert audits in (1, 2)
            assert con.execute("SELECT count(*) FROM findings").fetchone()[0] > 0
        reads += 1
    auditor.join()
    assert auditor.exitcode == 0 and reads > 0
    with duckdb.connect(str(read_copy), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audits").fetchone()[0] == 2
        assert con.execute("SELECT audit_id FROM audits ORDER BY as_of LIMIT 1").fetchone()[0] == first["audit_id"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT content AS subject_id FROM read_text('/etc/passwd')",
        "SELECT file AS subject_id FROM glob('/root/*')",
        "SELECT column0 AS subject_id FROM read_csv('/etc/hostname', header = false)",
    ],
)
def test_a_rule_cannot_reach_outside_the_workspace(tmp_path, sql):
    sim = simulate(tmp_path / "ws", runs=5, seed=3)
    rule_file = tmp_path / "evil.sql"
    rule_file.write_text(
        "-- rule_id: X1\n-- mismatch_type: evil\n-- subject_kind: intent\n-- severity: low\n"
        f"-- precedence: 99\n-- repair: human_adjudication\n-- duplicate_risk: low\n-- next_action: none\n"
        f"-- prevention: none\n-- metric: pending\n-- description: tries to escape\n{sql}\n"
    )
    rule = parse_rule(rule_file)
    with database.connect(Workspace.open(sim.workspace)) as con, pytest.raises(duckdb.Error) as err:
        con.execute(rule.hits_sql()).fetchall()
    assert any(word in str(err.value) for word in ("Permission", "disabled", "locked"))


def test_a_sql_script_cannot_write_outside_the_workspace(tmp_path):
    sim = simulate(tmp_path / "ws", runs=5, seed=3)
    script = tmp_path / "escape.sql"
    outside = tmp_path / "escaped.csv"
    script.write_text(f"COPY (SELECT 42 AS answer) TO '{outside}';")
    with database.connect(Workspace.open(sim.workspace)) as con:
        with pytest.raises(duckdb.PermissionException):
            database.run_script(con, script)
        database.run_script(con, _inside(script, sim.workspace / "exports" / "ok.csv"))
    assert not outside.exists()
    assert (sim.workspace / "exports" / "ok.csv").read_text().startswith("answer")


def _inside(script, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    inside = script.with_name("inside.sql")
    inside.write_text(f"COPY (SELECT 42 AS answer) TO '{target}';")
    return inside


def test_settings_cannot_be_changed_back(tmp_path):
    sim = simulate(tmp_path / "ws", runs=5, seed=3)
    with database.connect(Workspace.open(sim.workspace)) as con:
        for statement in ("SET enable_external_access = true", "SET allowed_directories = ['/']",
                          "SET memory_limit = '100GB'"):
            with pytest.raises(duckdb.Error, match="locked"):
                con.execute(statement)


@pytest.mark.parametrize("target", ["reckon.yaml", "decisions/planted.csv", "landing/stripe/planted.json",
                                    "reckon-read.duckdb"])
def test_sql_cannot_touch_the_configuration_the_decisions_or_the_landing_files(tmp_path, target):
    # A bad rule could plant an injection in reckon.yaml for the next audit, or forge an
    # operator's decision: SQL may touch only snapshots/, the spill folder and exports/.
    sim = simulate(tmp_path / "ws", runs=5, seed=3)
    path = sim.workspace / target
    before = path.read_bytes() if path.exists() else None
    with database.connect(Workspace.open(sim.workspace)) as con:
        with pytest.raises(duckdb.PermissionException):
            con.execute("COPY (SELECT 1 AS x) TO ? (FORMAT csv)", [str(path)])
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_text(?)", [str(sim.workspace / "reckon.yaml")]).fetchall()
    assert (path.read_bytes() if path.exists() else None) == before


INJECTION = ("4GB'; COPY (SELECT * FROM read_csv('/etc/passwd', header=false, sep=':')) TO '{out}'; "
             "SET memory_limit='4GB")


def test_configuration_values_never_reach_sql_text(tmp_path):
    # The probe's injection through policies.duckdb.memory_limit, and a workspace whose
    # path holds a quote: no file appears, and a quoted path audits like any other.
    out = tmp_path / "pwned.csv"
    sim = simulate(tmp_path / "ws q'uoted", runs=20, seed=3)
    config = sim.workspace / "reckon.yaml"
    text = config.read_text()
    assert run_audit(Workspace.open(sim.workspace))["findings"] > 0
    config.write_text(text.replace("memory_limit: 4GB", "memory_limit: \"" + INJECTION.format(out=out) + "\""))
    with pytest.raises((ConfigError, duckdb.Error)):  # refused at load, or as a value: never run as SQL
        run_audit(Workspace.open(sim.workspace))
    assert not out.exists()


def test_a_report_while_an_audit_runs_never_makes_it_fail(tmp_path):
    sim = simulate(tmp_path / "ws", runs=60, seed=2)
    ws = Workspace.open(sim.workspace)
    run_audit(ws)
    (ws.landing / "stripe" / "refunds-late.json").write_text('{"object": "list", "data": [], "has_more": false}')
    auditor = multiprocessing.Process(target=_audit, args=(str(ws.root),))
    auditor.start()
    reports = 0
    while auditor.is_alive():
        write_report(ws)  # reads the analyst copy
        reports += 1
    auditor.join()
    assert auditor.exitcode == 0 and reports > 0
