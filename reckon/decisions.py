"""Operator decisions on findings: `decisions/*.csv` or `decisions/*.jsonl` in the workspace.

One decision per line: `finding_id`, `decision` (accept_external_truth · retry ·
compensate · ignore), `reason` (required for ignore), `operator`, `decided_at`
(RFC 3339 with offset). A decision holds while the finding's evidence (its state hash)
is what it was when the operator decided; when the evidence changes, the finding
reopens. A malformed line is quarantined like any other bad record (`operator_files`),
and so is one whose field is not text or whose values are not a decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink
from connectors.values import BadRecord, parse_rfc3339, require_unicode
from reckon import operator_files
from reckon.operator_files import text

DECISIONS = ("accept_external_truth", "retry", "compensate", "ignore")
SOURCE = FOLDER = "decisions"
SCHEMA = pa.schema([
    ("finding_id", pa.string()), ("decision", pa.string()), ("reason", pa.string()),
    ("operator", pa.string()), ("decided_at", pa.timestamp("us", tz="UTC")),
    ("source_file", pa.string()), ("source_record", pa.int64()),
])


def digest(root: Path) -> str:
    """Changes whenever a decision file changes (part of the audit's identity)."""
    return operator_files.digest(operator_files.operator_files(root, FOLDER))


def load_decisions(root: Path, sink: QuarantineSink) -> pa.Table:
    return operator_files.load(root, FOLDER, sink, _decision, SCHEMA)


def _decision(record: dict[str, Any]) -> dict[str, Any]:
    require_unicode(record)  # a JSON escape of half a surrogate pair: no row can hold it
    finding_id = text(record, "finding_id")
    decision = text(record, "decision")
    reason = text(record, "reason") or None
    if not finding_id.startswith("fnd_"):
        raise BadRecord("'finding_id' must be a finding id (fnd_…)")
    if decision not in DECISIONS:
        raise BadRecord(f"'decision' must be one of {', '.join(DECISIONS)}")
    if decision == "ignore" and not reason:
        raise BadRecord("'ignore' needs a 'reason'")
    return {
        "finding_id": finding_id,
        "decision": decision,
        "reason": reason,
        "operator": text(record, "operator") or None,
        "decided_at": parse_rfc3339(record.get("decided_at"), "decided_at"),
    }
