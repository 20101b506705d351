"""What a workspace shows right now, read the way a repair executor would read it.

An executor re-checks every precondition of an action against the runtime and the target
system just before it acts (docs/outputs.md, "The executor contract"). In the simulation
the runtime and the systems of record are the workspace's landing files, so `Live.read`
reads them with reckon's own connectors: each workflow-log event once, and each object's
newest version in the observed layer's order (a terminal version beats a pending one, then
the newest version time, then the newest export). It also keeps the newest raw record of
every contact, ticket and listed refund (to change on a later day), and finds the latest
audit and its repair plan.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from connectors import CONNECTORS
from connectors.base import QuarantineSink
from reckon.snapshots import source_options
from reckon.workspace import Workspace
from simulator.runs import Intent

# The recorded layer's derivations (rules/models/50_recorded.sql), for one run or intent.
RUN_STATUS = {
    "run.completed": "complete", "run.failed": "failed", "run.escalated": "escalated",
    "run.awaiting_approval": "awaiting_approval", "run.needs_reconciliation": "needs_reconciliation",
}  # fmt: skip
OUTCOMES = {
    "action.attempted": ("attempted", 1), "action.timed_out": ("timed_out", 2),
    "action.failed": ("failed", 3), "action.succeeded": ("succeeded", 4),
    "receipt.recorded": ("succeeded", 5), "action.skipped": ("skipped", 6),
    "action.compensated": ("compensated", 7),
}  # fmt: skip
# Where a page keeps its records, by connector (raw records are kept for these only).
PAGE_LISTS = {"hubspot": "results", "zendesk": "tickets", "stripe": "data"}
PERSON_NUMBER = re.compile(r"\.(\d+)@example\.com")

Key = tuple[str, str]  # (system, external_id)


@dataclass
class Live:
    root: Path
    events: list[dict[str, Any]] = field(default_factory=list)  # each once, by (ts, event_id)
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)  # newest canonical version
    raw: dict[Key, dict[str, Any]] = field(default_factory=dict)  # newest raw record on a page
    audit_id: str | None = None  # the latest audit, and its "now"
    as_of: datetime | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)  # its repair plan
    by_run: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_intent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Live:
        ws = Workspace.open(root)
        live = cls(ws.root)
        versions: dict[Key, list[tuple]] = defaultdict(list)
        for source in ws.config.sources:
            reader = CONNECTORS[source.connector](source_options(ws, source))
            for observed_at, path in sorted((_exported(reader, p), p) for p in ws.landing_files(source.paths)):
                rows = [r for b in reader.batches(path, QuarantineSink(source.name)) for r in b.to_pylist()]
                if reader.layer == "workflow":
                    live.events.extend(rows)
                    continue
                for row in rows:
                    version_at = row["updated_at"] or observed_at
                    rank = (row["state"] != "pending", version_at, observed_at, row["source_file"], row["source_record"])
                    versions[(row["system"], row["external_id"])].append((rank, row))
                if source.connector in PAGE_LISTS:
                    live._keep_raw(source.system, source.connector, path)
        live.objects = {key: max(rows, key=lambda r: r[0])[1] for key, rows in versions.items()}
        live._index_events()
        live._latest_audit(ws)
        return live

    def _keep_raw(self, system: str, connector: str, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return
        records = document.get(PAGE_LISTS[connector]) if isinstance(document, dict) else None
        for record in records if isinstance(records, list) else []:
            if not isinstance(record, dict) or "id" not in record:
                continue
            if connector != "stripe" or record.get("object") == "refund":  # not an event page's events
                self.raw[(system, str(record["id"]))] = record

    def _index_events(self) -> None:
        first: dict[str, dict[str, Any]] = {}
        for event in self.events:  # already in export order: the first copy read wins
            first.setdefault(event["event_id"], event)
        self.events = sorted(first.values(), key=lambda e: (e["ts"], e["event_id"]))
        by_run, by_intent = defaultdict(list), defaultdict(list)
        for event in self.events:
            by_run[event["run_id"]].append(event)
            if event["intent_id"]:
                by_intent[event["intent_id"]].append(event)
        self.by_run, self.by_intent = dict(by_run), dict(by_intent)

    def _latest_audit(self, ws: Workspace) -> None:
        if not ws.database.exists():
            return
        with duckdb.connect(str(ws.database), read_only=True) as con:
            row = con.execute("SELECT audit_id, as_of FROM audits ORDER BY as_of DESC, finished_at DESC LIMIT 1").fetchone()
        if row is None:
            return
        self.audit_id, self.as_of = row[0], row[1].astimezone(UTC)
        plan = ws.exports / f"repair-plan-{self.audit_id}.jsonl"
        if plan.exists():
            self.plan = [json.loads(line) for line in plan.read_text(encoding="utf-8").splitlines() if line]

    # --- the runtime ----------------------------------------------------------------

    def run_status(self, run_id: str) -> str:
        statuses = [e for e in self.by_run.get(run_id, []) if e["type"] in RUN_STATUS]
        return RUN_STATUS[statuses[-1]["type"]] if statuses else "running"

    def recorded_outcome(self, intent_id: str) -> str:
        outcomes = [(e["ts"], OUTCOMES[e["type"]][1], e["event_id"], OUTCOMES[e["type"]][0])
                    for e in self.by_intent.get(intent_id, []) if e["type"] in OUTCOMES]  # fmt: skip
        return max(outcomes)[3] if outcomes else "not_started"

    def workflow(self, run_id: str) -> str:
        return self.by_run[run_id][0]["workflow"]

    def started_at(self, run_id: str) -> datetime:
        events = self.by_run[run_id]
        return next((e["ts"] for e in events if e["type"] == "run.started"), events[0]["ts"])

    def declarations(self, run_id: str) -> dict[str, dict[str, Any]]:
        """step -> the run's first `intent.declared` event for it."""
        found: dict[str, dict[str, Any]] = {}
        for event in self.by_run.get(run_id, []):
            if event["type"] == "intent.declared":
                found.setdefault(event["step"], event)
        return found

    def intent(self, intent_id: str) -> Intent:
        """The intent as the runtime knows it: its latest attempt number and key in use."""
        events = self.by_intent[intent_id]
        declared = next(e for e in events if e["type"] == "intent.declared")
        attempts = [e for e in events if e["type"] == "action.attempted"]
        return Intent(
            intent_id, declared["step"], declared["action"], declared["idempotency_key"],
            attempt=max((e["attempt"] or 0 for e in attempts), default=0),
            key_in_use=attempts[-1]["idempotency_key"] if attempts else declared["idempotency_key"],
        )  # fmt: skip

    def intent_keys(self, intent_id: str) -> set[str]:
        """The keys the agent may have written into the intent's effect (`intent_keys`)."""
        events = self.by_intent.get(intent_id, [])
        return {intent_id} | {e["idempotency_key"] for e in events if e["idempotency_key"]}

    # --- preconditions --------------------------------------------------------------

    def check(self, check: dict[str, Any]) -> str | None:
        """None when the precondition holds now, else what no longer holds."""
        kind, equals = check.get("check"), check.get("equals")
        if kind == "run_status":
            now = self.run_status(check["run_id"])
        elif kind == "recorded_outcome":
            now = self.recorded_outcome(check["intent_id"])
        elif kind == "object_state":
            obj = self.objects.get((check["system"], check["external_id"]))
            now = obj["raw_status"] if obj else "missing"
        elif kind == "observed_state" and check.get("external_id") is None:
            # "No object matched the intent": nothing in the system carries its markers.
            keys = self.intent_keys(check["intent_id"])
            carriers = sorted(k[1] for k, o in self.objects.items()
                              if k[0] == check["system"] and keys & set(o["correlation_keys"] or []))  # fmt: skip
            now = f"{check['system']} {carriers[0]}" if carriers else equals
        elif kind == "observed_state":
            # "That object still has this raw_status and these fields."
            obj = self.objects.get((check["system"], check["external_id"]))
            same = obj is not None and obj["raw_status"] == check["raw_status"] \
                and json.loads(obj["fields"]) == check["fields"]
            now = equals if same else "changed"
        else:
            return f"unknown check {kind!r}"
        return None if now == equals else f"{kind} is {now}, not {equals}"

    def void_reason(self, preconditions: list[dict[str, Any]]) -> str | None:
        return next((r for r in map(self.check, preconditions) if r is not None), None)

    # --- ids already in use -----------------------------------------------------------

    def used_numbers(self) -> set[int]:
        """Contact, ticket, user and order numbers the systems already hold (a later day must
        not reuse one: the same id would be the same object)."""
        used: set[int] = set()
        for (_, external_id), record in self.raw.items():
            numbers = [external_id, record.get("requester_id"), record.get("submitter_id"),
                       str(record.get("external_id") or "").removeprefix("order-"),
                       *str((record.get("properties") or {}).get("hs_merged_object_ids") or "").split(";")]  # fmt: skip
            used.update(int(n) for n in map(str, numbers) if n.isdigit())
        return used

    def people(self) -> int:
        """The highest person number in any email so far (emails are `first.last.N@…`)."""
        texts = [o["fields"] or "" for o in self.objects.values()]
        texts += [e["expected"] or "" for e in self.events]
        return max((int(n) for t in texts for n in PERSON_NUMBER.findall(t)), default=0)


def _exported(reader: Any, path: Path) -> datetime:
    """A file's export time as reckon takes it by default: the format's own, else the mtime."""
    return reader.exported_at(path) or datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
