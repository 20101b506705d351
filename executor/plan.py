"""A repair plan as the executor takes it: `exports/repair-plan-<audit_id>.jsonl`, checked
line by line against what the executor relies on (docs/repair-plan.schema.json; jsonschema
is a development dependency only, so the essentials are checked here), then the actions to
consider (`--only`, `--limit`) in the order to take them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

PATTERNS = ("receipt_backfill", "status_patch", "forward_completion", "compensation",
            "human_adjudication", "wait_and_verify")  # fmt: skip
CHECKS = {"run_status": "workflow_log", "recorded_outcome": "workflow_log",
          "observed_state": "vendor", "object_state": "vendor"}  # fmt: skip
# What each check needs to be re-run (besides `equals`).
CHECK_KEYS = {"run_status": ("run_id",), "recorded_outcome": ("intent_id",),
              "observed_state": ("system", "intent_id"), "object_state": ("system", "external_id")}  # fmt: skip
# Effects first, then intents, then runs: a run is completed once its intents are repaired.
SUBJECT_ORDER = ("effect", "intent", "run")
IDS = {"action_id": re.compile(r"act_[0-9a-f]{24}"), "finding_id": re.compile(r"fnd_[0-9a-f]{24}"),
       "audit_id": re.compile(r"aud_[0-9a-f]{20}")}  # fmt: skip


class PlanError(ValueError):
    """The plan file cannot be executed: it names the line and what is wrong with it."""


def load_plan(path: Path) -> list[dict[str, Any]]:
    """Every action of the plan, in file order; any line that is not a valid action refuses
    the whole plan (a plan is reckon's own output: a bad line means a damaged file)."""
    if not path.is_file():
        raise PlanError(f"plan file {path} does not exist")
    actions, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
            problem = _problem(action)
        except ValueError as exc:
            problem = f"not JSON ({exc})"
        if problem is None and action["action_id"] in seen:
            problem = f"action {action['action_id']} appears twice"
        if problem:
            raise PlanError(f"{path}:{number}: {problem}")
        seen.add(action["action_id"])
        actions.append(action)
    return actions


def _problem(action: Any) -> str | None:
    if not isinstance(action, dict):
        return "not a JSON object"
    for key, form in IDS.items():
        if not isinstance(action.get(key), str) or not form.fullmatch(action[key]):
            return f"'{key}' must match {form.pattern}"
    if action.get("pattern") not in PATTERNS:
        return f"'pattern' must be one of {', '.join(PATTERNS)}"
    if action.get("subject_kind") not in SUBJECT_ORDER:
        return f"'subject_kind' must be one of {', '.join(SUBJECT_ORDER)}"
    for key in ("subject_id", "mismatch_type", "target_system", "idempotency_key"):
        if not isinstance(action.get(key), str) or not action[key]:
            return f"'{key}' must be non-empty text"
    for key in ("run_id", "workflow", "target_external_id"):
        if action.get(key) is not None and not isinstance(action[key], str):
            return f"'{key}' must be text or null"
    if not isinstance(action.get("parameters"), dict):
        return "'parameters' must be an object"
    for key in ("requires_approval", "touches_external_system"):
        if not isinstance(action.get(key), bool):
            return f"'{key}' must be true or false"
    preconditions = action.get("preconditions")
    if not isinstance(preconditions, list) or not preconditions:
        return "'preconditions' must be a non-empty list"
    return next((p for p in map(_precondition_problem, preconditions) if p), None)


def _precondition_problem(check: Any) -> str | None:
    if not isinstance(check, dict) or check.get("check") not in CHECKS:
        return f"a precondition's 'check' must be one of {', '.join(CHECKS)}"
    kind = check["check"]
    if check.get("checked_against") != CHECKS[kind]:
        return f"a {kind} precondition is checked against {CHECKS[kind]}"
    if "equals" not in check:
        return f"a {kind} precondition has no 'equals'"
    missing = [k for k in CHECK_KEYS[kind] if not isinstance(check.get(k), str)]
    return f"a {kind} precondition needs {', '.join(missing)}" if missing else None


def matcher(only: str | None) -> Callable[[dict[str, Any]], bool]:
    """`--only PATTERN`: a glob over the action's repair pattern or mismatch type."""
    if only is None:
        return lambda _: True
    return lambda a: fnmatchcase(a["pattern"], only) or fnmatchcase(a["mismatch_type"], only)


def in_order(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Effects, then intents, then runs; plan order within each."""
    return sorted(actions, key=lambda a: SUBJECT_ORDER.index(a["subject_kind"]))
