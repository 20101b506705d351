"""One run's workflow-log events (EVENT_LOG.md), written as the run goes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from simulator.model import rfc3339
from simulator.world import World

CONFIG_PATH = Path(__file__).with_name("reckon.yaml")


@cache
def catalog() -> dict[str, dict[str, str]]:
    """workflow -> {step: action}, in catalog order, from the demo reckon.yaml."""
    data = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    return {
        name: {s["step"]: s["action"] for s in wf["steps"]} for name, wf in data["catalog"].items()
    }


@dataclass
class Intent:
    intent_id: str
    step: str
    action: str
    idempotency_key: str
    attempt: int = 0
    key_in_use: str = ""
    target: dict[str, Any] | None = None  # the object an update acts on, as the runtime spells it

    @property
    def system(self) -> str:
        return self.action.split(".")[0]

    def fields(self) -> dict[str, Any]:
        return {"intent_id": self.intent_id, "step": self.step, "action": self.action,
                "system": self.system}  # fmt: skip


class Run:
    """Emits events at `now`, which only moves forward (`tick`)."""

    def __init__(self, world: World, workflow: str, scenario: str, start: datetime) -> None:
        self.world = world
        self.workflow = workflow
        self.scenario = scenario
        self.run_id = world.ids.hex("run_", 10)
        self.now = start
        world.runs.append(
            {"run_id": self.run_id, "workflow": workflow, "scenario": scenario,
             "clean": scenario.startswith("C")}
        )  # fmt: skip
        self.emit("run.started", status="running", actor="agent")

    @classmethod
    def resume(cls, world: World, run_id: str, workflow: str, now: datetime) -> Run:
        """A run already in the log (written on an earlier day) that goes on at `now`."""
        run = cls.__new__(cls)
        run.world, run.workflow, run.scenario, run.run_id, run.now = (
            world, workflow, "resumed", run_id, now
        )
        return run

    def tick(self, lo_minutes: float = 1, hi_minutes: float = 5) -> datetime:
        self.now += self.world.minutes(lo_minutes, hi_minutes)
        return self.now

    def later(self, lo_seconds: float, hi_seconds: float) -> datetime:
        self.now += self.world.seconds(lo_seconds, hi_seconds)
        return self.now

    def emit(self, kind: str, **fields: Any) -> None:
        event = {"event_id": self.world.ids.hex("ev_", 16), "ts": rfc3339(self.now), "type": kind,
                 "run_id": self.run_id, "workflow": self.workflow}  # fmt: skip
        event.update({k: v for k, v in fields.items() if v is not None})
        self.world.events.append(event)

    def declare(
        self, step: str, expected: dict[str, Any], *, target: dict[str, str] | None = None,
        description: str | None = None,
    ) -> Intent:  # fmt: skip
        ids, conventions = self.world.ids, self.world.conventions
        intent = Intent(
            ids.hex("int_", 12), step, catalog()[self.workflow][step], ids.hex("idem_", 12)
        )
        if target is not None:
            key = conventions.id_value(intent.system, target["key"])
            intent.target = {**target, "key": key}
        self.later(1, 5)
        on_declaration = conventions.on_declaration()
        self.emit(
            "intent.declared", **intent.fields(),
            idempotency_key=intent.idempotency_key if on_declaration else None,
            expected=conventions.expected(intent.system, expected),
            target=intent.target if on_declaration else None, description=description,
        )  # fmt: skip
        return intent

    def attempt(
        self, intent: Intent, key: str | None = None, at: datetime | None = None
    ) -> datetime:
        """`action.attempted` (the next attempt number), at `at` or a few minutes on."""
        intent.attempt += 1
        intent.key_in_use = key or intent.idempotency_key
        if at is None:
            self.tick()
        else:
            self.skip_ahead(at)
        self._action("action.attempted", intent)
        return self.now

    def succeeded(self, intent: Intent, external_id: str | int, **fields: Any) -> None:
        self._action("action.succeeded", intent, receipt={"external_id": external_id}, **fields)

    def failed(self, intent: Intent, kind: str, message: str) -> None:
        self._action("action.failed", intent, error={"kind": kind, "message": message})

    def timed_out(self, intent: Intent) -> None:
        self._action(
            "action.timed_out",
            intent,
            error={"kind": "timeout", "message": "no response within 30s"},
        )

    def blocked(self, intent: Intent, message: str) -> None:
        """A duplicate attempt the runtime's own dedupe refused: not an outcome of the intent."""
        self._action("action.blocked", intent, error={"kind": "idempotency_conflict", "message": message})

    def flagged(self, actor: str, description: str) -> None:
        """An operator says the run's state looks wrong: not a status change."""
        self.emit("run.flagged", actor=actor, description=description)

    def receipt(self, intent: Intent, external_id: str | int, **fields: Any) -> None:
        """A late receipt (e.g. from the system's webhook) for the latest attempt."""
        self._action(
            "receipt.recorded", intent, receipt={"external_id": external_id}, actor="agent",
            **fields,
        )  # fmt: skip

    def compensated(self, intent: Intent, **fields: Any) -> None:
        """A counter-action was performed for the intent (e.g. a duplicate refund reversed)."""
        self._action("action.compensated", intent, **fields)

    def _action(self, kind: str, intent: Intent, **fields: Any) -> None:
        # An intent never attempted (resumed on a later day) has no attempt number or key in
        # use. A runtime that writes ids on the declaration only still sends a retry's new key
        # with its call (no declaration names it).
        key = intent.key_in_use or None
        on_actions = self.world.conventions.on_actions()
        if not on_actions and key == intent.idempotency_key:
            key = None
        self.emit(
            kind,
            **intent.fields(),
            idempotency_key=key,
            target=intent.target if on_actions else None,
            attempt=intent.attempt or None,
            **fields,
        )

    def finish(self, status: str, **fields: Any) -> None:
        """The run's status event: run.<status> with `status` (completed, failed, escalated...)."""
        self.later(2, 30)
        self.emit(f"run.{status}", status=status, **fields)

    def skip_ahead(self, to: datetime) -> None:
        self.now = max(self.now, to)
