"""How the executor reports an applied action: an ordinary workflow-log event (event-log
spec) with the action's id in a top-level `action_id` field, as reports/lifecycle.sql reads
it (`applied_repairs`), appended to `landing/executor/events-<session>.jsonl`. For a receipt
backfill or a status patch the event IS the repair: the next audit reads it like any other
runtime event and confirms the repair from the observed state.

The workspace's workflow-log source must read these files: its `paths` must include
`landing/executor/*.jsonl` (the executor refuses `--apply` otherwise, since nothing it did
would be seen). Event ids derive from the action id and the event type, so an event written
twice (a crash between the write and the ledger) is the same event, which the audit reads
once; the executor also looks for it before writing.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FOLDER = Path("landing") / "executor"
RUN_EVENTS = {"complete": ("run.completed", "completed"),
              "needs_reconciliation": ("run.needs_reconciliation", "needs_reconciliation")}  # fmt: skip


def event_id(action_id: str, kind: str) -> str:
    return "ev_" + hashlib.sha256(f"{action_id}|{kind}".encode()).hexdigest()[:16]


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report(action: dict[str, Any], at: datetime, approved_by: str | None,
           result: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """The event that reports `action` as applied (and, for runtime writes, applies it)."""
    params, pattern = action["parameters"], action["pattern"]
    event: dict[str, Any] = {"run_id": action["run_id"], "workflow": action["workflow"]}
    if pattern == "status_patch" and "to_status" in params:
        kind, status = RUN_EVENTS[params["to_status"]]
        event.update(type=kind, status=status)
    elif pattern == "receipt_backfill":
        receipt = params["receipt"]
        event.update(type="receipt.recorded", intent_id=params["intent_id"], system=receipt["system"],
                     receipt={"external_id": receipt["external_id"]})  # fmt: skip
    elif pattern == "status_patch":  # mark_satisfied: someone else's effect is the intent's
        event.update(type="receipt.recorded", intent_id=params["intent_id"], status=params["set_outcome"],
                     receipt={"external_id": params["external_id"]},
                     description=f"satisfied by {params['satisfied_by']}")  # fmt: skip
    elif pattern == "forward_completion":
        event.update(type="action.succeeded", intent_id=action["subject_id"], system=action["target_system"],
                     idempotency_key=action["idempotency_key"],
                     receipt={"external_id": str((result or {}).get("external_id") or action["target_external_id"])})  # fmt: skip
    else:  # compensation
        event.update(type="action.compensated", intent_id=action["subject_id"], system=action["target_system"],
                     idempotency_key=action["idempotency_key"], compensated_external_id=action["target_external_id"])  # fmt: skip
    event = {"event_id": event_id(action["action_id"], event["type"]), "ts": rfc3339(at), **event,
             "action_id": action["action_id"]}  # fmt: skip
    if approved_by:
        event["approved_by"] = approved_by
    return event


class EventFile:
    """This session's file of feedback events; each line written whole and fsynced. A later
    session started within the same second appends to it (one executor at a time)."""

    def __init__(self, root: Path, session: str) -> None:
        self.path = root / FOLDER / f"events-{session}.jsonl"

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # kept if it exists

    def append(self, event: dict[str, Any]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(event, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
