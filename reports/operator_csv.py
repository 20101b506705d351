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

Most cells need none of this. The rows come as Arrow batches, and per column Arrow's
compute functions find the cells that have no `@` (so no email), no NUL, no formula prefix
and fit the limit: those are written as they are, and only the others go through
`written_cell`, one by one (tests/test_hostile_input.py compares both on fuzzed cells).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from reckon import atomic
from reports.masking import Masker

COLUMNS = (
    "finding_id", "mismatch_type", "subject_id", "workflow", "system", "pattern", "duplicate_risk",
    "explanation", "recommended_next_action", "field_diff", "action_id",
)  # fmt: skip
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CELL_MAX = 32_000
TRUNCATED = "…[truncated]"
BATCH_ROWS = 65_536

# The queue is the analyst view `operator_queue` (rules/analyst/views.sql): one definition.
QUEUE_QUERY = f"SELECT {', '.join(COLUMNS)} FROM operator_queue ORDER BY finding_id, action_id"


def neutralize(text: str) -> str:
    """A cell's text as a spreadsheet may safely show it (see the module docstring)."""
    text = text.replace("\x00", "\\0")
    if len(text) > CELL_MAX:
        text = text[: CELL_MAX - len(TRUNCATED)] + TRUNCATED
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def written_cell(column: str, value: str, mask: Masker) -> str:
    if column == "field_diff" and not mask.unmask:
        try:
            value = json.dumps(mask.json(json.loads(value)), ensure_ascii=False)
        except (ValueError, RecursionError):
            value = mask.text(value)
    elif column != "field_diff":
        value = mask.text(value)
    return neutralize(value)


def _may_change(column: str, text: pa.Array, mask: Masker) -> pa.Array:
    """Where `written_cell` may not return a cell as it is: something to mask (an `@`, so
    maybe an email) or to neutralize (a NUL, too long, a formula prefix). Few cells, found
    at C speed."""
    if not mask.unmask and (column == "field_diff" or mask.names):
        return pa.repeat(True, len(text))  # masked by key, or by known names: any cell may change
    risky = pc.or_(pc.match_substring(text, "\x00"), pc.greater(pc.utf8_length(text), CELL_MAX))
    for prefix in FORMULA_PREFIXES:
        risky = pc.or_(risky, pc.starts_with(text, prefix))
    if not mask.unmask and column != "field_diff":
        risky = pc.or_(risky, pc.match_substring(text, "@"))
    return risky


def written_column(column: str, values: pa.Array, mask: Masker) -> list[str]:
    """A column's cells as written (NULL: empty); only the cells that `_may_change` go
    through `written_cell`, one by one."""
    text = values.cast(pa.string())
    cells = pc.fill_null(text, "").to_pylist()
    for i in pc.indices_nonzero(pc.and_(_may_change(column, text, mask), pc.is_valid(text))).to_pylist():
        cells[i] = written_cell(column, cells[i], mask)
    return cells


def export_operator_queue_csv(
    con: duckdb.DuckDBPyConnection, exports: Path, unmask: bool = False
) -> Path:
    """Write exports/operator-queue-<audit_id>.csv atomically; returns its path."""
    # Fetched whole: the queue's reader needs the connection without a pending result.
    [(audit_id,)] = con.execute("SELECT audit_id FROM audit_context").fetchall()
    exports.mkdir(parents=True, exist_ok=True)
    atomic.remove_leftovers(exports, ".operator-queue-*.tmp")
    final = exports / f"operator-queue-{audit_id}.csv"
    staging = atomic.staging_path(final)
    mask = Masker(unmask=unmask)
    with staging.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for batch in con.sql(QUEUE_QUERY).to_arrow_reader(BATCH_ROWS):
            writer.writerows(zip(*(written_column(c, batch.column(c), mask) for c in COLUMNS), strict=True))
    atomic.publish([(staging, final)])
    return final
