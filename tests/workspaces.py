"""Small hand-written workspaces: a workflow log and vendor exports in their documented
shapes, one intent per run, for tests that pin one verdict on exact evidence."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipelines.runner import run_audit
from reckon.database import search_internal
from reckon.workspace import Workspace

EXPORT = datetime(2026, 11, 20, 12, tzinfo=UTC)
START = EXPORT - timedelta(hours=6)
ACTIONS = {
    "stripe": "stripe.refund.create",
    "sendgrid": "sendgrid.message.send",
    "hubspot": "hubspot.contact.update",
    "zendesk": "zendesk.ticket.update",
}
SYSTEMS: dict[str, dict[str, Any]] = {
    "stripe": {"object_type": "refund", "correlation_paths": ["metadata.reckon_intent_id"],
               "natural_key": ["charge"], "settle_window": "1h"},
    "sendgrid": {"object_type": "message", "correlation_paths": ["reckon_intent_id"], "settle_window": "30m"},
    "hubspot": {"object_type": "contact", "correlation_paths": ["properties.reckon_intent_id"],
                "settle_window": "15m", "agent_actors": ["INTEGRATION:reckon-agent"]},
    "zendesk": {"object_type": "ticket", "correlation_paths": ["external_id", "tags"], "settle_window": "15m"},
}  # fmt: skip
FILES = {"stripe": "stripe/refunds.json", "sendgrid": "sendgrid/batch.json", "hubspot": "hubspot/contacts.json",
         "zendesk": "zendesk/tickets.json"}


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def unix(t: datetime) -> int:
    return int(t.timestamp())


@dataclass
class Intent:
    """One run of one step: its events are built from what the test says."""

    key: str
    system: str
    expected: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def intent_id(self) -> str:
        return f"int_{self.key}"

    @property
    def run_id(self) -> str:
        return f"run_{self.key}"

    def event(self, kind: str, minutes: float, **fields: Any) -> Intent:
        base = {"event_id": f"ev_{self.key}_{len(self.events)}", "ts": iso(START + timedelta(minutes=minutes)),
                "type": kind, "run_id": self.run_id, "workflow": f"{self.system}_flow"}
        if kind.startswith(("intent.", "action.", "receipt.")):
            base["intent_id"] = self.intent_id
        self.events.append({**base, **fields})
        return self

    def completed(self, minutes: float = 10) -> Intent:
        return self.event("run.completed", minutes, status="completed")

    def declared(self, **fields: Any) -> Intent:
        self.event("run.started", 0, status="running")
        return self.event("intent.declared", 1, step="act", action=ACTIONS[self.system], system=self.system,
                          expected=self.expected, **fields)


@dataclass
class Built:
    root: Path
    audit: dict[str, Any]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.root / "reckon.duckdb"), read_only=True) as con:
            search_internal(con)
            return con.execute(sql, params or []).fetchall()

    def findings(self, kind: str | None = None) -> set[tuple[str, str]]:
        """(subject, type) of every finding, or of one subject kind's."""
        return set(self.query("SELECT subject_id, mismatch_type FROM findings WHERE ? IS NULL OR subject_kind = ?",
                              [kind, kind]))

    def evidence(self, subject: str) -> dict[str, Any]:
        (text,) = self.query("SELECT evidence FROM findings WHERE subject_id = ?", [subject])[0]
        return json.loads(text)


def write(path: Path, data: Any, at: datetime = EXPORT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    os.utime(path, (at.timestamp(), at.timestamp()))


def build(root: Path, intents: list[Intent], exports: dict[str, Any], systems: dict[str, dict] | None = None,
          audit: bool = True) -> Built:
    """A workspace of these intents (each its own one-step workflow) and vendor exports
    (`{system: document}`, written where the system's source reads), audited once."""
    systems = {name: {**SYSTEMS[name], **(systems or {}).get(name, {})} for name in SYSTEMS}
    config = {
        "version": 1,
        "correlation": {"key_pattern": "(int|idem)_[0-9a-z_]+"},
        "sources": {"log": {"connector": "event_log", "paths": ["landing/events/*.jsonl"]}}
        | {name: {"connector": name, "system": name, "paths": [f"landing/{FILES[name]}"], "optional": True}
           for name in SYSTEMS},
        "systems": systems,
        "catalog": {f"{name}_flow": {"completion_window": "1h",
                                     "steps": [{"step": "act", "action": ACTIONS[name], "required": True}]}
                    for name in SYSTEMS},
    }
    write(root / "reckon.yaml", yaml.safe_dump(config, sort_keys=False))
    write(root / "landing" / "events" / "log.jsonl", "".join(json.dumps(e) + "\n" for i in intents for e in i.events))
    for system, document in exports.items():
        write(root / "landing" / FILES[system], document)
    return Built(root, run_audit(Workspace.open(root)) if audit else {})
