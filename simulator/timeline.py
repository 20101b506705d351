"""Reconciliation over time: the later days of a demo workspace.

`advance(workspace, day, seed)` writes day `day` (2, 3, ...) of the simulated world, given
what the workspace shows now (`Live`: its landing files, its latest audit and repair plan).
Everything it writes is a NEW landing file (`log-day2-0001.jsonl`, `refunds-list-day2.json`,
`contacts-day2-page-1.json`, ...) whose mtime is the day's export time, one day after the
latest audit's as-of; earlier files are never rewritten. In order:

1. a small repair executor (`executor.py`) applies part of the latest plan, re-checking each
   action's preconditions just before acting, and reports every applied action with a
   workflow-log event that carries its `action_id`;
2. the world moves on: a late webhook heals one unknown outcome (the pending refund succeeds
   and its receipt arrives, with no repair) and that run finishes; runs that were just
   starting finish; an operator accepts the external truth of one out-of-band change
   (`decisions/timeline-dayN.jsonl`, decided after the latest audit); from day 3 on, one run
   whose stale status a repair fixed the day before is escalated again, so its finding
   regresses;
3. a handful of new runs, faulty and clean, from the day-1 scenarios, all starting after the
   previous export.

The lifecycle facts this engineers go to `<workspace>.timeline.jsonl` beside the workspace,
one line each: `{"day", "as_of", "finding": {subject_kind, subject_id, mismatch_type},
"expect": {"status"[, "resolution"]}, "why"}`. The next audit (as of `as_of`) must show
each of them in `lifecycle_events`. The same workspace, day and seed give the same files.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reckon.locking import workspace_lock
from simulator import WRITERS
from simulator import resume as resuming
from simulator.executor import Executor, Outcome
from simulator.live import Live
from simulator.model import RefundState, rfc3339
from simulator.output import OWNED, OWNED_DECISIONS, OWNED_FLAGS, Output, jsonl_bytes
from simulator.runs import Run
from simulator.scenarios import SCENARIOS, allocate
from simulator.stripe import refund_from_object
from simulator.world import World

MIN_NEW_RUNS = 6
NEW_RUN_SHARE = 0.1  # of the runs in the log so far
OPERATOR = "ops.lead"
DECISION_REASON = "the customer confirmed the change a colleague made in the CRM"


@dataclass(frozen=True)
class DayResult:
    workspace: Path
    day: int
    export_time: datetime
    outcomes: tuple[Outcome, ...]  # one per action of the plan the executor read
    events: dict[str, Any]  # what the world did: healed, finished, decided, regressed, new runs
    facts: tuple[dict[str, Any], ...]  # this day's lines of the timeline file
    timeline_path: Path
    files: tuple[Path, ...]

    def verdicts(self, verdict: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict == verdict]

    def summary(self) -> str:
        applied = Counter(o.action["pattern"] for o in self.verdicts("applied"))
        skipped = len(self.verdicts("void")) + len(self.verdicts("held"))
        ev = self.events
        world = [f"{len(ev['new_runs'])} new runs"]
        if ev["finished"]:
            world.append(f"{len(ev['finished'])} in-progress run(s) finished")
        if ev["healed"]:
            world.append(f"late webhook heals {ev['healed']}")
        if ev["decided"]:
            world.append(f"{OPERATOR} accepts {ev['decided']}")
        if ev["regressed"]:
            world.append(f"{ev['regressed']} escalated again")
        patterns = ", ".join(f"{p} {n}" for p, n in sorted(applied.items()))
        return "\n".join([
            f"day {self.day} exported {rfc3339(self.export_time)}",
            f"  executor  applied {applied.total()} of {len(self.outcomes)} planned actions"
            f"{f' ({patterns})' if patterns else ''}; skipped {skipped} (void or held)",
            f"  world     {'; '.join(world)}",
            f"  expected  {len(self.facts)} lifecycle facts -> {self.timeline_path}",
        ])  # fmt: skip


def timeline_path(workspace: Path) -> Path:
    workspace = Path(workspace).resolve()
    return workspace.parent / f"{workspace.name}.timeline.jsonl"


def advance(workspace: Path, day: int, seed: int) -> DayResult:
    """Write day `day` of the workspace's world; the workspace must have been audited.
    Holds the workspace lock, so that no audit snapshots a half-written day."""
    root = Path(workspace).resolve()
    if day < 2:
        raise ValueError(f"day must be 2 or later (day 1 is `simulate`), got {day}")
    with workspace_lock(root):
        return _advance(root, day, seed)


def _advance(root: Path, day: int, seed: int) -> DayResult:
    _check_new_day(root, day)
    live = Live.read(root)
    if live.as_of is None:
        raise ValueError(f"{root} has no audit yet: audit it before advancing to day {day}")
    previous, export_time = live.as_of, live.as_of + timedelta(days=1)
    world = World(random.Random(f"reckon-timeline|{seed}|{day}"), export_time)
    world.ids.reserve(live.used_numbers(), people=live.people())
    day_facts = Facts(day, export_time)

    outcomes = Executor(world, live, previous + timedelta(minutes=30)).run(live.plan)
    day_facts.repairs(outcomes)
    out = Output(root, day)
    decision = _decide(world, live, previous, day_facts)
    if decision:
        out.write(f"decisions/timeline-day{day}.jsonl", jsonl_bytes([decision]))
    events: dict[str, Any] = {
        "healed": _late_webhook(world, live, previous, day_facts),
        "finished": _finish_starting_runs(world, live, previous),
        "decided": decision["finding_id"] if decision else None,
        "regressed": _regress(world, live, previous, day_facts, root) if day >= 3 else None,
        "new_runs": _new_runs(world, live, day_facts),
    }
    late = [e["event_id"] for e in world.events if e["ts"] > rfc3339(export_time)]
    if late:  # the day's export could not show them (and the audit would quarantine them)
        raise ValueError(f"day {day}: {len(late)} events dated after the day's export, e.g. {late[0]}")
    for writer in WRITERS:
        writer(world, out)
    path = timeline_path(root)
    kept = [line for line in _read_lines(path) if line["day"] < day]
    out.write(path, jsonl_bytes([*kept, *day_facts.lines]))
    out.stamp(export_time)
    return DayResult(root, day, export_time, tuple(outcomes), events, tuple(day_facts.lines), path,
                     tuple(out.files))  # fmt: skip


class Facts:
    """The lifecycle facts of one day, as timeline lines."""

    def __init__(self, day: int, as_of: datetime) -> None:
        self.day, self.as_of = day, as_of
        self.lines: list[dict[str, Any]] = []

    def add(self, kind: str, subject: str, mismatch: str, why: str, **expect: str) -> None:
        self.lines.append({
            "day": self.day, "as_of": rfc3339(self.as_of),
            "finding": {"subject_kind": kind, "subject_id": subject, "mismatch_type": mismatch},
            "expect": expect, "why": why,
        })  # fmt: skip

    def repairs(self, outcomes: list[Outcome]) -> None:
        """A finding whose selected actions were all applied is resolved `auto` next audit,
        except a false completion: patched to needs_reconciliation, its run still has open
        intents, so the run's finding becomes stale or stuck and the old one is superseded."""
        by_finding: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if o.verdict != "not_selected":
                by_finding.setdefault(o.action["finding_id"], []).append(o)
        for done in by_finding.values():
            if all(o.verdict == "applied" for o in done):
                a = done[0].action
                why = f"{a['pattern']} {', '.join(o.action_id for o in done)} applied"
                how = "superseded" if a["mismatch_type"] == "false_completion" else "auto"
                self.add(a["subject_kind"], a["subject_id"], a["mismatch_type"], why, status="resolved", resolution=how)


# --- the world moves on -------------------------------------------------------------------


def _late_webhook(world: World, live: Live, previous: datetime, facts: Facts) -> str | None:
    """One pending refund of an unknown outcome succeeds; its webhook brings the receipt (no
    repair involved) and the run goes on. The other unknown outcomes that nothing matched
    stay absent past the settle window: they turn into lost attempts (superseded)."""
    waits = [a for a in live.plan if a["mismatch_type"] == "unknown_outcome" and a["target_system"] == "stripe"]
    observed = {a["action_id"]: next(c for c in a["preconditions"] if c["check"] == "observed_state") for a in waits}
    pending = sorted(
        (a for a in waits if observed[a["action_id"]]["equals"] == "pending"
         and live.objects.get(("stripe", a["target_external_id"]), {}).get("raw_status") == "pending"),
        key=lambda a: a["subject_id"],
    )  # fmt: skip
    for a in waits:
        if observed[a["action_id"]]["external_id"] is None:  # absent, or not yet verifiable
            facts.add("intent", a["subject_id"], "unknown_outcome", "no effect ever showed up: now a lost attempt",
                      status="resolved", resolution="superseded")  # fmt: skip
    if not pending:
        return None
    action = world.rng.choice(pending)
    at = previous + world.minutes(40, 90)
    refund = refund_from_object(live.raw[("stripe", action["target_external_id"])])
    refund.states.append(RefundState(at, "succeeded"))
    world.refunds.append(refund)
    flow = resuming.refund_order(world, live, action["run_id"], at + world.seconds(5, 120))
    if flow is not None:
        flow.run.receipt(flow.intents["issue_refund"], refund.id)
        resuming.complete(flow, live)
    facts.add("intent", action["subject_id"], "unknown_outcome", f"late webhook: {refund.id} succeeded",
              status="resolved", resolution="self_healed")  # fmt: skip
    return action["subject_id"]


def _finish_starting_runs(world: World, live: Live, previous: datetime) -> list[str]:
    """Refund runs that had only just started at the previous export (declared, nothing
    attempted, still inside their window) carry on and complete."""
    finished = []
    for run_id in sorted(live.by_run):
        events = live.by_run[run_id]
        if (live.workflow(run_id) != "refund_order" or live.run_status(run_id) != "running"
                or any(e["type"] not in ("run.started", "intent.declared") for e in events)
                or live.started_at(run_id) < previous - timedelta(hours=1)):  # fmt: skip
            continue
        flow = resuming.refund_order(world, live, run_id, previous + world.minutes(10, 50))
        if flow is not None:
            resuming.complete(flow, live)
            finished.append(run_id)
    return finished


def _decide(world: World, live: Live, previous: datetime, facts: Facts) -> dict[str, Any] | None:
    """An operator accepts one outside change to a CRM record as the truth."""
    candidates = sorted(
        {(a["finding_id"], a["subject_id"]) for a in live.plan if a["mismatch_type"] == "out_of_band_change"}
    )
    if not candidates:
        return None
    finding_id, subject = world.rng.choice(candidates)
    facts.add("intent", subject, "out_of_band_change", f"{OPERATOR} accepted the external truth",
              status="resolved", resolution="human")  # fmt: skip
    return {"finding_id": finding_id, "decision": "accept_external_truth", "reason": DECISION_REASON,
            "operator": OPERATOR, "decided_at": rfc3339(previous + world.minutes(120, 360))}  # fmt: skip


def _regress(world: World, live: Live, previous: datetime, facts: Facts, root: Path) -> str | None:
    """A run whose stale status a patch fixed the day before is escalated again."""
    fixed = sorted(
        line["finding"]["subject_id"] for line in _read_lines(timeline_path(root))
        if line["day"] == facts.day - 1 and line["finding"]["mismatch_type"] == "stale_run_status"
        and line["expect"].get("resolution") == "auto" and live.run_status(line["finding"]["subject_id"]) == "complete"
    )  # fmt: skip
    if not fixed:
        return None
    run_id = world.rng.choice(fixed)
    run = Run.resume(world, run_id, live.workflow(run_id), previous + world.minutes(180, 600))
    run.finish("escalated", actor="agent", description="the customer wrote back: refund not received")
    facts.add("run", run_id, "stale_run_status", "escalated again after its status patch", status="regressed")
    return run_id


def _new_runs(world: World, live: Live, facts: Facts) -> list[str]:
    count = max(MIN_NEW_RUNS, round(len(live.by_run) * NEW_RUN_SHARE))
    order = allocate(count, world.rng)
    for name in order:
        SCENARIOS[name](world, name)
    for label in world.labels:
        facts.add(label["subject_kind"], label["subject_id"], label["mismatch_type"],
                  f"new run ({label['scenario']})", status="new")  # fmt: skip
    return order


# --- files ---------------------------------------------------------------------------------


def _check_new_day(root: Path, day: int) -> None:
    """A day is written once: its landing files must not exist yet; this module's own
    decisions and flag files of this day and later ones (from an earlier timeline) are removed."""
    for folder in OWNED:
        existing = [p for p in sorted((root / "landing" / folder).glob(f"*-day{day}*"))
                    if f"-day{day}-" in p.name or f"-day{day}." in p.name]  # fmt: skip
        if existing:
            raise ValueError(f"day {day} was already written ({existing[0].relative_to(root)})")
    for folder, pattern in (("decisions", OWNED_DECISIONS), ("flags", OWNED_FLAGS)):
        for path in sorted((root / folder).glob(pattern)):
            if int(path.stem.rpartition("-day")[2]) >= day:
                path.unlink()


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


__all__ = ["DayResult", "advance", "timeline_path"]
