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
from reckon.database import search_internal
from reckon.preconditions import WorkflowLog, read_source, void_reason
from reckon.workspace import Workspace
from simulator.runs import Intent

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
    log: WorkflowLog = field(default_factory=WorkflowLog)  # the events, indexed

    @classmethod
    def read(cls, root: Path) -> Live:
        ws = Workspace.open(root)
        live = cls(ws.root)
        versions: dict[Key, list[tuple]] = defaultdict(list)
        for source in ws.config.sources:
            for observed_at, path, rows in read_source(ws, source):
                if CONNECTORS[source.connector].layer == "workflow":
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
        self.log = WorkflowLog.of(self.events)  # in export order: the first copy read wins
        self.events, self.by_run, self.by_intent = self.log.events, self.log.by_run, self.log.by_intent

    def _latest_audit(self, ws: Workspace) -> None:
        if not ws.database.exists():
            return
        with duckdb.connect(str(ws.database), read_only=True) as con:
            search_internal(con)
            row = con.execute("SELECT audit_id, as_of FROM audits ORDER BY as_of DESC, finished_at DESC LIMIT 1").fetchone()
        if row is None:
            return
        self.audit_id, self.as_of = row[0], row[1].astimezone(UTC)
        plan = ws.exports / f"repair-plan-{self.audit_id}.jsonl"
        if plan.exists():
            self.plan = [json.loads(line) for line in plan.read_text(encoding="utf-8").splitlines() if line]

    # --- the runtime ----------------------------------------------------------------

    def run_status(self, run_id: str) -> str:
        return self.log.run_status(run_id)

    def recorded_outcome(self, intent_id: str) -> str:
        return self.log.recorded_outcome(intent_id)

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

    # --- the systems, read from their exports (a reckon.preconditions.Vendor) -----------

    def object(self, system: str, external_id: str) -> dict[str, Any] | None:
        return self.objects.get((system, external_id))

    def carriers(self, system: str, keys: set[str]) -> list[str]:
        return [k[1] for k, o in self.objects.items() if k[0] == system and keys & set(o["correlation_keys"] or [])]

    def void_reason(self, preconditions: list[dict[str, Any]]) -> str | None:
        """What no longer holds of an action's preconditions (None: all hold)."""
        return void_reason(self.log, self, preconditions)

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

