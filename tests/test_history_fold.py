"""The history steps read the audits before this one folded, not the whole history.

Two workspaces see the same simulated days (late webhooks, repairs, decisions,
regressions). In one, each audit folds in only the audits published since the last
(reports/history_fold.sql); in the other, the folded state is cleared before every
audit's findings step, so each audit reads every audit before it (the findings step's
`prior_seen`) and rebuilds the fold from them. The history tables analysts read must be
equal after every audit, after a re-run of the latest audit, after a re-run of an
earlier one (its day's files removed again), after an audit deleted by hand, after a
finding's workflow moves, and when `finding_seen` is missing (a workspace an earlier
version audited). The tests run in file order on one pair of workspaces, each going on
from the days the one before it left.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.runner import run_audit
from pipelines.steps import AuditRun, Step, add_hook, audit_steps, run_step
from reckon.database import search_internal
from reckon.workspace import Workspace
from simulator import simulate
from simulator.timeline import advance

HISTORY_TABLES = {
    "stored_results": "*",
    "lifecycle_events": "*",
    "applied_repairs": "*",
    "prevention_backlog": "*",
    "metrics": "*",
    "metrics_daily": "*",
    "findings_history": "*",
    "audits": "* EXCLUDE (started_at, finished_at)",
}
SEED = 11


def query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        return con.execute(sql, params or []).fetchall()


def history(root: Path) -> dict[str, list[tuple]]:
    return {t: query(root, f"SELECT {cols} FROM {t} ORDER BY ALL") for t, cols in HISTORY_TABLES.items()}


def streaks(root: Path) -> dict[str, int]:
    """Per workflow, `consecutive_audits_with_findings` of the latest audit."""
    return dict(query(root, "SELECT workflow, value FROM metrics WHERE metric = 'consecutive_audits_with_findings' "
                            "AND workflow <> '*' AND audit_id = (SELECT arg_max(audit_id, seq) FROM audits)"))


def streaks_counted(root: Path) -> dict[str, int]:
    """The same, counted back from the latest audit over `findings_history`."""
    seqs = sorted(row[0] for row in query(root, "SELECT seq FROM audits"))
    had = set(query(root, "SELECT DISTINCT a.seq, coalesce(h.workflow, '(none)') FROM findings_history h "
                          "JOIN audits a USING (audit_id)"))
    counted = {}
    for wf in streaks(root):
        back = 0
        while back < len(seqs) and (seqs[-1 - back], wf) in had:
            back += 1
        counted[wf] = back
    return counted


def folded_through(root: Path) -> int:
    return query(root, "SELECT through_seq FROM history_folded")[0][0]


@contextmanager
def rebuilding_history(root: Path) -> Iterator[None]:
    """While inside, every audit of `root` forgets what it folded before its findings step."""

    @contextmanager
    def forget(step: Step, run: AuditRun, metadata: dict) -> Iterator[None]:
        if step.name == "findings" and run.ws.root == root:
            run.con.execute("DROP TABLE IF EXISTS internal.history_folded")
        yield

    undo = add_hook(forget)
    try:
        yield
    finally:
        undo()


def files(root: Path) -> set[Path]:
    """Landing files, decisions and snapshots: what one day adds."""
    found = {p for folder in ("landing", "decisions") for p in (root / folder).rglob("*") if p.is_file()}
    return found | set((root / "snapshots").glob("source=*/observed_date=*/snapshot_id=*"))


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("history_fold")
    roots = {"folded": base / "folded" / "ws", "rebuilt": base / "rebuilt" / "ws"}
    for root in roots.values():
        simulate(root, 60, SEED)
    return roots


def audit_both(roots: dict[str, Path]) -> list[dict]:
    audits = [run_audit(Workspace.open(roots["folded"]))]
    with rebuilding_history(roots["rebuilt"]):
        audits.append(run_audit(Workspace.open(roots["rebuilt"])))
    assert audits[0]["audit_id"] == audits[1]["audit_id"]
    return audits


def test_folding_one_audit_at_a_time_equals_rebuilding_from_every_audit(twins):
    seqs = []
    for day in (1, 2, 3, 4):
        if day > 1:
            for root in twins.values():
                advance(root, day, SEED)
        seqs.append(audit_both(twins)[0]["seq"])
        assert history(twins["folded"]) == history(twins["rebuilt"]), f"day {day}"
        assert folded_through(twins["folded"]) == seqs[-1] - 1
        assert streaks(twins["folded"]) == streaks_counted(twins["folded"])
    assert seqs == [1, 2, 3, 4]
    got = history(twins["folded"])
    assert {row[0] for row in query(twins["folded"], "SELECT DISTINCT resolution FROM lifecycle_events")} >= {
        "auto", "self_healed"}, "the scenario must resolve findings"
    assert len(got["stored_results"]) > len(query(twins["folded"], "SELECT * FROM findings")), \
        "some findings must be gone by the last audit"

    # A re-run of the latest audit folds in nothing and changes nothing.
    again = audit_both(twins)
    assert again[0]["seq"] == 4
    assert history(twins["folded"]) == got
    assert folded_through(twins["folded"]) == 3


def test_a_rerun_of_an_earlier_audit_rebuilds_what_was_folded(twins):
    """Day 5 audited, then its files removed again: the next audit is day 4's re-run, an
    audit the folded state already holds, so it is rebuilt (and equals the rebuilt twin)."""
    before = {name: files(root) for name, root in twins.items()}
    for root in twins.values():
        advance(root, 5, SEED)
    day5 = audit_both(twins)[0]
    assert day5["seq"] == 5 and folded_through(twins["folded"]) == 4
    for name, root in twins.items():
        for path in files(root) - before[name]:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    rerun = audit_both(twins)[0]
    assert rerun["seq"] == 4, "removing day 5's files again makes the next audit day 4's"
    assert folded_through(twins["folded"]) == 3
    assert history(twins["folded"]) == history(twins["rebuilt"])


def test_an_audit_removed_from_the_history_by_hand_is_noticed(twins):
    """An operator deletes one audit the folded state holds from every history table: the
    next audit folds nothing it no longer finds."""
    for root in twins.values():
        with duckdb.connect(str(root / "reckon.duckdb")) as con:
            audit_id = con.execute("SELECT audit_id FROM audits WHERE seq = 2").fetchone()[0]
            for table in ("audits", "findings_history", "repair_actions_history", "lifecycle_events", "metrics",
                          "prevention_backlog"):
                con.execute(f"DELETE FROM {table} WHERE audit_id = ?", [audit_id])
    for root in twins.values():
        advance(root, 6, SEED)
    audit_both(twins)
    assert history(twins["folded"]) == history(twins["rebuilt"])


def test_a_finding_whose_workflow_moves_is_counted_again_under_its_new_line(twins):
    """A late event with an earlier time names another catalog workflow for the run of a
    finding seen in earlier audits: its earlier rows count for the line its new workflow
    picks (a line of its own, configured now)."""
    finding_id, run_id, mismatch_type, workflow = query(twins["folded"], """
        SELECT f.finding_id, f.run_id, f.mismatch_type, f.workflow FROM findings f JOIN finding_latest USING (finding_id)
        WHERE f.subject_kind = 'run' ORDER BY f.mismatch_type, f.finding_id LIMIT 1""")[0]
    moved = min(set(yaml.safe_load((twins["folded"] / "reckon.yaml").read_text())["catalog"]) - {workflow})
    first = query(twins["folded"], "SELECT min(ts) FROM events WHERE run_id = ?", [run_id])[0][0]
    earlier = (first - timedelta(seconds=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    event = {"event_id": "ev_moved", "type": "run.started", "run_id": run_id, "workflow": moved,
             "ts": earlier}
    for root in twins.values():
        config = yaml.safe_load((root / "reckon.yaml").read_text())  # the new workflow has a line of its own
        config["prevention"].setdefault(mismatch_type, {}).setdefault("workflows", {})[moved] = "moved"
        (root / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        newest = max(p.stat().st_mtime for p in (root / "landing").rglob("*") if p.is_file())
        path = root / "landing" / "events" / "moved.jsonl"
        path.write_text(json.dumps(event) + "\n")
        os.utime(path, (newest + 3600, newest + 3600))
    audit_both(twins)
    assert query(twins["folded"], "SELECT workflow FROM findings WHERE finding_id = ?", [finding_id]) == [(moved,)]
    assert history(twins["folded"]) == history(twins["rebuilt"])
    # Its rows before count for the new line too, under the workflow they name.
    assert set(query(twins["folded"], "SELECT workflow FROM prevention_backlog WHERE prevention = 'moved' "
                                      "AND audit_id = (SELECT arg_max(audit_id, seq) FROM audits)")) == {
        (moved,), (workflow,)}


def test_a_workspace_audited_before_finding_seen_existed_starts_the_fold_over(twins):
    """A version without `finding_seen` folded the rest: its next audit must not read the
    folded audits from an empty `finding_seen`, but every audit, and fold them all again."""
    with duckdb.connect(str(twins["folded"] / "reckon.duckdb")) as con:
        through = con.execute("SELECT through_seq FROM internal.history_folded").fetchone()[0]
        con.execute("DROP TABLE internal.finding_seen")
    assert through > 1
    for root in twins.values():
        advance(root, 7, SEED)
    audit = audit_both(twins)[0]
    assert history(twins["folded"]) == history(twins["rebuilt"])
    assert folded_through(twins["folded"]) == audit["seq"] - 1
    assert query(twins["folded"], "SELECT count(*) FROM finding_seen") == query(
        twins["folded"], "SELECT count(*) FROM finding_latest")


def test_a_rerun_under_another_catalog_keeps_the_values_of_the_findings_it_drops(twins):
    """The fold keeps the values only of the findings an audit lacks. The latest
    audit re-run with no step required any more (same snapshots, so the same audit) drops
    findings it had, as did the audit before it: their stored results still show the
    values compared, taken from their history rows."""
    latest = query(twins["folded"], "SELECT finding_id FROM findings")
    before = query(twins["folded"], """
        SELECT finding_id FROM findings_history
        WHERE audit_id = (SELECT audit_id FROM audits WHERE seq = (SELECT max(seq) - 1 FROM audits))""")
    for root in twins.values():
        config = yaml.safe_load((root / "reckon.yaml").read_text())
        for workflow in config["catalog"].values():
            for step in workflow["steps"]:
                step["required"] = False
        (root / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    seq = folded_through(twins["folded"]) + 1
    assert audit_both(twins)[0]["seq"] == seq, "the same audit, re-run"
    dropped = {f for (f,) in (set(latest) & set(before)) - set(query(twins["folded"], "SELECT finding_id FROM findings"))}
    assert dropped, "the re-run must drop findings that the two audits before had"
    assert history(twins["folded"]) == history(twins["rebuilt"])
    with_values = query(twins["folded"], "SELECT count(*) FROM stored_results WHERE finding_id IN (SELECT unnest(?)) "
                                         "AND intended IS NOT NULL AND observed IS NOT NULL", [sorted(dropped)])
    assert with_values == [(len(dropped),)]


def test_lifecycle_rows_of_an_audit_never_published_are_dropped(tmp_path):
    """An audit stops after its metrics step (its lifecycle rows written, never published);
    the next audit, of a new day, takes the same `seq`: only its own rows remain at it."""
    root = tmp_path / "ws"
    simulate(root, 30, SEED)
    run_audit(Workspace.open(root))
    advance(root, 2, SEED)
    ws = Workspace.open(root)
    run = AuditRun(ws)
    try:
        for step in audit_steps(ws.config):
            run_step(step, run)
            if step.name == "reconciliation_metrics":
                break
    finally:
        run.close()
    stopped = query(root, "SELECT DISTINCT audit_id FROM lifecycle_events WHERE seq = 2")
    assert len(stopped) == 1 and not query(root, "SELECT * FROM audits WHERE seq = 2")
    advance(root, 3, SEED)
    audit = run_audit(Workspace.open(root))
    assert audit["seq"] == 2 and audit["audit_id"] != stopped[0][0]
    assert query(root, "SELECT DISTINCT audit_id FROM lifecycle_events WHERE seq = 2") == [(audit["audit_id"],)]
