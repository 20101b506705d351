"""Two audits never interleave; analysts and reports read a published copy."""

from __future__ import annotations

import multiprocessing
import time

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon import database
from reckon.locking import WorkspaceBusy, workspace_lock
from reckon.workspace import Workspace
from reports.html import write_report
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
