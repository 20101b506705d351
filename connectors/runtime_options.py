"""The options of workflow-runtime connectors (OTel, Temporal): which calls are
side-effecting actions, where their keys and receipts are, and the events they become."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.values import BadRecord, dig, dumps, without_none


def check_keys(options: Any, allowed: Iterable[str], where: str = "options") -> dict[str, Any]:
    """`options` as a mapping with only `allowed` keys, else a ValueError naming the key."""
    if not isinstance(options, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(options).__name__}")
    allowed = set(allowed)
    for key in options:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown option (allowed: {', '.join(sorted(allowed))})")
    return options


def option_str(options: dict[str, Any], key: str, where: str = "options", required: bool = False) -> str | None:
    value = options.get(key)
    if value is None:
        if required:
            raise ValueError(f"{where}.{key}: required")
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def option_strings(options: dict[str, Any], key: str, where: str = "options") -> list[str]:
    value = options.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}.{key}: expected a string or a list of non-empty strings")
    return list(value)


def option_choices(
    options: dict[str, Any], key: str, choices: Iterable[str], where: str = "options", noun: str = "value"
) -> list[str]:
    """A string or a list of strings, each one of `choices` (empty when absent)."""
    values = option_strings(options, key, where)
    allowed = list(choices)
    for value in values:
        if value not in allowed:
            raise ValueError(f"{where}.{key}: unknown {noun} {value!r} (known: {', '.join(sorted(allowed))})")
    return values


def option_mapping(options: dict[str, Any], key: str, where: str = "options") -> dict[str, str]:
    """A mapping of non-empty strings to non-empty strings (empty when absent)."""
    value = options.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{where}.{key}: expected a mapping, got {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(name, str) or not name or not isinstance(item, str) or not item:
            raise ValueError(f"{where}.{key}.{name}: expected a non-empty string, got {item!r}")
    return dict(value)


_ACTION = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+")


@dataclass(frozen=True)
class ActionSpec:
    """How a runtime's call (a tool, an activity) maps onto an intended action.

    Paths are dotted paths into the call's arguments (`receipt`: into its result; an
    empty `receipt` takes the whole result).
    """

    name: str
    action: str
    step: str
    intent_id: str | None = None
    idempotency_key: str | None = None
    receipt: str | None = None
    target: str | None = None
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return self.action.split(".")[0]

    @property
    def object_type(self) -> str:
        return self.action.split(".")[1]

    def intent_fields(self, arguments: Any, fallback_id: str) -> dict[str, Any]:
        """The event columns every event of one call carries: its intent and action."""
        idempotency_key = _key_text(dig(arguments, self.idempotency_key)) if self.idempotency_key else None
        intent_id = _key_text(dig(arguments, self.intent_id)) if self.intent_id else None
        target = _key_text(dig(arguments, self.target)) if self.target else None
        return {
            "intent_id": intent_id or idempotency_key or fallback_id,
            "step": self.step,
            "action": self.action,
            "system": self.system,
            "idempotency_key": idempotency_key,
            "target_object_type": self.object_type if target else None,
            "target_key": target,
        }

    def expected_values(self, arguments: Any) -> str:
        """`expected` (JSON text) from the arguments; `{}` when nothing is mapped."""
        values = {name: dig(arguments, path) for name, path in self.expected.items()}
        return dumps(without_none(values))

    def receipt_id(self, result: Any) -> str | None:
        if self.receipt is None:
            return None
        return _key_text(result if self.receipt == "" else dig(result, self.receipt))


ACTION_KEYS = ("action", "step", "intent_id", "idempotency_key", "receipt", "target", "expected")


def action_specs(options: dict[str, Any], key: str) -> dict[str, ActionSpec]:
    """`options[key]`: runtime name -> {action, step, intent_id, idempotency_key, receipt,
    target, expected}; a ValueError names the offending key."""
    raw = options.get(key, {})
    if not isinstance(raw, dict):
        raise ValueError(f"options.{key}: expected a mapping of names to action settings")
    specs = {}
    for name, spec in raw.items():
        where = f"options.{key}.{name}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"options.{key}: names must be non-empty strings, got {name!r}")
        check_keys(spec, ACTION_KEYS, where)
        action = option_str(spec, "action", where, required=True)
        if not _ACTION.fullmatch(action):
            raise ValueError(f"{where}.action: '{action}' is not system.object.verb")
        receipt = spec.get("receipt")
        if receipt is not None and not isinstance(receipt, str):
            raise ValueError(f"{where}.receipt: expected a dotted path (or '' for the whole result)")
        specs[name] = ActionSpec(
            name=name,
            action=action,
            step=option_str(spec, "step", where) or name,
            intent_id=option_str(spec, "intent_id", where),
            idempotency_key=option_str(spec, "idempotency_key", where),
            receipt=receipt,
            target=option_str(spec, "target", where),
            expected=option_mapping(spec, "expected", where),
        )
    return specs


WORKFLOW_KEYS = ("workflow", "workflows")


def resolve_workflow(options: dict[str, Any], runtime_name: str | None) -> str:
    """The catalog workflow for a runtime's workflow (or agent) name: `workflows` maps
    names, `workflow` is the default for the rest; without it a name passes through."""
    mapped = options.get("workflows", {}).get(runtime_name) if runtime_name else None
    name = mapped or options.get("workflow") or runtime_name
    if not name:
        raise BadRecord("no workflow name in the record and no 'workflow' option to default to")
    return name


def check_runtime_options(options: dict[str, Any], calls: str, *more: str) -> None:
    """The options of a workflow runtime's connector: `calls` (its tools or activities
    -> actions), `workflow`/`workflows`, and the connector's own `more` keys."""
    check_keys(options, {calls, *WORKFLOW_KEYS, *more})
    action_specs(options, calls)
    option_str(options, "workflow")
    option_mapping(options, "workflows")


EVENT_COLUMNS = (
    "event_id", "ts", "type", "run_id", "workflow", "intent_id", "step", "action", "system",
    "idempotency_key", "target_object_type", "target_key", "expected", "attempt",
    "receipt_external_id", "receipt", "error_kind", "error_message", "status", "actor",
    "description", "extra",
)  # fmt: skip


def workflow_event(**values: Any) -> dict[str, Any]:
    """A row of EVENT_SCHEMA (without source_file/source_record); unnamed columns are None."""
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(values)
    if row["receipt_external_id"] is not None and row["receipt"] is None:
        row["receipt"] = dumps({"external_id": row["receipt_external_id"]})
    return row

def _key_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None
