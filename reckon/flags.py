"""Operator flags on runs: `flags/*.csv` or `flags/*.jsonl` in the workspace.

One flag per line: `run_id`, `operator`, `reason` (what looks wrong), `flagged_at`
(RFC 3339 with offset). A flagged run enters reconciliation (TAXONOMY.md "Suspicious
runs", reason `operator_flag`), like a `run.flagged` event in the workflow log; the audit
then gives it a verdict. A line that is not a flag is quarantined (`operator_files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink
from connectors.values import BadRecord, parse_rfc3339, require_unicode
from reckon import operator_files
from reckon.operator_files import text

SOURCE = FOLDER = "flags"
SCHEMA = pa.schema([
    ("run_id", pa.string()), ("operator", pa.string()), ("reason", pa.string()),
    ("flagged_at", pa.timestamp("us", tz="UTC")), ("source_file", pa.string()), ("source_record", pa.int64()),
])


def digest(root: Path) -> str:
    """Changes whenever a flag file changes; "" without any, so that a workspace that never
    flagged keeps the audit ids it had."""
    files = operator_files.operator_files(root, FOLDER)
    return operator_files.digest(files) if files else ""


def load_flags(root: Path, sink: QuarantineSink) -> pa.Table:
    return operator_files.load(root, FOLDER, sink, _flag, SCHEMA)


def _flag(record: dict[str, Any]) -> dict[str, Any]:
    require_unicode(record)
    flag = {key: text(record, key) for key in ("run_id", "operator", "reason")}
    for key, value in flag.items():
        if not value:
            raise BadRecord(f"'{key}' is required")
    return {**flag, "flagged_at": parse_rfc3339(record.get("flagged_at"), "flagged_at")}
