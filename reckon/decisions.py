"""Operator decisions on findings: `decisions/*.csv` or `decisions/*.jsonl` in the workspace.

One decision per line: `finding_id`, `decision` (accept_external_truth · retry ·
compensate · ignore), `reason` (required for ignore), `operator`, `decided_at`
(RFC 3339 with offset). A decision holds while the finding's evidence (its state hash)
is what it was when the operator decided; when the evidence changes, the finding
reopens. A malformed line is quarantined like any other bad record.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink
from connectors.values import BadRecord, parse_rfc3339

DECISIONS = ("accept_external_truth", "retry", "compensate", "ignore")
SOURCE = "decisions"
SCHEMA = pa.schema([
    ("finding_id", pa.string()), ("decision", pa.string()), ("reason", pa.string()),
    ("operator", pa.string()), ("decided_at", pa.timestamp("us", tz="UTC")),
    ("source_file", pa.string()), ("source_record", pa.int64()),
])


def decision_files(root: Path) -> list[Path]:
    folder = root / "decisions"
    return sorted(p for p in folder.glob("*") if p.suffix in (".csv", ".jsonl")) if folder.is_dir() else []


def digest(root: Path) -> str:
    """Changes whenever a decision file changes (part of the audit's identity)."""
    h = hashlib.sha256()
    for path in decision_files(root):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def load_decisions(root: Path, sink: QuarantineSink) -> pa.Table:
    rows = []
    for path in decision_files(root):
        name = str(path.relative_to(root))
        for number, record in _records(path, sink, name):
            try:
                rows.append({**_decision(record), "source_file": name, "source_record": number})
            except BadRecord as exc:
                sink.reject(name, number, str(exc), record)
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _records(path: Path, sink: QuarantineSink, name: str):
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".csv":
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):  # line 1 is the header
            yield number, row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            sink.reject(name, number, f"malformed JSON: {exc}", line)
            continue
        yield number, record


def _decision(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise BadRecord("expected an object")
    finding_id = str(record.get("finding_id") or "").strip()
    decision = str(record.get("decision") or "").strip()
    reason = str(record.get("reason") or "").strip() or None
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
        "operator": str(record.get("operator") or "").strip() or None,
        "decided_at": parse_rfc3339(record.get("decided_at"), "decided_at"),
    }
