"""Approvals of actions that require one (`requires_approval`): an operator's decision on
the action's finding that asks for its pattern (`retry` for a forward completion,
`compensate` for a compensation, reckon/decisions.py), or a line in `approvals/*.csv` or
`approvals/*.jsonl` in the workspace:

    action_id    the action approved (act_…)
    approved_by  who approved it (required)
    approved_at  when (RFC 3339 with offset)
    note         optional

A line that is not an approval is quarantined with its file, line and reason, as decision
lines are (reckon/operator_files.py); the executor prints them and goes on without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink
from connectors.values import BadRecord, parse_rfc3339, require_unicode
from reckon import operator_files
from reckon.decisions import load_decisions
from reckon.operator_files import text

FOLDER = "approvals"
SCHEMA = pa.schema([
    ("action_id", pa.string()), ("approved_by", pa.string()), ("approved_at", pa.timestamp("us", tz="UTC")),
    ("note", pa.string()), ("source_file", pa.string()), ("source_record", pa.int64()),
])  # fmt: skip
# The pattern an operator's decision on a finding asks for.
DECIDED_PATTERN = {"retry": "forward_completion", "compensate": "compensation"}


@dataclass(frozen=True)
class Approvals:
    by_action: dict[str, str]  # action_id -> who approved it (an approvals/ line)
    by_decision: dict[tuple[str, str], str]  # (finding_id, pattern) -> the deciding operator
    quarantined: list[dict[str, Any]]  # the lines that are not approvals or decisions

    def approver(self, action: dict[str, Any]) -> str | None:
        """Who approved the action; None when no one has."""
        return self.by_action.get(action["action_id"]) or self.by_decision.get(
            (action["finding_id"], action["pattern"])
        )


def load_approvals(root: Path) -> Approvals:
    sink = QuarantineSink(FOLDER)
    by_action: dict[str, str] = {}
    for row in operator_files.load(root, FOLDER, sink, _approval, SCHEMA).to_pylist():
        by_action.setdefault(row["action_id"], row["approved_by"])
    by_decision = {(d["finding_id"], DECIDED_PATTERN[d["decision"]]): d["operator"] or "operator decision"
                   for d in load_decisions(root, sink).to_pylist() if d["decision"] in DECIDED_PATTERN}  # fmt: skip
    return Approvals(by_action, by_decision, sink.rows)


def _approval(record: dict[str, Any]) -> dict[str, Any]:
    require_unicode(record)
    action_id, approved_by = text(record, "action_id"), text(record, "approved_by")
    if not action_id.startswith("act_"):
        raise BadRecord("'action_id' must be an action id (act_…)")
    if not approved_by:
        raise BadRecord("'approved_by' is required")
    return {"action_id": action_id, "approved_by": approved_by, "note": text(record, "note") or None,
            "approved_at": parse_rfc3339(record.get("approved_at"), "approved_at")}  # fmt: skip
