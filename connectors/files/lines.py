"""JSON Lines: a file line by line (maybe gzipped), each line an object or a bad record."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from connectors.base import QuarantineSink
from connectors.values import BadRecord, surrogate_escape

SNIFF_LINES = 8  # lines `is_json_lines` looks at
SNIFF_LINE_CHARS = 1 << 20  # and at most this much of each


def open_binary(path: Path):
    """Open a file for reading, transparently un-gzipping `*.gz`."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_lines(path: Path, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each non-blank line; undecodable lines are rejected.

    A gzip stream that ends early is rejected as one record after the last good line.
    """
    line_no = 0
    try:
        with open_binary(path) as handle:
            for line_no, raw in enumerate(handle, start=1):
                text = decode_line(raw, line_no, sink, source_file)
                if text is not None:
                    yield line_no, text
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, line_no + 1, f"unreadable file: {exc}")


def decode_line(raw: bytes, line_no: int, sink: QuarantineSink, source_file: str) -> str | None:
    """One raw line's text; None when it is blank, or not UTF-8 (then rejected into `sink`)."""
    if not raw.strip():
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        sink.reject(source_file, line_no, f"invalid UTF-8: {exc.reason}", raw)
        return None


def parse_json_line(text: str) -> dict[str, Any]:
    """Parse one JSON Lines record; anything but an object is a bad record."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: also integers past Python's digit limit
        raise BadRecord(f"malformed JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRecord(f"expected a JSON object, got {type(value).__name__}")
    return value


class JsonLines:
    """(line number, object) for each JSON Lines record; bad lines are rejected. `escapes`
    tells whether a line read so far holds a surrogate escape: only a record of such a line
    can hold a lone surrogate (see `values.surrogate_escape`)."""

    def __init__(self, path: Path, sink: QuarantineSink, source_file: str) -> None:
        self.escapes = False
        self._records = self._read(path, sink, source_file)

    def __iter__(self) -> JsonLines:
        return self

    def __next__(self) -> tuple[int, dict[str, Any]]:
        return next(self._records)

    def _read(self, path: Path, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, dict[str, Any]]]:
        for line_no, text in iter_lines(path, sink, source_file):
            if not self.escapes:
                self.escapes = surrogate_escape(text)
            try:
                yield line_no, parse_json_line(text)
            except BadRecord as exc:
                sink.reject(source_file, line_no, str(exc), text)


def iter_json_lines(path: Path, sink: QuarantineSink, source_file: str) -> JsonLines:
    """(line number, object) for each JSON Lines record; bad lines are rejected."""
    return JsonLines(path, sink, source_file)


def is_json_lines(path: Path) -> bool:
    """JSON Lines (`.jsonl`, `.ndjson`, or lines that are whole objects from column 0)
    rather than one JSON document, from the name or the first few lines."""
    if {".jsonl", ".ndjson"} & set(path.suffixes):
        return True
    lines: list[bytes] = []
    try:
        with open_binary(path) as handle:
            while len(lines) < SNIFF_LINES:
                line = handle.readline(SNIFF_LINE_CHARS)
                if not line:
                    break
                if line.strip():
                    lines.append(line)
    except (EOFError, OSError, zlib.error):
        pass
    if len(lines) < 2 or lines[0][:1] != b"{" or lines[0].strip() == b"{":
        return False  # one line, an array, or a pretty-printed object
    whole = [_is_object(line) for line in lines]
    # The first line is a whole object, or (the first line being damaged) two others are.
    return whole[0] or sum(whole) >= 2


def _is_object(line: bytes) -> bool:
    if line[:1] != b"{":
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def numbered_rows(
    records: Iterable[tuple[int, Any]],
    sink: QuarantineSink,
    source_file: str,
    build: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> Iterator[dict[str, Any]]:
    """The rows `build` makes of each numbered record (a line, a position); `build` returns
    all of a record's rows or raises BadRecord, so a record is kept or rejected whole."""
    for number, item in records:
        try:
            if not isinstance(item, dict):
                raise BadRecord(f"expected a JSON object, got {type(item).__name__}")
            rows = build(item)
        except BadRecord as exc:
            sink.reject(source_file, number, str(exc), item)
            continue
        for row in rows:
            row["source_file"] = source_file
            row["source_record"] = number
            yield row
