"""`reckon execute`: the dry run, preconditions re-checked live, approvals, vendor faults, the
ledger, and the feedback the next audit reads. Against the mock vendors on 127.0.0.1,
seeded from a simulated, audited workspace."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from executor import PlanError, UnreadFeedback, execute
from executor.ledger import Ledger, LedgerError
from executor.systems import open_systems
from pipelines import cli
from pipelines.runner import run_audit
from reckon.locking import WorkspaceBusy, workspace_lock
from reckon.workspace import Workspace
from tests.executing import (
    TOKEN_ENV,
    FakeClock,
    api_settings,
    approve,
    copy_workspace,
    feedback,
    ledger,
    plan,
    plan_path,
    states,
    vendors,
    writes,
)

RUNS, SEED = 300, 7  # a plan with every pattern the executor can carry out


@pytest.fixture
def root(audited, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "test-token")
    return copy_workspace(audited(SEED, RUNS).ws.root, tmp_path / "ws")


def run(root: Path, server, *, apply: bool, clock: FakeClock | None = None, **options):
    ws = Workspace.open(root)
    settings = options.pop("settings", {})
    systems = open_systems(ws, api_settings(server, **settings), clock=clock or FakeClock())
    out = io.StringIO()
    report = execute(ws, plan_path(root), apply=apply, systems=systems, out=out, **options)
    return report, out.getvalue().splitlines()


def verdicts(report) -> dict[str, tuple[str, str]]:
    return {o.action["action_id"]: (o.verdict, o.reason) for o in report.outcomes}


def pick(root: Path, mismatch_type: str, system: str) -> dict:
    return next(a for a in plan(root) if a["mismatch_type"] == mismatch_type and a["target_system"] == system
                and a["pattern"] == "forward_completion")  # fmt: skip


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(root):
    actions = plan(root)
    approve(
        root,
        [a for a in actions if a["requires_approval"] and a["pattern"] == "forward_completion"],
    )
    before = files(root)
    with vendors(root) as server:
        report, lines = run(root, server, apply=False)
        assert writes(server) == [] and not server.effects
    assert files(root) == before  # no ledger, no feedback events, no lock file
    assert len(lines) == len(report.outcomes) == len(actions)
    for line, outcome in zip(lines, report.outcomes, strict=True):
        assert line.startswith(f"{outcome.action['action_id']}  {outcome.action['pattern']}")
    counts = report.counts()
    assert counts["would apply"] > 80 and counts["person"] > 0 and counts["waits"] > 0, counts
    why = {o.action["pattern"]: o for o in report.outcomes if o.verdict == "would apply"}
    assert {"receipt_backfill", "status_patch", "forward_completion"} <= set(why)
    person = [o for o in report.outcomes if o.verdict == "person"]
    assert {o.action["pattern"] for o in person} >= {"human_adjudication", "compensation"}
    assert all(o.reason for o in person)


def test_a_precondition_that_no_longer_holds_voids_the_action_without_a_call(root):
    drift = [
        a
        for a in plan(root)
        if a["mismatch_type"] == "field_drift" and a["target_system"] == "hubspot"
    ]
    assert len(drift) >= 2
    changed, unchanged = drift[0], drift[1:]
    approve(root, drift)
    with vendors(root) as server:
        server.edit(
            "hubspot", changed["target_external_id"], {"properties": {"jobtitle": "Chief of Staff"}}
        )
        report, _ = run(root, server, apply=True, only="field_drift")
        patched = {path for vendor, method, path in writes(server) if method == "PATCH"}
        assert server.effects[("hubspot", changed["target_external_id"])] == 0
        assert all(server.effects[("hubspot", a["target_external_id"])] == 1 for a in unchanged)
    assert not any(path.endswith(f"/{changed['target_external_id']}") for path in patched)
    verdict, reason = verdicts(report)[changed["action_id"]]
    assert verdict == "void" and reason == "observed_state is changed, not present"
    entries = [e for e in ledger(root) if e["action_id"] == changed["action_id"]]
    assert [e["state"] for e in entries] == ["planned", "void"] and entries[-1]["reason"] == reason
    assert changed["action_id"] not in {e["action_id"] for e in feedback(root)}


def test_a_runtime_write_is_void_when_the_run_moved_on(root):
    patch = next(a for a in plan(root) if a["pattern"] == "status_patch" and a["subject_kind"] == "run"
                 and a["parameters"]["to_status"] == "needs_reconciliation")  # fmt: skip
    late = {"event_id": "ev_late_escalation", "ts": "2026-12-01T08:00:00Z", "type": "run.escalated",
            "run_id": patch["run_id"], "workflow": patch["workflow"], "status": "escalated"}  # fmt: skip
    (root / "landing" / "events" / "late.jsonl").write_text(json.dumps(late) + "\n")
    with vendors(root) as server:
        report, _ = run(root, server, apply=True, only="false_completion")
    assert verdicts(report)[patch["action_id"]] == ("void", "run_status is escalated, not complete")
    applied = {e["action_id"] for e in feedback(root)}
    assert patch["action_id"] not in applied
    others = [o for o in report.outcomes if o.action["action_id"] != patch["action_id"]]
    assert others and all(o.verdict == "applied" for o in others)
    assert {o.action["action_id"] for o in others} == applied


def test_an_action_that_requires_approval_waits_for_one(root, capsys):
    refund = pick(root, "attempt_lost", "stripe")
    key = refund["idempotency_key"]
    with vendors(root) as server:
        report, _ = run(root, server, apply=True, only="attempt_lost")
        assert verdicts(report)[refund["action_id"]] == (
            "waits",
            "approval (approvals/ or an operator decision)",
        )
        assert server.effects_by_key[key] == 0 and refund["action_id"] not in states(root)
        (root / "approvals").mkdir()
        unsigned = json.dumps(
            {"action_id": refund["action_id"], "approved_at": "2026-12-01T09:00:00Z"}
        )
        (root / "approvals" / "bad.jsonl").write_text(unsigned + '\n{"action_id": \n')
        run(root, server, apply=True, only="attempt_lost")
        assert server.effects_by_key[key] == 0, "a line without approved_by approves nothing"
        assert "ignored approvals/bad.jsonl:1: 'approved_by' is required" in capsys.readouterr().err
        approve(root, [refund])
        report, _ = run(root, server, apply=True, only="attempt_lost")
        assert verdicts(report)[refund["action_id"]] == ("applied", "")
        assert server.effects_by_key[key] == 1
        (created,) = [
            r
            for r in server.state.refunds.values()
            if r["metadata"].get("reckon_idempotency_key") == key
        ]
        assert created["metadata"]["reckon_intent_id"] == refund["subject_id"]
        assert created["amount"] == refund["parameters"]["expected"]["amount"]
    (event,) = [e for e in feedback(root) if e["action_id"] == refund["action_id"]]
    assert event["type"] == "action.succeeded" and event["approved_by"] == "ops.lead"
    assert event["receipt"] == {"external_id": created["id"]} and event["idempotency_key"] == key


def test_an_operator_decision_to_retry_approves_the_retry(root):
    ticket = pick(root, "attempt_lost", "zendesk")
    decision = {"finding_id": ticket["finding_id"], "decision": "retry", "operator": "ana",
                "decided_at": "2026-12-01T09:00:00Z"}  # fmt: skip
    (root / "decisions").mkdir(exist_ok=True)
    (root / "decisions" / "ana.jsonl").write_text(json.dumps(decision) + "\n")
    with vendors(root) as server:
        report, _ = run(root, server, apply=True, only="attempt_lost")
        assert verdicts(report)[ticket["action_id"]] == ("applied", "")
        assert server.state.tickets[ticket["target_external_id"]]["status"] == "solved"
        assert server.effects[("zendesk", ticket["target_external_id"])] == 1
    (event,) = [e for e in feedback(root) if e["action_id"] == ticket["action_id"]]
    assert event["approved_by"] == "ana"


def test_rate_limits_and_server_errors_are_waited_out_and_applied_once(root):
    refund = pick(root, "attempt_lost", "stripe")
    approve(root, [refund])
    clock = FakeClock()
    with vendors(root) as server:
        server.inject("status", vendor="stripe", method="POST", status=429, retry_after=7)
        server.inject("status", vendor="stripe", method="POST", status=503)
        report, _ = run(root, server, apply=True, only="attempt_lost", clock=clock)
        assert server.effects_by_key[refund["idempotency_key"]] == 1
        assert server.request_count(vendor="stripe", method="POST") == 3
    assert verdicts(report)[refund["action_id"]] == ("applied", "")
    assert 7.0 in clock.sleeps


def test_a_timeout_after_commit_is_replayed_by_the_key_not_repeated(root):
    refund = pick(root, "attempt_lost", "stripe")
    approve(root, [refund])
    with vendors(root) as server:
        server.inject("drop_after_commit", vendor="stripe", method="POST")
        report, _ = run(root, server, apply=True, only="attempt_lost")
        # The transport sent it again with the same key: Stripe answered with the first refund.
        assert server.request_count(vendor="stripe", method="POST") == 2
        assert server.effects_by_key[refund["idempotency_key"]] == 1
    assert verdicts(report)[refund["action_id"]] == ("applied", "")
    (entry,) = [
        e
        for e in ledger(root)
        if e["action_id"] == refund["action_id"] and e["state"] == "succeeded"
    ]
    assert entry["result"]["replayed"] is True


def test_an_unanswered_call_stays_started_and_the_next_run_finds_it_landed(root):
    refund = pick(root, "attempt_lost", "stripe")
    approve(root, [refund])
    with vendors(root) as server:
        server.inject("drop_after_commit", vendor="stripe", method="POST")
        report, _ = run(root, server, apply=True, only="attempt_lost", settings={"max_retries": 0})
        verdict, reason = verdicts(report)[refund["action_id"]]
        assert verdict == "unknown" and "left started" in reason and report.failed
        assert states(root)[refund["action_id"]] == "started"
        assert refund["action_id"] not in {e["action_id"] for e in feedback(root)}
        dry, _ = run(root, server, apply=False, only="attempt_lost")
        assert verdicts(dry)[refund["action_id"]][0] == "unknown"
        report, _ = run(root, server, apply=True, only="attempt_lost")
        assert verdicts(report)[refund["action_id"]] == ("applied", "recovered: it had landed")
        assert server.request_count(vendor="stripe", method="POST") == 1  # found, not sent again
        assert server.effects_by_key[refund["idempotency_key"]] == 1
    assert [e["action_id"] for e in feedback(root)].count(refund["action_id"]) == 1


def test_the_next_audit_reads_what_was_applied(root):
    backfills = [a for a in plan(root) if a["pattern"] == "receipt_backfill"]
    with vendors(root) as server:
        report, _ = run(root, server, apply=True, only="receipt_missing")
    applied = {o.action["action_id"] for o in report.outcomes if o.verdict == "applied"}
    assert applied == {a["action_id"] for a in backfills}
    run_audit(Workspace.open(root))
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        reported = {r[0] for r in con.execute("SELECT action_id FROM applied_repairs").fetchall()}
        still_open = con.execute("SELECT subject_id FROM findings WHERE status = 'open' AND subject_id IN "
                                 "(SELECT unnest(?))", [[a["subject_id"] for a in backfills]]).fetchall()  # fmt: skip
    assert reported == applied
    assert still_open == []


def test_only_and_limit_select_actions(root):
    with vendors(root) as server:
        report, lines = run(root, server, apply=False, only="receipt_*", limit=3)
    assert len(lines) == 3 and {o.action["pattern"] for o in report.outcomes} == {
        "receipt_backfill"
    }


def test_apply_refuses_a_workspace_whose_log_does_not_read_the_feedback(root):
    config = yaml.safe_load((root / "reckon.yaml").read_text())
    config["sources"]["workflow_log"]["paths"] = [
        "landing/events/*.jsonl",
        "landing/events/*.jsonl.gz",
    ]
    (root / "reckon.yaml").write_text(yaml.safe_dump(config))
    with (
        vendors(root) as server,
        pytest.raises(UnreadFeedback, match=r"landing/executor/\*\.jsonl"),
    ):
        run(root, server, apply=True)
    assert not (root / "landing" / "executor").exists() or not any(
        (root / "landing" / "executor").iterdir()
    )
    assert ledger(root) == []


def test_one_executor_at_a_time(root):
    busy = r"another executor \(pid \d+\) holds .*executor/\.reckon\.lock"
    with (
        workspace_lock(root / "executor", holder="executor"),
        vendors(root) as server,
        pytest.raises(WorkspaceBusy, match=busy),
    ):
        run(root, server, apply=True, lock_timeout=0.3)


def test_a_damaged_plan_is_refused_whole(root, capsys):
    lines = plan_path(root).read_text().splitlines()
    broken = json.loads(lines[3])
    broken["preconditions"][0]["checked_against"] = "vendor" if broken["preconditions"][0]["check"] in (
        "run_status", "recorded_outcome") else "workflow_log"  # fmt: skip
    bad = root / "exports" / "bad-plan.jsonl"
    bad.write_text("\n".join([*lines[:3], json.dumps(broken), *lines[4:]]) + "\n")
    with pytest.raises(
        PlanError, match=r"bad-plan\.jsonl:4: a \w+ precondition is checked against"
    ):
        execute(Workspace.open(root), bad)
    assert cli.main(["execute", "--workspace", str(root), "--plan", str(bad)]) == cli.BAD_INPUT
    assert (
        cli.main(["execute", "--workspace", str(root), "--plan", str(root / "none.jsonl")])
        == cli.BAD_INPUT
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        cli.main(["execute", "--workspace", str(root), "--plan", str(bad), "--limit", "-1"])
        == cli.BAD_INPUT
    )


def test_the_ledger_cuts_a_torn_last_line_and_refuses_a_skipped_state(tmp_path):
    action = {"action_id": "act_" + "0" * 24, "audit_id": "aud_" + "0" * 20, "pattern": "status_patch",
              "idempotency_key": "reckon_x"}  # fmt: skip
    book = Ledger(tmp_path)
    book.open()
    book.record(action, "planned")
    book.close()
    with book.path.open("ab") as f:
        f.write(b'{"action_id": "act_0000000')  # killed mid-write
    again = Ledger(tmp_path)
    assert again.state == {action["action_id"]: "planned"}
    again.open()
    with pytest.raises(LedgerError, match="planned → succeeded is not a transition"):
        again.record(action, "succeeded")
    again.record(action, "started")
    again.close()
    assert [json.loads(line)["state"] for line in book.path.read_text().splitlines()] == [
        "planned",
        "started",
    ]


def test_execute_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["execute", "--help"])
    text = capsys.readouterr().out
    assert "--apply" in text and "--only PATTERN" in text and "--limit N" in text


def test_the_live_demo_closes_the_loop(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    root = tmp_path / "ws"
    assert cli.main(["demo", "--workspace", str(root), "--runs", "60", "--seed", "7", "--days", "1", "--live",
                     "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    steps = [line.split()[1] for line in out.splitlines() if line.startswith("live  ")]
    assert steps == ["vendors", "verify", "execute", "export", "re-audit"], out
    applied = re.search(r"^live  execute .*: applied (\d+)", out, re.MULTILINE)
    assert applied and int(applied[1]) > 0, out
    with duckdb.connect(str(root / "reckon-read.duckdb"), read_only=True) as con:
        reported = con.execute("SELECT count(*) FROM applied_repairs").fetchone()[0]
    assert reported == int(applied[1])
    assert "live snapshot" in out and "# reckon audit" in out


def test_a_void_action_is_tried_again_when_a_later_plan_names_it_but_never_a_succeeded_one(root):
    patches = [a for a in plan(root) if a["mismatch_type"] == "false_completion"]
    moved, done = patches[0], patches[1]
    late = root / "landing" / "events" / "late.jsonl"
    late.write_text(json.dumps({"event_id": "ev_late", "ts": "2026-12-01T08:00:00Z", "type": "run.escalated",
                                "run_id": moved["run_id"], "workflow": moved["workflow"]}) + "\n")  # fmt: skip
    with vendors(root) as server:
        run(root, server, apply=True, only="false_completion")
        assert (
            states(root)[moved["action_id"]] == "void"
            and states(root)[done["action_id"]] == "succeeded"
        )
        # The late event was a mistake and is withdrawn; the next audit plans the same actions
        # (the same ids: the same findings in the same state).
        late.unlink()
        later = root / "exports" / "repair-plan-aud_ffffffffffffffffffff.jsonl"
        later.write_text(
            "".join(json.dumps({**a, "audit_id": "aud_" + "f" * 20}) + "\n" for a in plan(root))
        )
        ws = Workspace.open(root)
        systems = open_systems(ws, api_settings(server), clock=FakeClock())
        report = execute(
            ws, later, apply=True, only="false_completion", systems=systems, out=io.StringIO()
        )
    assert verdicts(report)[moved["action_id"]] == ("applied", "")
    assert verdicts(report)[done["action_id"]] == ("done", "succeeded (ledger)")
    assert [e["state"] for e in ledger(root) if e["action_id"] == moved["action_id"]] == [
        "planned",
        "void",
        "planned",
        "started",
        "succeeded",
    ]
    events = [e["action_id"] for e in feedback(root)]
    assert events.count(moved["action_id"]) == 1 and events.count(done["action_id"]) == 1


def test_a_read_that_does_not_answer_decides_nothing(root):
    drift = [
        a
        for a in plan(root)
        if a["mismatch_type"] == "field_drift" and a["target_system"] == "hubspot"
    ]
    approve(root, drift)
    with vendors(root) as server:
        server.inject("status", vendor="hubspot", method="GET", status=503, times=1000)
        dry, _ = run(root, server, apply=False, only="field_drift", settings={"max_retries": 0})
        report, _ = run(root, server, apply=True, only="field_drift", settings={"max_retries": 0})
        assert not server.effects and report.failed
    for outcomes in (dry, report):
        for action in drift:
            verdict, reason = verdicts(outcomes)[action["action_id"]]
            assert verdict == "unknown" and reason.startswith(
                f"could not read hubspot {action['target_external_id']}"
            )
    assert {states(root)[a["action_id"]] for a in drift} == {"planned"}
    assert not (root / "landing" / "executor").exists() or not list(
        (root / "landing" / "executor").iterdir()
    )
