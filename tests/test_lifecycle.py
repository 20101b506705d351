"""Finding lifecycle across audits: new, ongoing, resolved (auto, human, self-healed), regressed;
operator decisions that hold and lapse; time to reconcile from known timestamps."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon.database import search_internal
from reckon.workspace import Workspace

T1 = datetime(2026, 11, 20, 12, tzinfo=UTC)
DAY = timedelta(days=1)
CONFIG = """
version: 1
correlation: {key_pattern: "(int|idem)_[0-9a-z_]+"}
sources:
  log: {connector: event_log, paths: ["landing/events/*.jsonl"]}
  refunds: {connector: stripe, system: stripe, paths: ["landing/stripe/*.json"]}
systems:
  stripe:
    object_type: refund
    correlation_paths: ["metadata.reckon_intent_id"]
    natural_key: ["charge"]
    settle_window: 1h
catalog:
  refund_only:
    completion_window: 2h
    steps:
      - {step: issue_refund, action: stripe.refund.create, required: true, reversible: true,
         compensation: stripe.refund.reverse, safe_to_retry: true}
"""


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def run_events(key: str, outcome: str, receipt: str | None = None) -> list[dict]:
    """One run of one intent `int_<key>`, started 5 h before T1 and recorded complete."""
    start = T1 - timedelta(hours=5)
    base = {"run_id": f"run_{key}", "workflow": "refund_only"}
    events = [
        {**base, "event_id": f"ev_{key}_0", "ts": iso(start), "type": "run.started"},
        {**base, "event_id": f"ev_{key}_1", "ts": iso(start + timedelta(minutes=1)), "type": "intent.declared",
         "intent_id": f"int_{key}", "step": "issue_refund", "action": "stripe.refund.create", "system": "stripe",
         "idempotency_key": f"idem_{key}", "expected": {"charge": f"ch_{key}", "amount": 1000, "currency": "usd"}},
        {**base, "event_id": f"ev_{key}_2", "ts": iso(start + timedelta(minutes=2)), "type": "action.attempted",
         "intent_id": f"int_{key}", "attempt": 1},
        {**base, "event_id": f"ev_{key}_3", "ts": iso(start + timedelta(minutes=3)), "type": outcome,
         "intent_id": f"int_{key}", "attempt": 1, **({"receipt": {"external_id": receipt}} if receipt else {})},
        {**base, "event_id": f"ev_{key}_4", "ts": iso(start + timedelta(minutes=4)), "type": "run.completed",
         "status": "completed"},
    ]
    return events


def refund(key: str, status: str, amount: int = 1000) -> dict:
    return {"id": f"re_{key}", "object": "refund", "amount": amount, "currency": "usd", "charge": f"ch_{key}",
            "created": int((T1 - timedelta(hours=4)).timestamp()), "status": status,
            "metadata": {"reckon_intent_id": f"int_{key}"}}


class Timeline:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "landing" / "events").mkdir(parents=True)
        (root / "landing" / "stripe").mkdir(parents=True)
        (root / "reckon.yaml").write_text(CONFIG)

    def write(self, rel: str, text: str, at: datetime) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (at.timestamp(), at.timestamp()))

    def events(self, day: int, events: list[dict], at: datetime) -> None:
        self.write(f"landing/events/day{day}.jsonl", "\n".join(json.dumps(e) for e in events) + "\n", at)

    def refunds(self, day: int, refunds: list[dict], at: datetime) -> None:
        self.write(f"landing/stripe/day{day}.json", json.dumps({"object": "list", "data": refunds}), at)

    def audit(self) -> dict:
        return run_audit(Workspace.open(self.root))

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.root / "reckon.duckdb"), read_only=True) as con:
            search_internal(con)
            return con.execute(sql, params or []).fetchall()

    def finding(self, subject: str, kind: str) -> str:
        return self.query("SELECT finding_id FROM lifecycle_events WHERE subject_id = ? AND mismatch_type = ? LIMIT 1",
                          [subject, kind])[0][0]

    def lifecycle(self, finding_id: str) -> dict:
        rows = self.query("SELECT status, resolution, first_seen_at, resolved_at, times_regressed FROM finding_lifecycle "
                          "WHERE finding_id = ?", [finding_id])
        return dict(zip(["status", "resolution", "first_seen_at", "resolved_at", "times_regressed"], rows[0], strict=True))


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    t = Timeline(tmp_path_factory.mktemp("lifecycle"))
    # Day 1: A receipt missing, B outcome unknown (pending), C the agent's refund with another amount (field drift: Stripe names no actor), E failed.
    t.events(1, run_events("a", "action.timed_out") + run_events("b", "action.timed_out")
             + run_events("c", "action.succeeded", "re_c") + run_events("e", "action.succeeded", "re_e"), T1)
    t.refunds(1, [refund("a", "succeeded"), refund("b", "pending"), refund("c", "succeeded", amount=900),
                  refund("e", "failed")], T1)
    t.day1 = t.audit()
    ids = {k: t.finding(*k) for k in [("int_a", "receipt_missing"), ("int_b", "unknown_outcome"),
                                      ("int_c", "field_drift"), ("int_e", "effect_failed")]}
    t.ids = {k[0]: v for k, v in ids.items()}
    backfill = t.query("SELECT action_id FROM repair_actions WHERE finding_id = ?", [t.ids["int_a"]])[0][0]

    # Day 2: the executor backfills A's receipt; B's refund settles and its webhook arrives late;
    # an operator accepts C's outside change; E still failed.
    t2 = T1 + DAY
    t.events(2, [
        {"event_id": "ev_fix_a", "ts": iso(t2 - timedelta(hours=2)), "type": "receipt.recorded", "run_id": "run_a",
         "workflow": "refund_only", "intent_id": "int_a", "receipt": {"external_id": "re_a"}, "action_id": backfill},
        {"event_id": "ev_late_b", "ts": iso(t2 - timedelta(hours=3)), "type": "receipt.recorded", "run_id": "run_b",
         "workflow": "refund_only", "intent_id": "int_b", "receipt": {"external_id": "re_b"}},
    ], t2)
    t.refunds(2, [refund("b", "succeeded")], t2)
    t.write("decisions/decisions.csv", "finding_id,decision,reason,operator,decided_at\n"
            f"{t.ids['int_c']},accept_external_truth,customer agreed to 9.00,ops-7,{iso(T1 + timedelta(hours=1))}\n", t2)
    t.day2 = t.audit()
    t.day2_metrics = dict(t.query("SELECT metric, value FROM metrics WHERE audit_id = ? AND workflow = '*' "
                                  "AND dimension IS NULL", [t.day2["audit_id"]]))
    t.day2_c_status = t.query("SELECT status, lifecycle_status, decision_holds FROM findings WHERE finding_id = ?",
                              [t.ids["int_c"]])

    # Day 3: A is retried (recorded attempted again: the same finding returns); C changes again,
    # so the operator's decision lapses; E's refund finally succeeds.
    t3 = T1 + 2 * DAY
    t.events(3, [{"event_id": "ev_retry_a", "ts": iso(t3 - timedelta(hours=1)), "type": "action.attempted",
                  "run_id": "run_a", "workflow": "refund_only", "intent_id": "int_a", "attempt": 2}], t3)
    t.refunds(3, [refund("c", "succeeded", amount=800), refund("e", "succeeded")], t3)
    t.day3 = t.audit()
    return t


def test_day_one_findings_are_new(timeline):
    rows = timeline.query("SELECT finding_id, status FROM lifecycle_events WHERE audit_id = ?", [timeline.day1["audit_id"]])
    statuses = dict(rows)
    assert all(statuses[f] == "new" for f in timeline.ids.values())


def test_repaired_healed_and_decided_findings_resolve(timeline):
    day2 = dict(timeline.query("SELECT finding_id, status || '/' || coalesce(resolution, '-') FROM lifecycle_events "
                               "WHERE audit_id = ?", [timeline.day2["audit_id"]]))
    assert day2[timeline.ids["int_a"]] == "resolved/auto"  # backfill applied and observed
    assert day2[timeline.ids["int_b"]] == "resolved/self_healed"  # late webhook, no repair
    assert day2[timeline.ids["int_c"]] == "resolved/human"  # decision holds
    assert day2[timeline.ids["int_e"]] == "ongoing/-"
    assert timeline.day2_c_status == [("resolved", "resolved", True)]


def test_time_to_reconcile_from_known_timestamps(timeline):
    # A, B, C and the false completions of runs A and C (C's intent finding was closed by
    # the operator) were first seen at T1 and reconciled at T1 + 1 day.
    assert timeline.day2_metrics["time_to_reconcile_mean_seconds"] == 86400
    assert timeline.day2_metrics["time_to_reconcile_p90_seconds"] == 86400
    assert timeline.day2_metrics["findings_reconciled"] == 5
    assert timeline.day2_metrics["resolved_auto_share"] == pytest.approx(1 / 5)
    assert timeline.day2_metrics["resolved_human_share"] == pytest.approx(1 / 5)
    a = timeline.lifecycle(timeline.ids["int_b"])
    assert a["resolved_at"] - a["first_seen_at"] == DAY


def test_regressions_and_lapsed_decisions(timeline):
    a = timeline.lifecycle(timeline.ids["int_a"])
    assert (a["status"], a["times_regressed"]) == ("regressed", 1)
    c = timeline.lifecycle(timeline.ids["int_c"])
    assert c["status"] == "regressed"  # the evidence changed, so the decision no longer holds
    assert timeline.query("SELECT status, decision_holds FROM findings WHERE finding_id = ?",
                          [timeline.ids["int_c"]]) == [("open", False)]
    e = timeline.lifecycle(timeline.ids["int_e"])
    assert (e["status"], e["resolution"]) == ("resolved", "self_healed")
    # run C's false completion follows its intent: closed by the decision, back when it lapses
    run_c = timeline.lifecycle(timeline.finding("run_c", "false_completion"))
    assert (run_c["status"], run_c["times_regressed"]) == ("regressed", 1)


def test_a_decision_without_new_exports_is_a_later_audit(tmp_path):
    # Same snapshots plus one decision: a new audit id at the same as-of time, ordered after
    # the first; untouched findings stay ongoing (not regressed), the decided one resolves.
    t = Timeline(tmp_path)
    t.events(1, run_events("c", "action.succeeded", "re_c") + run_events("e", "action.succeeded", "re_e"), T1)
    t.refunds(1, [refund("c", "succeeded", amount=900), refund("e", "failed")], T1)
    first = t.audit()
    c = t.finding("int_c", "field_drift")
    t.write("decisions/d.jsonl", json.dumps({"finding_id": c, "decision": "ignore", "reason": "known test refund",
                                             "operator": "ops-1", "decided_at": iso(T1)}) + "\n", T1)
    second = t.audit()
    assert second["audit_id"] != first["audit_id"] and second["as_of"] == first["as_of"]
    assert t.query("SELECT seq FROM audits ORDER BY seq") == [(1,), (2,)]
    statuses = dict(t.query("SELECT subject_id || '/' || mismatch_type, status FROM finding_lifecycle"))
    assert statuses["int_c/field_drift"] == "resolved"
    assert statuses["int_e/effect_failed"] == "ongoing"
    assert statuses["run_c/false_completion"] == "resolved"  # its only intent finding is closed
    assert statuses["run_e/false_completion"] == "ongoing"


def test_decided_findings_get_no_repair_action(timeline):
    # At day 3 C is open again and has an action; B stays resolved and has none.
    assert timeline.query("SELECT count(*) FROM repair_actions WHERE finding_id = ?", [timeline.ids["int_c"]]) == [(1,)]
    assert timeline.query("SELECT count(*) FROM repair_actions WHERE finding_id = ?", [timeline.ids["int_b"]]) == [(0,)]


def test_rerunning_an_audit_does_not_change_the_lifecycle(timeline):
    before = timeline.query("SELECT * FROM lifecycle_events ORDER BY as_of, finding_id")
    again = timeline.audit()
    assert again["audit_id"] == timeline.day3["audit_id"]
    assert timeline.query("SELECT * FROM lifecycle_events ORDER BY as_of, finding_id") == before


def test_daily_metrics_roll_up(timeline):
    days = timeline.query("SELECT DISTINCT day FROM metrics_daily ORDER BY day")
    assert [d for (d,) in days] == [(T1 + i * DAY).date() for i in range(3)]
    reconciled = timeline.query("SELECT value FROM metrics_daily WHERE day = ? AND workflow = '*' "
                                "AND metric = 'findings_reconciled'", [(T1 + DAY).date()])
    assert reconciled == [(5.0,)]


def test_the_prevention_backlog_ranks_types_by_recurrence_over_every_audit(timeline):
    # Counted here from the history tables, independently of the SQL that builds the backlog.
    history = timeline.query("SELECT audit_id, finding_id, coalesce(workflow, '(none)'), mismatch_type, status, "
                             "audit_id = (SELECT audit_id FROM audit_context) FROM findings_history")
    human = {f for (f,) in timeline.query("SELECT finding_id FROM repair_actions_history "
                                          "WHERE pattern = 'human_adjudication' OR requires_approval")}
    (minutes,) = timeline.query("SELECT minutes_per_operator_task FROM cfg_policies")[0]
    prevention = dict(timeline.query("SELECT mismatch_type, prevention FROM mismatch_types"))
    expected: dict[tuple[str, str], dict] = {}
    for audit_id, finding_id, workflow, kind, status, latest in history:
        row = expected.setdefault((workflow, kind), {"findings": set(), "audits": set(), "open": set()})
        row["findings"].add(finding_id)
        row["audits"].add(audit_id)
        if latest and status == "open":
            row["open"].add(finding_id)
    got = {(wf, kind): (rank, text, findings, audits, open_now, cleanup) for rank, wf, kind, text, findings, audits,
           open_now, cleanup in timeline.query("SELECT rank, workflow, mismatch_type, prevention, findings, "
                                               "audits_present, open_now, cleanup_minutes FROM prevention_backlog "
                                               "WHERE audit_id = ?", [timeline.day3["audit_id"]])}
    assert set(got) == set(expected) and len(got) >= 3
    # each audit keeps its own backlog: day 1's counts only day 1
    (day1,) = timeline.query("SELECT sum(findings) FROM prevention_backlog WHERE audit_id = ?",
                             [timeline.day1["audit_id"]])[0]
    assert day1 == timeline.query("SELECT count(DISTINCT finding_id) FROM findings_history WHERE audit_id = ?",
                                  [timeline.day1["audit_id"]])[0][0]
    for key, row in expected.items():
        _, text, findings, audits, open_now, cleanup = got[key]
        assert (text, findings, audits, open_now) == (prevention[key[1]], len(row["findings"]), len(row["audits"]),
                                                     len(row["open"]))
        assert cleanup == minutes * len(row["findings"] & human)
    for workflow in {wf for wf, _ in got}:
        ranked = sorted((v for (wf, _), v in got.items() if wf == workflow), key=lambda v: v[0])
        assert [v[0] for v in ranked] == list(range(1, len(ranked) + 1))
        assert [v[2] for v in ranked] == sorted((v[2] for v in ranked), reverse=True)  # most recurring first


def test_consecutive_audits_with_findings_start_again_after_an_audit_without(tmp_path):
    """Day 1 a receipt is missing; day 2 it arrives (no finding left); days 3 and 4 a new
    run's refund failed. The streak counts back from each audit to the last one without."""
    t = Timeline(tmp_path)
    t.events(1, run_events("x", "action.timed_out"), T1)
    t.refunds(1, [refund("x", "succeeded")], T1)
    days = [t.audit()]
    t.events(2, [{"event_id": "ev_late_x", "ts": iso(T1 + DAY - timedelta(hours=3)), "type": "receipt.recorded",
                  "run_id": "run_x", "workflow": "refund_only", "intent_id": "int_x",
                  "receipt": {"external_id": "re_x"}}], T1 + DAY)
    days.append(t.audit())
    t.events(3, run_events("y", "action.succeeded", "re_y"), T1 + 2 * DAY)
    t.refunds(3, [refund("y", "failed")], T1 + 2 * DAY)
    days.append(t.audit())
    t.write("landing/stripe/day4.json", json.dumps({"object": "list", "data": []}), T1 + 3 * DAY)
    days.append(t.audit())
    findings = [t.query("SELECT count(*) FROM findings_history WHERE audit_id = ?", [d["audit_id"]])[0][0] for d in days]
    assert [n > 0 for n in findings] == [True, False, True, True]
    streak = [t.query("SELECT value FROM metrics WHERE audit_id = ? AND workflow = 'refund_only' "
                      "AND metric = 'consecutive_audits_with_findings'", [d["audit_id"]])[0][0] for d in days]
    assert streak == [1, 0, 1, 2]
