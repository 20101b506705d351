"""Reconciliation over time: three simulated days, audited one after the other."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon.workspace import Workspace
from simulator import simulate
from simulator.hubspot import contact_from_object, contact_object
from simulator.model import rfc3339
from simulator.stripe import refund_from_object, refund_object
from simulator.timeline import DayResult, advance, timeline_path
from simulator.zendesk import ticket_from_object, ticket_object

RUNS, SEED, DAYS = 60, 5, 3


@dataclass
class Timeline:
    root: Path
    days: list[DayResult]
    day1: dict[str, tuple[str, float]]  # day-1 landing file -> (sha256, mtime) before day 2

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.root / "reckon.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def facts(self) -> list[dict]:
        return [json.loads(line) for line in timeline_path(self.root).read_text().splitlines()]


def landing(root: Path) -> dict[str, tuple[str, float]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted((root / "landing").rglob("*")) if p.is_file()}  # fmt: skip


def run_timeline(root: Path) -> Timeline:
    simulate(root, RUNS, SEED)
    run_audit(Workspace.open(root))
    day1 = landing(root)
    days = []
    for day in range(2, DAYS + 1):
        days.append(advance(root, day, SEED))
        run_audit(Workspace.open(root))
    return Timeline(root, days, day1)


@pytest.fixture(scope="module")
def timelines(tmp_path_factory) -> list[Timeline]:
    """The same seed twice, in different folders."""
    return [run_timeline(tmp_path_factory.mktemp(name) / "ws") for name in ("a", "b")]


@pytest.fixture(scope="module")
def tl(timelines) -> Timeline:
    return timelines[0]


def test_three_audits_over_three_days(tl):
    audits = tl.query("SELECT as_of FROM audits ORDER BY as_of")
    assert len(audits) == DAYS
    assert [b[0] - a[0] for a, b in itertools.pairwise(audits)] == [timedelta(days=1)] * (DAYS - 1)
    assert [d.export_time for d in tl.days] == [a[0] for a in audits[1:]]


def test_every_timeline_fact_holds(tl):
    facts = tl.facts()
    assert facts and {f["day"] for f in facts} == set(range(2, DAYS + 1))
    cols = "subject_kind, subject_id, mismatch_type, status, resolution"
    events: dict[tuple, list[tuple]] = {}
    for as_of, *row in tl.query(f"SELECT strftime(as_of, '%Y-%m-%dT%H:%M:%SZ'), {cols} FROM lifecycle_events"):
        events.setdefault((as_of, *row[:3]), []).append(tuple(row[3:]))
    latest = {tuple(r[:3]): tuple(r[3:]) for r in tl.query(f"SELECT {cols} FROM finding_lifecycle")}
    last = max(f["as_of"] for f in facts)
    failed = []
    for fact in facts:
        key = (fact["finding"]["subject_kind"], fact["finding"]["subject_id"], fact["finding"]["mismatch_type"])
        expected = (fact["expect"]["status"], fact["expect"].get("resolution"))
        rows = events.get((fact["as_of"], *key), [])
        if fact["as_of"] == last:  # the finding's latest state is this day's
            rows = [*rows, latest.get(key)]
        if not rows or any(r != expected for r in rows):
            failed.append((fact, rows))
    assert not failed, failed


def test_the_timeline_has_every_kind_of_fact(tl):
    seen = {(f["day"], f["finding"]["mismatch_type"], f["expect"]["status"], f["expect"].get("resolution"))
            for f in tl.facts()}  # fmt: skip
    for mismatch in ("receipt_missing", "stale_run_status", "field_drift", "duplicate_effect", "attempt_lost"):
        assert (2, mismatch, "resolved", "auto") in seen, mismatch
    # patched to needs_reconciliation, the run's finding becomes stale or stuck
    assert (2, "false_completion", "resolved", "superseded") in seen
    assert (2, "unknown_outcome", "resolved", "self_healed") in seen  # the late webhook
    assert (2, "unknown_outcome", "resolved", "superseded") in seen  # the attempt that never landed
    assert (2, "out_of_band_change", "resolved", "human") in seen  # the operator's decision
    assert (3, "stale_run_status", "regressed", None) in seen
    assert {day for day, _, status, _ in seen if status == "new"} == {2, 3}


def test_applied_repairs_are_reported_with_their_action_ids(tl):
    applied = {o.action_id for d in tl.days for o in d.verdicts("applied")}
    reported = {a for (a,) in tl.query("SELECT action_id FROM applied_repairs")}
    assert applied and applied == reported
    # the webhook's receipt names no action: its finding healed by itself
    assert tl.query("SELECT count(*) FROM events WHERE type = 'receipt.recorded' AND extra IS NULL "
                    "AND ts > (SELECT min(as_of) FROM audits)")[0][0] >= 1  # fmt: skip


def test_metrics_measure_time_to_reconcile(tl):
    rows = tl.query("SELECT m.value FROM metrics m JOIN audits a USING (audit_id) "
                    "WHERE m.metric = 'time_to_reconcile_mean_seconds' AND m.workflow = '*' ORDER BY a.as_of")  # fmt: skip
    assert rows[0] == (None,)  # nothing can be reconciled in the first audit
    assert rows[-1][0] is not None and rows[-1][0] > 0


def test_day_one_files_are_never_rewritten(tl):
    now = landing(tl.root)
    assert {k: now[k] for k in tl.day1} == tl.day1
    later = set(now) - set(tl.day1)
    assert later and all("-day2" in k or "-day3" in k for k in later)
    for result in tl.days:  # each day's files carry that day's export time
        stamped = {p.stat().st_mtime for p in result.files if "landing" in p.parts}
        assert stamped == {result.export_time.timestamp()}


def test_same_seed_same_days(timelines):
    a, b = timelines
    assert landing(a.root) == landing(b.root)  # bytes and mtimes of every day's files
    decisions = [{p.name: p.read_bytes() for p in sorted((t.root / "decisions").glob("*"))} for t in timelines]
    assert decisions[0] and decisions[0] == decisions[1]
    assert timeline_path(a.root).read_bytes() == timeline_path(b.root).read_bytes()
    for sql in ("SELECT audit_id, as_of FROM audits ORDER BY as_of",
                "SELECT h.audit_id, h.finding_id FROM findings_history h ORDER BY ALL"):  # fmt: skip
        assert a.query(sql) == b.query(sql)


def test_a_void_action_is_skipped(tmp_path):
    """Someone changes a run's status after the audit: its status patch no longer applies."""
    root = tmp_path / "ws"
    simulate(root, RUNS, SEED)
    run_audit(Workspace.open(root))
    plan = next((root / "exports").glob("repair-plan-*.jsonl")).read_text().splitlines()
    patch = next(a for a in map(json.loads, plan)
                 if a["pattern"] == "status_patch" and a["mismatch_type"] == "stale_run_status")  # fmt: skip
    as_of = max(p.stat().st_mtime for p in (root / "landing").rglob("*") if p.is_file())
    operator = root / "landing" / "events" / "log-operator.jsonl"
    event = {"event_id": "ev_operator0000001", "ts": rfc3339(datetime.fromtimestamp(as_of + 600, UTC)), "type": "run.failed",
             "run_id": patch["run_id"], "workflow": patch["workflow"], "status": "failed", "actor": "ops.lead"}  # fmt: skip
    operator.write_text(json.dumps(event) + "\n")
    os.utime(operator, (as_of + 600, as_of + 600))

    result = advance(root, 2, SEED)
    outcome = next(o for o in result.outcomes if o.action_id == patch["action_id"])
    assert outcome.verdict == "void" and "run_status is failed" in outcome.reason
    written = "".join(p.read_text() for p in (root / "landing" / "events").glob("log-day2-*.jsonl"))
    assert patch["action_id"] not in written
    assert any(o.verdict == "applied" for o in result.outcomes)
    with pytest.raises(ValueError, match="already written"):
        advance(root, 2, SEED)


def test_advance_needs_an_audit(tmp_path):
    root = tmp_path / "ws"
    simulate(root, 10, SEED)
    with pytest.raises(ValueError, match="no audit"):
        advance(root, 2, SEED)


def test_vendor_objects_round_trip(tl):
    """Later days change objects rebuilt from the exports: the rebuild loses nothing."""
    pages = sorted((tl.root / "landing").glob("hubspot/contacts-page-*.json"))
    contacts = [c for p in pages for c in json.loads(p.read_text())["results"]]
    assert contacts and all(contact_object(contact_from_object(c)) == c for c in contacts)
    tickets = json.loads((tl.root / "landing" / "zendesk" / "tickets-page-1.json").read_text())["tickets"]
    assert tickets and all(ticket_object(ticket_from_object(t)) == t for t in tickets)
    refunds = json.loads((tl.root / "landing" / "stripe" / "refunds-list.json").read_text())["data"]
    for r in refunds:
        refund = refund_from_object(r)
        assert refund_object(refund, refund.states[-1]) == r
