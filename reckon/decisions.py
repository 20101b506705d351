"""Operator decisions on findings: `decisions/*.csv` or `decisions/*.jsonl` in the workspace.

One decision per line: `finding_id`, `decision` (accept_external_truth · retry ·
compensate · ignore), `reason` (required for ignore), `operator`, `decided_at`
(RFC 3339 with offset). A decision holds while the finding's evidence (its state hash)
is what it was when the operator decided; when the evidence changes, the finding
reopens. A malformed line is quarantined like any other bad record: one that is not
UTF-8 (a CSV may begin with the byte order mark Excel writes), not JSON (nested past the
parser's limit, a number past Python's digit limit), holds a lone surrogate, has a field
that is not text, or more CSV fields than the header. The rest of the file is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink
from connectors.files import iter_lines, parse_json_line
from connectors.values import (
    BadRecord,
    describe,
    lone_surrogate,
    parse_rfc3339,
    require_unicode,
    storable,
)

DECISIONS = ("accept_external_truth", "retry", "compensate", "ignore")
SOURCE = "decisions"
BOM = "\ufeff"
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


def _records(path: Path, sink: QuarantineSink, name: str) -> Iterator[tuple[int, Any]]:
    """(line, record) for each decision; a line that is not one goes to `sink`."""
    if path.suffix == ".csv":
        yield from _csv_records(path, sink, name)
        return
    for number, text in iter_lines(path, sink, name):  # invalid UTF-8: quarantined there
        try:
            # JSON too deep for the parser or numbers past Python's digit limit: bad records.
            yield number, parse_json_line(text.removeprefix(BOM) if number == 1 else text)
        except BadRecord as exc:
            sink.reject(name, number, str(exc), text)


def _csv_records(path: Path, sink: QuarantineSink, name: str) -> Iterator[tuple[int, Any]]:
    """(first line, row as {header: value}) for each CSV record after the header."""
    # Excel, and reckon's own operator CSV, begin the file with a byte order mark. Bytes that
    # are not UTF-8 decode to lone surrogates here, so each row holding one is quarantined.
    text = path.read_bytes().removeprefix(BOM.encode()).decode("utf-8", errors="surrogateescape")
    line = 0  # lines read so far: a record (a quoted field may span lines) starts after them

    def lines() -> Iterator[str]:
        nonlocal line
        for value in io.StringIO(text, newline=""):
            line += 1
            yield value

    reader = csv.reader(lines())
    header: list[str] | None = None
    while True:
        start = line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field past the csv module's size limit
            sink.reject(name, start, f"malformed CSV: {exc}")
            continue
        if not values:  # a blank line
            continue
        if header is None:
            header = values
            continue
        row = dict(zip(header, values, strict=False))
        field = lone_surrogate(row)
        if len(values) > len(header):
            sink.reject(name, start, f"{len(values)} fields, more than the header's {len(header)}", values)
        elif field is not None:
            sink.reject(name, start, f"invalid UTF-8 in field '{storable(field)}'", row)
        else:
            yield start, row


def _text(record: dict[str, Any], key: str) -> str:
    """A field's text, trimmed ("" when absent or null); any other JSON type is a bad record."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"'{key}' must be text, got {describe(value)}")
    return value.strip()


def _decision(record: dict[str, Any]) -> dict[str, Any]:
    require_unicode(record)  # a JSON escape of half a surrogate pair: no row can hold it
    finding_id = _text(record, "finding_id")
    decision = _text(record, "decision")
    reason = _text(record, "reason") or None
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
        "operator": _text(record, "operator") or None,
        "decided_at": parse_rfc3339(record.get("decided_at"), "decided_at"),
    }
