"""What the runtime believes about each run (`recorded_runs`, rules/models/50_recorded.sql):
its latest status event decides its status (ts orders them, then event id), it starts at
its `run.started` event or else its first event, and a run without a status event is
running."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.workspaces import ACTIONS, START, Intent, build


def declared(key: str) -> Intent:
    return Intent(key, "stripe", {"charge": f"ch_{key}", "amount": 1000, "currency": "usd"}).declared()


def unstarted(key: str) -> Intent:
    """A run whose log has no `run.started` event: its first event is the declaration."""
    intent = Intent(key, "stripe", {"charge": f"ch_{key}", "amount": 1000, "currency": "usd"})
    return intent.event("intent.declared", 2, step="act", action=ACTIONS["stripe"], system="stripe",
                        expected=intent.expected)


# run key -> (its events, its status, the index of the event that set it, start minute, last minute)
RUNS = {
    # a retry finished the run after it was recorded failed
    "rf": (lambda: declared("rf").event("run.failed", 4).completed(6), "complete", 3, 0, 6),
    # an operator sent a completed run back to reconciliation
    "cn": (lambda: declared("cn").completed(5).event("run.needs_reconciliation", 8), "needs_reconciliation", 3, 0, 8),
    # two status events at the same time: the greater event id is the later
    "tie": (lambda: declared("tie").event("run.escalated", 5).event("run.awaiting_approval", 5),
            "awaiting_approval", 3, 0, 5),
    "op": (lambda: declared("op").event("action.attempted", 3, attempt=1), "running", None, 0, 3),
    "ns": (lambda: unstarted("ns").event("run.failed", 4), "failed", 1, 2, 4),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    intents = [make() for make, *_ in RUNS.values()]
    return build(tmp_path_factory.mktemp("recorded_runs"), intents, {"stripe": {"object": "list", "data": []}})


def test_the_latest_status_event_decides_the_run_status(built):
    got = {run: (status, event, terminal) for run, status, event, terminal in built.query(
        "SELECT run_id, status, status_event_id, terminal FROM recorded_runs")}
    assert got == {
        f"run_{key}": (status, None if index is None else f"ev_{key}_{index}", status in ("complete", "failed"))
        for key, (_, status, index, _, _) in RUNS.items()
    }


def test_a_run_starts_at_its_started_event_or_else_its_first_event(built):
    got = {run: (started, last, events) for run, started, last, events in built.query(
        "SELECT run_id, started_at, last_event_at, events FROM recorded_runs")}
    assert got == {
        f"run_{key}": (START + timedelta(minutes=start), START + timedelta(minutes=last), len(make().events))
        for key, (make, _, _, start, last) in RUNS.items()
    }
