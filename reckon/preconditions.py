"""Re-checking a repair action's preconditions against the world as it is now.

An executor re-checks every precondition of an action just before it acts (docs/outputs.md
3.2, "The executor contract"): `run_status` and `recorded_outcome` against the runtime's
own events (`WorkflowLog`, the recorded layer's derivations of rules/models/50_recorded.sql
for one run or intent), `observed_state` and `object_state` against a fresh read of the
system (`Vendor`: the object's canonical row, as reckon's connectors give it). The
simulator reads both from landing files; the real executor reads the log from landing
files and the systems through their APIs. Both use `void_reason`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from connectors import CONNECTORS
from connectors.base import QuarantineSink, Reader
from reckon.config import Source
from reckon.snapshots import source_options
from reckon.workspace import Workspace

RUN_STATUS = {
    "run.completed": "complete", "run.failed": "failed", "run.escalated": "escalated",
    "run.awaiting_approval": "awaiting_approval", "run.needs_reconciliation": "needs_reconciliation",
}  # fmt: skip
# Outcome event -> (outcome, rank at equal ts).
OUTCOMES = {
    "action.attempted": ("attempted", 1), "action.timed_out": ("timed_out", 2),
    "action.failed": ("failed", 3), "action.succeeded": ("succeeded", 4),
    "receipt.recorded": ("succeeded", 5), "action.skipped": ("skipped", 6),
    "action.compensated": ("compensated", 7),
}  # fmt: skip


@dataclass
class WorkflowLog:
    """The runtime's events, each once (the first copy read wins), by (ts, event_id)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    by_run: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_intent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]]) -> WorkflowLog:
        first: dict[str, dict[str, Any]] = {}
        for event in rows:
            first.setdefault(event["event_id"], event)
        events = sorted(first.values(), key=lambda e: (e["ts"], e["event_id"]))
        by_run, by_intent = defaultdict(list), defaultdict(list)
        for event in events:
            by_run[event["run_id"]].append(event)
            if event["intent_id"]:
                by_intent[event["intent_id"]].append(event)
        return cls(events, dict(by_run), dict(by_intent))

    def run_status(self, run_id: str) -> str:
        statuses = [e for e in self.by_run.get(run_id, []) if e["type"] in RUN_STATUS]
        return RUN_STATUS[statuses[-1]["type"]] if statuses else "running"

    def recorded_outcome(self, intent_id: str) -> str:
        outcomes = [(e["ts"], OUTCOMES[e["type"]][1], e["event_id"], OUTCOMES[e["type"]][0])
                    for e in self.by_intent.get(intent_id, []) if e["type"] in OUTCOMES]  # fmt: skip
        return max(outcomes)[3] if outcomes else "not_started"

    def intent_keys(self, intent_id: str) -> set[str]:
        """The keys the agent may have written into the intent's effect (`intent_keys`)."""
        events = self.by_intent.get(intent_id, [])
        return {intent_id} | {e["idempotency_key"] for e in events if e["idempotency_key"]}


class Vendor(Protocol):
    """A fresh read of the systems of record, as canonical observed rows."""

    def object(self, system: str, external_id: str) -> dict[str, Any] | None:
        """The object's newest canonical row (`raw_status`, `fields` as JSON text, ...)."""

    def carriers(self, system: str, keys: set[str]) -> list[str]:
        """Ids of the system's objects whose correlation keys include one of `keys`."""


def check(log: WorkflowLog, vendor: Vendor, precondition: dict[str, Any]) -> str | None:
    """None when the precondition holds now, else what no longer holds."""
    kind, equals = precondition.get("check"), precondition.get("equals")
    system, external_id = precondition.get("system"), precondition.get("external_id")
    if kind == "run_status":
        now = log.run_status(precondition["run_id"])
    elif kind == "recorded_outcome":
        now = log.recorded_outcome(precondition["intent_id"])
    elif kind == "object_state":
        obj = vendor.object(system, external_id)
        now = obj["raw_status"] if obj else "missing"
    elif kind == "observed_state" and external_id is None:
        # "No object matched the intent": nothing in the system carries its markers.
        carriers = sorted(vendor.carriers(system, log.intent_keys(precondition["intent_id"])))
        now = f"{system} {carriers[0]}" if carriers else equals
    elif kind == "observed_state":
        # "That object still has this raw_status and these fields": each field the check names
        # has its value. A live read may show more fields than the export did, and fewer (an
        # API that does not give a field, e.g. SendGrid's Email Activity and the SMTP
        # `response`): only the fields it shows can be compared.
        obj = vendor.object(system, external_id)
        fields = json.loads(obj["fields"]) if obj is not None else {}
        same = (
            obj is not None
            and obj["raw_status"] == precondition["raw_status"]
            and all(
                fields[k] == v for k, v in (precondition["fields"] or {}).items() if k in fields
            )
        )
        now = equals if same else "changed"
    else:
        return f"unknown check {kind!r}"
    return None if now == equals else f"{kind} is {now}, not {equals}"


def void_reason(
    log: WorkflowLog, vendor: Vendor, preconditions: list[dict[str, Any]]
) -> str | None:
    """The first precondition that no longer holds, in words; None when all hold."""
    return next((r for p in preconditions if (r := check(log, vendor, p)) is not None), None)


def read_source(
    ws: Workspace, source: Source
) -> Iterator[tuple[datetime, Path, list[dict[str, Any]]]]:
    """(export time, file, canonical rows) for each of a source's landing files, oldest export
    first."""
    reader = source_reader(ws, source)
    for observed_at, path in sorted(
        (exported_at(reader, p), p) for p in ws.landing_files(source.paths)
    ):
        yield observed_at, path, read_file(reader, path)


def source_reader(ws: Workspace, source: Source) -> Reader:
    return CONNECTORS[source.connector](source_options(ws, source))


def read_file(reader: Reader, path: Path) -> list[dict[str, Any]]:
    """A landing file's canonical rows; bad records are dropped (the audit quarantines them)."""
    sink = QuarantineSink(reader.options.source)
    return [r for b in reader.batches(path, sink) for r in b.to_pylist()]


def exported_at(reader: Reader, path: Path) -> datetime:
    """A file's export time as reckon takes it by default: the format's own, else the mtime."""
    exported = reader.exported_at(path)
    return exported or datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
