"""The acceptance test of the executor's exactly-once promise: `reckon execute --apply`, as a
subprocess, over a plan of more than 100 actions, killed (SIGKILL) at 20 seeded random
points, then run again until it finishes. A point is one of: right after a vendor committed
a write, before the executor heard back (the mock server kills it from inside the request);
right after the executor's K-th durable write of the run (a ledger line or a feedback
event, tests/kill_hook.py); in the middle of its K-th write (half a ledger line on disk).
Some targets are changed after planning, one of them between two kills.

Then: no effect was applied twice (the mock's counters, and the feedback events); the
ledger's final states match what the vendors and the workflow log show; no action whose
precondition no longer held was applied.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from jsonschema import Draft202012Validator

from tests.deadline import within
from tests.executing import (
    TOKEN_ENV,
    approve,
    configure_apis,
    copy_workspace,
    feedback,
    ledger,
    plan,
    plan_path,
    states,
    vendors,
    writes,
)

RUNS, SEED, KILLS = 300, 7, 20
ROOT = Path(__file__).resolve().parents[1]
VENDOR_ACTIONS = ("forward_completion", "compensation")


class Executor:
    """`reckon execute --apply` in a subprocess, killed when a trigger fires."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen | None = None
        self.killed = threading.Event()

    def start(self, kill_at: int = 0, torn: bool = False) -> None:
        command = [sys.executable, "-m", "tests.kill_hook", "execute", "--workspace", str(self.root),
                   "--plan", str(plan_path(self.root)), "--apply", "--lock-timeout", "30"]  # fmt: skip
        env = {**os.environ, TOKEN_ENV: "test-token", "PYTHONPATH": str(ROOT),
               "RECKON_TEST_KILL_AT": str(kill_at), "RECKON_TEST_KILL_TORN": "1" if torn else ""}  # fmt: skip
        self.killed.clear()
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.killed.set()

    def wait(self) -> tuple[int, str, str]:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out.decode(), err.decode()


class KillAfterWrite:
    """The mock server kills the executor right after committing the write whose number
    (counted over all runs) reaches `at`: before its answer leaves, so the executor never
    hears that the vendor applied it."""

    def __init__(self, server, executor: Executor) -> None:
        self.executor, self.count, self.at = executor, 0, None
        self.serve = server.state.serve
        server.state.serve = self.serving  # the executor sees a connection dropped after commit

    def serving(self, vendor, method, path, *args):
        reply = self.serve(vendor, method, path, *args)
        if (
            method in ("POST", "PATCH", "PUT", "DELETE")
            and not path.endswith("/search")
            and reply.status < 300
        ):
            self.count += 1
            if self.at is not None and self.count >= self.at:
                self.at = None
                self.executor.kill()
        return reply


def change_target(server, action: dict) -> None:
    """Change an action's target on the vendor so that its precondition no longer holds."""
    target = action["target_external_id"]
    if action["target_system"] == "hubspot":
        server.edit("hubspot", target, {"properties": {"jobtitle": "changed by a person"}})
    else:
        server.edit("zendesk", target, {"status": "pending"})


def late_event(root: Path, action: dict, name: str) -> None:
    """A run status event the runtime wrote after planning: the run's status patch is void."""
    event = {"event_id": f"ev_late_{action['run_id']}", "ts": "2026-12-01T08:00:00Z", "type": "run.escalated",
             "run_id": action["run_id"], "workflow": action["workflow"], "status": "escalated"}  # fmt: skip
    with (root / "landing" / "events" / name).open("a") as f:
        f.write(json.dumps(event) + "\n")


def test_killed_twenty_times_each_action_is_applied_once(audited, tmp_path):
    root = copy_workspace(audited(SEED, RUNS).ws.root, tmp_path / "ws")
    actions = plan(root)
    assert len(actions) >= 100
    approve(root, [a for a in actions if a["requires_approval"] and a["pattern"] in VENDOR_ACTIONS])
    rng = random.Random(20261205)
    editable = [a for a in actions if a["pattern"] == "forward_completion" and a["target_external_id"]
                and a["target_system"] in ("hubspot", "zendesk")]  # fmt: skip
    changed_first, changed_later = rng.sample(editable, 3), []
    patches = [a for a in actions if a["pattern"] == "status_patch" and a["subject_kind"] == "run"
               and a["parameters"]["to_status"] == "needs_reconciliation"]  # fmt: skip
    moved_runs = rng.sample(patches, 3)
    for action in moved_runs:
        late_event(root, action, "late.jsonl")

    with vendors(root) as server, within(150):
        configure_apis(root, server)
        for action in changed_first:
            change_target(server, action)
        executor = Executor(root)
        after_write = KillAfterWrite(server, executor)
        kills = 0
        try:
            for n in range(KILLS):
                if n == 3:  # between two kills: another target changes before it is acted on
                    now = states(root)
                    untouched = [
                        a
                        for a in editable
                        if a not in changed_first and now.get(a["action_id"]) in (None, "planned")
                    ]
                    changed_later = rng.sample(untouched, 1)
                    change_target(server, changed_later[0])
                kind = rng.choice(("vendor write", "durable write", "torn write"))
                # Up to a fair share of the durable writes left (about three per action the
                # executor takes on: started, its end, a feedback event), so that every run is
                # killed before the plan is done, and the kills spread over the whole plan.
                now = states(root)
                left = sum(state in ("planned", "started") for state in now.values()) if now else len(actions) // 2
                at = rng.randint(1, max(1, 3 * left // (KILLS - n)))
                if kind == "vendor write" and not _vendor_writes_left(actions, states(root)):
                    kind = "durable write"  # the rest of the plan writes to the runtime only
                if kind == "vendor write":
                    after_write.at = after_write.count + 1
                    executor.start()
                else:
                    executor.start(kill_at=at, torn=kind == "torn write")
                code, out, err = executor.wait()
                after_write.at = None
                if code == -signal.SIGKILL:
                    kills += 1
                else:  # it finished before the point: no vendor write was left, say
                    assert code in (0, 1), err
            executor.start()
            code, out, err = executor.wait()
            assert code == 0, err
            assert not re.search(r"  (failed|unknown)\b", out), out
        finally:  # a failed assertion leaves no executor running
            executor.kill()
        effects, by_key = Counter(server.effects), Counter(server.effects_by_key)
        write_log = writes(server)
    assert kills == KILLS, f"only {kills} of {KILLS} runs were killed before they finished"

    final = states(root)
    events = Counter(e["action_id"] for e in feedback(root))
    actionable = {a["action_id"] for a in actions if a["action_id"] in final}
    assert len(actionable) >= 100
    assert sum(e["state"] == "planned" for e in ledger(root)) == len(actionable), "planned twice"
    # Every action the executor took on reached a terminal state.
    assert {final[a] for a in actionable} <= {"succeeded", "void", "failed"}
    # No effect applied twice: vendor counters, and the runtime writes (feedback events).
    assert max(effects.values()) == 1 and max(by_key.values()) == 1, (effects, by_key)
    assert max(events.values()) == 1
    # Every feedback event is a valid workflow-log event (the spec's schema; `action_id` and
    # `approved_by` are extra fields).
    schema = Draft202012Validator(json.loads((ROOT / "docs" / "event-log.schema.json").read_text()))
    for event in feedback(root):
        assert not list(schema.iter_errors(event)), event
    assert {e["type"] for e in feedback(root)} >= {"receipt.recorded", "run.needs_reconciliation", "run.completed",
                                                  "action.succeeded"}  # fmt: skip
    for action in actions:
        aid, state = action["action_id"], final.get(action["action_id"])
        if action["pattern"] in VENDOR_ACTIONS and aid in final:
            applied = _applied_at_vendor(action, effects, by_key)
            assert applied == (state == "succeeded"), (aid, state, applied)
        if aid in final:
            assert (events[aid] == 1) == (state == "succeeded"), (aid, state, events[aid])
    # No action applied whose precondition no longer held when it acted.
    for action in [*changed_first, *changed_later, *moved_runs]:
        assert final[action["action_id"]] == "void", action["action_id"]
        assert events[action["action_id"]] == 0
        assert _applied_at_vendor(action, effects, by_key) is False
    touched = {path.rsplit("/", 1)[-1].removesuffix(".json") for _, _, path in write_log}
    assert not touched & {a["target_external_id"] for a in [*changed_first, *changed_later]}
    # Kills between a write and its ledger line happened, and were recovered by a re-read.
    recovered = {e["pattern"] for e in ledger(root) if e["reason"] == "recovered: it had landed"}
    assert "forward_completion" in recovered and recovered & {"receipt_backfill", "status_patch"}, (
        recovered
    )
    # The ledger tells the story in order: planned, started, then one terminal state.
    for aid in actionable:
        sequence = [e["state"] for e in ledger(root) if e["action_id"] == aid]
        assert sequence in (["planned", "void"], ["planned", "started", sequence[-1]]), (
            aid,
            sequence,
        )


def _vendor_writes_left(actions: list[dict], now: dict[str, str]) -> bool:
    return any(
        a["pattern"] in VENDOR_ACTIONS and now.get(a["action_id"]) in ("planned", "started")
        for a in actions
    )


def _applied_at_vendor(action: dict, effects: Counter, by_key: Counter) -> bool:
    if action["target_system"] in ("stripe", "sendgrid"):
        return by_key[action["idempotency_key"]] > 0
    return effects[(action["target_system"], action["target_external_id"])] > 0
