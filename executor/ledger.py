"""The executor's ledger: what happened to each action, exactly once.

`<workspace>/executor/ledger.jsonl`, append-only, one JSON object per transition:
`{"action_id", "state", "at", "audit_id", "pattern", "idempotency_key", "reason", "result"}`.
An action goes planned → started → succeeded | failed | void (planned → void when a
precondition fails before anything is sent); the last line of an action is its state.
Every line is written with one `write` and fsynced before the executor moves on, so a crash
loses at most the transition being written; a torn last line (no newline, or not JSON) is
cut off when the ledger is opened. Its own file, not the workspace database: an audit holds
DuckDB's lock for minutes, and the executor must be able to record while it does.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FOLDER = "executor"
FILE = "ledger.jsonl"
TERMINAL = ("succeeded", "failed", "void")
# A void or failed action may be planned again by a later audit's plan (executor/run.py).
NEXT = {
    None: ("planned",),
    "planned": ("started", "void"),
    "started": TERMINAL,
    "void": ("planned",),
    "failed": ("planned",),
}


class LedgerError(RuntimeError):
    """A transition the state machine does not allow (a bug, never a vendor's doing)."""


class Ledger:
    def __init__(self, root: Path) -> None:
        self.path = root / FOLDER / FILE
        self.state: dict[str, str] = {}
        self.last: dict[str, dict[str, Any]] = {}  # action_id -> its last line
        self._torn, self._good_size = False, 0
        if self.path.exists():
            self._read()
        self._fd: int | None = None

    def _read(self) -> None:
        data = self.path.read_bytes()
        good = data[: data.rfind(b"\n") + 1]
        lines = good.decode("utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                if number < len(lines):  # only the last line may be torn
                    raise LedgerError(
                        f"{self.path}:{number} is not JSON: the ledger is damaged"
                    ) from None
                good = good[: good.rfind(b"\n", 0, len(good) - 1) + 1]
                continue
            self.state[entry["action_id"]] = entry["state"]
            self.last[entry["action_id"]] = entry
        self._torn = len(good) < len(data)
        self._good_size = len(good)

    def open(self) -> None:
        """Open for appending (the caller holds the executor's lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._torn:  # a transition cut short by a crash: it never happened
            with self.path.open("r+b") as f:
                f.truncate(self._good_size)
                os.fsync(f.fileno())
            self._torn = False
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def record(self, action: dict[str, Any], state: str, reason: str | None = None,
               result: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.record_many([action], state, reason, result)

    def record_many(self, actions: list[dict[str, Any]], state: str, reason: str | None = None,
                    result: dict[str, Any] | None = None) -> None:  # fmt: skip
        """One transition of each action, written and fsynced together."""
        if self._fd is None:
            raise LedgerError("the ledger is not open for writing")
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = []
        for action in actions:
            now = self.state.get(action["action_id"])
            if state not in NEXT.get(now, ()):
                raise LedgerError(
                    f"{action['action_id']}: {now or 'unknown'} → {state} is not a transition"
                )
            entry = {"action_id": action["action_id"], "state": state, "at": at, "audit_id": action["audit_id"],
                     "pattern": action["pattern"], "idempotency_key": action["idempotency_key"],
                     "reason": reason, "result": result}  # fmt: skip
            lines.append(json.dumps(entry, sort_keys=True) + "\n")
            self.state[action["action_id"]] = state
            self.last[action["action_id"]] = entry
        if lines:
            os.write(self._fd, "".join(lines).encode())
            os.fsync(self._fd)
