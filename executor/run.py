"""Executing a repair plan: what to do with each action, and doing it exactly once.

For each selected action, in order (effects, intents, runs), the executor decides:

- left to a person: `human_adjudication`; an operation no client of ours can carry out (a
  compensation without a counter-operation, a create without an idempotency key); an
  effect with no run to report it on; a lost attempt whose original key may have expired;
- waits: `wait_and_verify` (the next audit re-checks); an action that requires approval and
  has none; a run to mark complete while the plan still has open actions on its intents;
- done already: the ledger has a terminal state for it;
- otherwise it re-reads the runtime (the workflow log) and the target system and re-checks
  every precondition: void with the reason if one no longer holds, else it would apply /
  applies it.

A dry run stops at that decision and writes nothing. `--apply` records every transition in
the ledger (executor/ledger.py) before moving on. An action found `started` (the executor
was stopped between its call and the ledger) is first looked for where it would have landed:
by its idempotency key and a live re-read of the target (Operation.landed). If it landed, it
is recorded as succeeded; if not, it goes through the re-check and is sent again with the
same key, so a call that did land after all is replayed by the system, not repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from connectors import CONNECTORS
from executor.approvals import Approvals
from executor.feedback import EventFile, report
from executor.ledger import TERMINAL, Ledger
from reckon.preconditions import (
    Vendor,
    WorkflowLog,
    exported_at,
    read_file,
    source_reader,
    void_reason,
)
from reckon.workspace import Workspace

RUNTIME_PATTERNS = ("receipt_backfill", "status_patch")


class Refused(RuntimeError):
    """The system refused the call for good (a 4xx other than 429, a key reused with other
    parameters): nothing was applied; the action failed."""


class Uncertain(RuntimeError):
    """The call may or may not have been applied (a timeout after sending, retries spent):
    the action stays `started`, and the next run finds out (Operation.landed)."""


class Unreadable(RuntimeError):
    """A fresh read the decision needs did not answer: nothing is decided or done now."""


class Operation(Protocol):
    def act(self) -> dict[str, Any]:
        """Carry the action out with its idempotency key; the result names the object."""

    def landed(self) -> dict[str, Any] | None:
        """The action's effect as a live read shows it, None when it is not there."""


class Systems(Protocol):
    """The live systems: fresh reads for the preconditions, and the operations."""

    vendor: Vendor

    def operation(self, action: dict[str, Any]) -> Operation | str:
        """The operation that carries the action out, or why none can."""


@dataclass(frozen=True)
class Outcome:
    action: dict[str, Any]
    verdict: str  # would apply · applied · void · failed · unknown · waits · person · done
    reason: str = ""

    def line(self) -> str:
        a = self.action
        target = f"{a['target_system']}/{a['target_external_id'] or '-'}"
        return f"{a['action_id']}  {a['pattern']:<18}  {target:<44}  {self.verdict}{': ' + self.reason if self.reason else ''}"


class LogView:
    """The workflow log as it is now: each landing file of the workflow-layer sources is
    parsed again only when its size or modification time changed."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.readers = [(s, source_reader(ws, s)) for s in ws.config.sources
                        if CONNECTORS[s.connector].layer == "workflow"]  # fmt: skip
        self._files: dict[Path, tuple[tuple[int, int], datetime, list[dict[str, Any]]]] = {}
        self._seen: tuple = ()
        self._log = WorkflowLog()
        self._ids: set[str] = set()

    def files(self) -> list[Path]:
        return [p for s, _ in self.readers for p in self.ws.landing_files(s.paths)]

    def fresh(self) -> WorkflowLog:
        parsed = []
        for source, reader in self.readers:
            for path in self.ws.landing_files(source.paths):
                stat = path.stat()
                known = self._files.get(path)
                if known is None or known[0] != (stat.st_size, stat.st_mtime_ns):
                    known = self._files[path] = ((stat.st_size, stat.st_mtime_ns), exported_at(reader, path),
                                                 read_file(reader, path))  # fmt: skip
                parsed.append((known[1], path, known[0]))
        seen = tuple(sorted(parsed))
        if seen != self._seen:  # in export order, as the audit reads them: the first copy wins
            self._log = WorkflowLog.of(row for _, path, _ in seen for row in self._files[path][2])
            self._ids, self._seen = {e["event_id"] for e in self._log.events}, seen
        return self._log

    def has(self, event_id: str) -> bool:
        self.fresh()
        return event_id in self._ids


class Executor:
    def __init__(self, ws: Workspace, systems: Systems, approvals: Approvals,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.ws, self.systems, self.approvals, self.clock = ws, systems, approvals, clock
        self.log = LogView(ws)
        self.ledger = Ledger(ws.root)
        self.events: EventFile | None = None

    # --- the decision --------------------------------------------------------------------

    def standing(self, action: dict[str, Any], plan: list[dict[str, Any]]) -> Outcome | None:
        """Why the action is not to be acted on now, whatever the systems show; None when it is."""
        pattern, params = action["pattern"], action["parameters"]
        if self.done(action):
            return Outcome(action, "done", f"{self.ledger.state[action['action_id']]} (ledger)")
        if pattern == "human_adjudication":
            return Outcome(
                action,
                "person",
                params.get("recommended_next_action") or "operator decision needed",
            )
        if pattern == "wait_and_verify":
            return Outcome(
                action, "waits", f"until {params.get('recheck_after')}; the next audit re-checks"
            )
        if action["run_id"] is None or action["workflow"] is None:
            return Outcome(action, "person", "no run in the workflow log to report it on")
        if action["mismatch_type"] == "attempt_lost" and action["duplicate_risk"] != "low":
            return Outcome(
                action, "person", "the original key may have expired: duplicate risk is high"
            )
        if pattern not in RUNTIME_PATTERNS:
            operation = self.systems.operation(action)
            if isinstance(operation, str):
                return Outcome(action, "person", operation)
        if action["requires_approval"] and self.approvals.approver(action) is None:
            return Outcome(action, "waits", "approval (approvals/ or an operator decision)")
        if params.get("to_status") == "complete":
            open_ = [a for a in plan if a["subject_kind"] == "intent" and a["run_id"] == action["run_id"]
                     and self.ledger.state.get(a["action_id"]) != "succeeded"]  # fmt: skip
            if open_:
                return Outcome(
                    action, "waits", f"the run still has {len(open_)} open intent action(s)"
                )
        return None

    def done(self, action: dict[str, Any]) -> bool:
        """Finished with: succeeded under any plan, or void or failed under this action's
        plan. (A later audit that plans the same id again saw the world as this plan did, so
        a void or failed action may be tried again then; a succeeded one never.)"""
        last = self.ledger.last.get(action["action_id"])
        if last is None or last["state"] not in TERMINAL:
            return False
        return last["state"] == "succeeded" or last["audit_id"] == action["audit_id"]

    def void_reason(self, action: dict[str, Any]) -> str | None:
        return void_reason(self.log.fresh(), self.systems.vendor, action["preconditions"])

    # --- dry run and apply ---------------------------------------------------------------

    def dry_run(self, selected: list[dict[str, Any]], plan: list[dict[str, Any]]) -> list[Outcome]:
        outcomes = []
        for action in selected:
            outcome = self.standing(action, plan)
            if outcome is None and self.ledger.state.get(action["action_id"]) == "started":
                outcome = Outcome(
                    action,
                    "unknown",
                    "started by an earlier run: --apply finds out whether it landed",
                )
            outcomes.append(outcome or self._recheck(action))
        return outcomes

    def _recheck(self, action: dict[str, Any]) -> Outcome:
        """Would apply, void with the reason, or unknown when a read did not answer."""
        try:
            reason = self.void_reason(action)
        except Unreadable as exc:
            return Outcome(action, "unknown", str(exc))
        return Outcome(action, "void", reason) if reason else Outcome(action, "would apply")

    def apply(self, selected: list[dict[str, Any]], plan: list[dict[str, Any]],
              on_outcome: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:  # fmt: skip
        """Act on every selected action that may be acted on; the caller holds the lock."""
        # Named by when the session started (not by pid: the same run gives the same files).
        self.events = EventFile(self.ws.root, f"{self.clock():%Y%m%dT%H%M%S}")
        self.events.create()
        if self.events.path not in self.log.files():
            self.events.path.unlink()
            raise UnreadFeedback(
                f"the workflow log's paths do not include {self.events.path.relative_to(self.ws.root)}: "
                'add "landing/executor/*.jsonl" to them, or the audit never sees what is applied'
            )
        self.ledger.open()
        try:
            fresh = [a for a in selected if self._unplanned(a) and self.standing(a, plan) is None]
            self.ledger.record_many(fresh, "planned")
            outcomes = []
            for action in selected:
                # A started action is first looked for where it would have landed: whatever
                # else changed since, it may not be sent again if it did.
                started = self.ledger.state.get(action["action_id"]) == "started"
                outcome = (
                    (started and self._recover(action))
                    or self.standing(action, plan)
                    or self._execute(action)
                )
                on_outcome(outcome)
                outcomes.append(outcome)
            return outcomes
        finally:
            self.ledger.close()
            if self.events.path.stat().st_size == 0:  # nothing written: no empty landing file
                self.events.path.unlink()

    def _unplanned(self, action: dict[str, Any]) -> bool:
        state = self.ledger.state.get(action["action_id"])
        return state is None or (state in TERMINAL and not self.done(action))

    def _recover(self, action: dict[str, Any]) -> Outcome | None:
        """`applied` for a started action that landed, `unknown` when the re-read failed, None
        when it did not land (it goes through the re-check and is sent again, same key)."""
        try:
            landed = self._landed(action)
        except Unreadable as exc:
            return Outcome(action, "unknown", str(exc))
        return (
            None if landed is None else self._succeeded(action, landed, "recovered: it had landed")
        )

    def _execute(self, action: dict[str, Any]) -> Outcome:
        try:
            return self._execute_checked(action)
        except Unreadable as exc:
            # The ledger keeps the action where it was: the next run resumes it.
            return Outcome(action, "unknown", str(exc))

    def _execute_checked(self, action: dict[str, Any]) -> Outcome:
        if self._unplanned(action):  # planned late: a run whose intents were repaired in this pass
            self.ledger.record(action, "planned")
        state = self.ledger.state[action["action_id"]]
        reason = self.void_reason(action)  # re-checked just before acting
        if reason:
            self.ledger.record(action, "void", reason)
            return Outcome(action, "void", reason)
        if state != "started":
            self.ledger.record(action, "started")
        try:
            result = self._act(action)
        except Refused as exc:
            self.ledger.record(action, "failed", str(exc))
            return Outcome(action, "failed", str(exc))
        except Uncertain as exc:
            return Outcome(action, "unknown", f"{exc}; run again to find out (left started)")
        return self._succeeded(action, result)

    def _act(self, action: dict[str, Any]) -> dict[str, Any]:
        if action["pattern"] in RUNTIME_PATTERNS:
            self._report(action, {})
            return {"event_id": self._event(action)["event_id"]}
        operation = self.systems.operation(action)
        assert not isinstance(operation, str)  # standing() let it through
        return operation.act()

    def _landed(self, action: dict[str, Any]) -> dict[str, Any] | None:
        if action["pattern"] in RUNTIME_PATTERNS:
            wanted = self._event(action)["event_id"]
            return {"event_id": wanted} if self.log.has(wanted) else None
        operation = self.systems.operation(action)
        assert not isinstance(operation, str)
        return operation.landed()

    def _succeeded(self, action: dict[str, Any], result: dict[str, Any], note: str = "") -> Outcome:
        self._report(action, result)
        self.ledger.record(action, "succeeded", note or None, result)
        return Outcome(action, "applied", note)

    def _event(
        self, action: dict[str, Any], result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return report(action, self.clock(), self.approvals.approver(action) if action["requires_approval"] else None,
                      result)  # fmt: skip

    def _report(self, action: dict[str, Any], result: dict[str, Any]) -> None:
        """Write the action's feedback event unless the log already has it."""
        event = self._event(action, result)
        if not self.log.has(event["event_id"]):
            assert self.events is not None
            self.events.append(event)


class UnreadFeedback(LookupError):
    """The workflow log's source would not read the executor's feedback events."""
