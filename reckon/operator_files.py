"""Files operators write into the workspace (`decisions/`, `flags/`): CSV or JSON Lines,
one record per line, read strictly. A line that is not a record is quarantined with its
file, line and reason: one that is not UTF-8 (a CSV may begin with the byte order mark
Excel writes), not JSON (nested past the parser's limit, a number past Python's digit
limit), holds a lone surrogate, or has more CSV fields than the header. The rest of the
file is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink
from connectors.files import iter_lines, parse_json_line
from connectors.values import BadRecord, describe, lone_surrogate, storable

BOM = "\ufeff"
SUFFIXES = (".csv", ".jsonl")


def operator_files(root: Path, folder: str) -> list[Path]:
    """The record files in `<root>/<folder>`, in name order."""
    where = root / folder
    return sorted(p for p in where.glob("*") if p.suffix in SUFFIXES) if where.is_dir() else []


def digest(files: list[Path]) -> str:
    """Changes whenever one of `files` changes (part of the audit's identity)."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def load(root: Path, folder: str, sink: QuarantineSink, parse: Callable[[dict[str, Any]], dict[str, Any]],
         schema: pa.Schema) -> pa.Table:
    """Every record of the folder's files through `parse` (which raises BadRecord for one
    it refuses), with `source_file` and `source_record`; refused ones go to `sink`."""
    rows = []
    for path in operator_files(root, folder):
        name = str(path.relative_to(root))
        for number, record in _records(path, sink, name):
            try:
                rows.append({**parse(record), "source_file": name, "source_record": number})
            except BadRecord as exc:
                sink.reject(name, number, str(exc), record)
    return pa.Table.from_pylist(rows, schema=schema)


def _records(path: Path, sink: QuarantineSink, name: str) -> Iterator[tuple[int, Any]]:
    """(line, record) for each record of the file; a line that is not one goes to `sink`."""
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


def text(record: dict[str, Any], key: str) -> str:
    """A field's text, trimmed ("" when absent or null); any other JSON type is a bad record."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"'{key}' must be text, got {describe(value)}")
    return value.strip()
