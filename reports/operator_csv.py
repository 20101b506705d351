"""The operator queue as CSV: the open findings that need a person, for a spreadsheet.

`exports/operator-queue-<audit_id>.csv` has one row per repair action that a person
must take or approve (pattern `human_adjudication`, or `requires_approval`), with its
finding. Vendor exports are untrusted and their values reach these cells, so the file
is safe to open in Excel, LibreOffice or Google Sheets:

- CSV injection (OWASP): a text cell that starts with `=`, `+`, `-`, `@`, a tab or a
  carriage return is prefixed with a single quote, so a spreadsheet shows it as text
  and never evaluates it as a formula. Cells are written by Python's `csv` module
  (`QUOTE_MINIMAL`), which quotes separators, quotes and line breaks.
- NUL bytes are written as the two characters `\\0`; a cell longer than a spreadsheet
  holds (32,767 characters) is cut to `CELL_MAX` characters and ends with `…[truncated]`.
- Personal data is masked unless the caller passes `unmask=True` (reports/masking.py):
  emails in any cell, and names and phones under their keys in `field_diff`.

The file is UTF-8 with a byte-order mark (Excel reads UTF-8 only with one), written
beside its final name and renamed into place, so nobody opens a half-written queue.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb

from reckon import atomic
from reports.masking import Masker

COLUMNS = (
    "finding_id", "mismatch_type", "subject_id", "workflow", "system", "pattern", "duplicate_risk",
    "explanation", "recommended_next_action", "field_diff", "action_id",
)  # fmt: skip
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CELL_MAX = 32_000
TRUNCATED = "…[truncated]"

# The queue is the analyst view `operator_queue` (rules/analyst/views.sql): one definition.
QUEUE_QUERY = f"SELECT {', '.join(COLUMNS)} FROM operator_queue ORDER BY finding_id, action_id"


def neutralize(text: str) -> str:
    """A cell's text as a spreadsheet may safely show it (see the module docstring)."""
    text = text.replace("\x00", "\\0")
    if len(text) > CELL_MAX:
        text = text[: CELL_MAX - len(TRUNCATED)] + TRUNCATED
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(column: str, value: object, mask: Masker) -> str:
    if value is None:
        return ""
    if column == "field_diff" and not mask.unmask:
        try:
            value = json.dumps(mask.json(json.loads(str(value))), ensure_ascii=False)
        except (ValueError, RecursionError):
            value = mask.text(value)
    elif column != "field_diff":
        value = mask.text(value)
    return neutralize(str(value))


def export_operator_queue_csv(
    con: duckdb.DuckDBPyConnection, exports: Path, unmask: bool = False
) -> Path:
    """Write exports/operator-queue-<audit_id>.csv atomically; returns its path."""
    audit_id = con.execute("SELECT audit_id FROM audit_context").fetchone()[0]
    exports.mkdir(parents=True, exist_ok=True)
    atomic.remove_leftovers(exports, ".operator-queue-*.tmp")
    final = exports / f"operator-queue-{audit_id}.csv"
    staging = atomic.staging_path(final)
    mask = Masker(unmask=unmask)
    result = con.execute(QUEUE_QUERY)
    with staging.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        while rows := result.fetchmany(10_000):
            writer.writerows([_cell(c, v, mask) for c, v in zip(COLUMNS, row, strict=True)] for row in rows)
    atomic.publish([(staging, final)])
    return final
