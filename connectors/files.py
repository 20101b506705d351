"""Reading export files record by record: JSON Lines, whole JSON documents (streamed),
CSV, gzip; every bad record goes to the quarantine sink with its number."""

from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from connectors.base import QuarantineSink
from connectors.values import BadRecord


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
                if not raw.strip():
                    continue
                try:
                    yield line_no, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    sink.reject(source_file, line_no, f"invalid UTF-8: {exc.reason}", raw)
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, line_no + 1, f"unreadable file: {exc}")


def parse_json_line(text: str) -> dict[str, Any]:
    """Parse one JSON Lines record; anything but an object is a bad record."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: also integers past Python's digit limit
        raise BadRecord(f"malformed JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRecord(f"expected a JSON object, got {type(value).__name__}")
    return value


def load_document(path: Path, sink: QuarantineSink, source_file: str) -> Any | None:
    """Parse a whole-file JSON document; an unreadable file is rejected as record 0."""
    try:
        with open_binary(path) as handle:
            data = handle.read()
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        sink.reject(source_file, 0, f"invalid UTF-8: {exc.reason}")
    except (ValueError, RecursionError) as exc:  # ValueError: also integers past Python's digit limit
        sink.reject(source_file, 0, f"malformed JSON document: {exc}")
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, 0, f"unreadable file: {exc}")
    return None


def iter_records(
    items: Iterable[Any], sink: QuarantineSink, source_file: str, build
) -> Iterator[dict[str, Any]]:
    """Apply `build(record)` to each numbered record, rejecting those that raise BadRecord."""

    def one(item: dict[str, Any]) -> list[dict[str, Any]]:
        row = build(item)
        return [] if row is None else [row]

    yield from numbered_rows(enumerate(items, start=1), sink, source_file, one)


def document_items(
    path: Path,
    sink: QuarantineSink,
    source_file: str,
    list_key: str | None = None,
    item_key: str | None = None,
) -> list[Any]:
    """The records of a whole-file JSON document, numbered by position from 1.

    A page (an object whose `list_key` is an array) gives that array; an object
    wrapping one record under `item_key` gives that record; a bare array gives
    its elements; any other object is a single record. Whatever is not an object
    or array rejects the whole file as record 0.
    """
    before = len(sink.rows)
    document = load_document(path, sink, source_file)
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if list_key is not None and isinstance(document.get(list_key), list):
            return document[list_key]
        if item_key is not None and item_key in document:
            return [document[item_key]]
        return [document]
    if document is not None or len(sink.rows) == before:  # JSON null parses to None
        kind = "null" if document is None else type(document).__name__
        sink.reject(source_file, 0, f"expected a JSON object or array, got {kind}", document)
    return []


def iter_record_rows(
    items: Iterable[Any],
    sink: QuarantineSink,
    source_file: str,
    build: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> Iterator[dict[str, Any]]:
    """Like `iter_records` for records that map to zero or more rows.

    `build` returns all of a record's rows or raises BadRecord, so a record is
    either kept whole or rejected whole, never half-emitted.
    """
    yield from numbered_rows(enumerate(items, start=1), sink, source_file, build)


READ_CHUNK = 1 << 20


SNIFF_LINES = 8


# A single JSON value (a record) larger than this is rejected rather than buffered.
MAX_VALUE_CHARS = 256 << 20


_WS = re.compile(r"[ \t\n\r]*")


_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


_DECODER = json.JSONDecoder()


class _JsonText:
    """Decoded text of a binary stream, read on demand, with a cursor into it."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped before `buf`
        self.eof = False
        self.undecoded = b""  # an incomplete UTF-8 sequence at the end of the last chunk
        self.bad_bytes: UnicodeDecodeError | None = None  # raised once the text before it is used

    def more(self) -> bool:
        if self.bad_bytes is not None:
            raise self.bad_bytes
        if self.eof:
            return False
        data = self.handle.read(READ_CHUNK)
        start = self.offset == 0 and not self.buf and not self.undecoded
        text = self._decode(data)
        if start and text.startswith(codecs.BOM_UTF8.decode()):
            text = text[1:]
        self.offset += self.pos
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def _decode(self, data: bytes) -> str:
        """Decode what is whole; keep a split character for the next chunk and hold
        back invalid bytes so that the records before them are read first."""
        raw = self.undecoded + data
        self.undecoded = b""
        self.eof = not data
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if data and exc.reason == "unexpected end of data" and len(raw) - exc.start < 4:
                self.undecoded = raw[exc.start :]
            else:
                self.bad_bytes = exc
            return raw[: exc.start].decode("utf-8")

    def peek(self) -> str | None:
        """The next non-whitespace character (not consumed), None at the end."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return None

    def expect(self, chars: str) -> str:
        char = self.peek()
        if char is None or char not in chars:
            found = "end of file" if char is None else repr(char)
            raise ValueError(f"expected one of {chars!r}, found {found} at character {self.at()}")
        self.pos += 1
        return char

    def value(self) -> Any:
        """Decode the JSON value at the cursor, reading more text until it is whole."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut_short = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if not cut_short or not self._grow():
                    raise ValueError(f"{exc.msg} at character {self.offset + exc.pos}") from None
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and _NUMBER_TAIL.fullmatch(self.buf, end) and self._grow():
                continue  # the number may go on in the next chunk ("0." + "5")
            self.pos = end
            return value

    def _grow(self) -> bool:
        if len(self.buf) - self.pos > MAX_VALUE_CHARS:
            raise ValueError(f"a JSON value at character {self.at()} is larger than {MAX_VALUE_CHARS} characters")
        return self.more()

    def at(self) -> int:
        return self.offset + self.pos


def iter_document_items(
    path: Path, sink: QuarantineSink, source_file: str, list_key: str | None = None
) -> Iterator[tuple[int, Any]]:
    """(number, record) for a whole-file JSON document, read incrementally.

    The shapes of `document_items`: a top-level array gives its elements; an object
    whose `list_key` is an array gives that array's elements; any other object is one
    record. Memory stays bounded by the largest record, not the file. An empty file
    has no records. A break in the JSON (or bad UTF-8, or a gzip stream that ends
    early) rejects one record, numbered as the element being read (0 outside the
    array), and ends the file: the elements before it are kept.
    """
    number = 0
    in_array = False
    try:
        with open_binary(path) as handle:
            text = _JsonText(handle)
            first = text.peek()
            if first is None:
                return
            if first == "[":
                text.expect("[")
                in_array = True
                for number, item in enumerate(_array_items(text), start=1):
                    yield number, item
                in_array = False
            elif first == "{":
                text.expect("{")
                fields: dict[str, Any] = {}
                streamed = False
                while text.peek() != "}":
                    if fields or streamed:
                        text.expect(",")
                    key = text.value()
                    if not isinstance(key, str):
                        raise ValueError(f"expected a property name at character {text.at()}")
                    text.expect(":")
                    if key == list_key and text.peek() == "[" and not streamed:
                        text.expect("[")
                        in_array = streamed = True
                        for number, item in enumerate(_array_items(text), start=1):
                            yield number, item
                        in_array = False
                    else:
                        fields[key] = text.value()
                text.expect("}")
                if not streamed:
                    yield 1, fields
            else:
                value = text.value()
                kind = "null" if value is None else type(value).__name__
                sink.reject(source_file, 0, f"expected a JSON object or array, got {kind}", value)
                return
            if text.peek() is not None:
                raise ValueError(f"unexpected data after the JSON document at character {text.at()}")
    except UnicodeDecodeError as exc:
        sink.reject(source_file, number + 1 if in_array else 0, f"invalid UTF-8: {exc.reason}")
    except (ValueError, RecursionError) as exc:
        sink.reject(source_file, number + 1 if in_array else 0, f"malformed JSON document: {exc}")
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, number + 1 if in_array else 0, f"unreadable file: {exc}")


def _array_items(text: _JsonText) -> Iterator[Any]:
    """The elements of the array whose `[` was just read, through its `]`."""
    if text.peek() == "]":
        text.expect("]")
        return
    while True:
        yield text.value()
        if text.expect(",]") == "]":
            return


def iter_json_lines(path: Path, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON Lines record; bad lines are rejected."""
    for line_no, text in iter_lines(path, sink, source_file):
        try:
            yield line_no, parse_json_line(text)
        except BadRecord as exc:
            sink.reject(source_file, line_no, str(exc), text)


def is_json_lines(path: Path) -> bool:
    """JSON Lines (`.jsonl`, `.ndjson`, or lines that are whole objects from column 0)
    rather than one JSON document, from the name or the first few lines."""
    if {".jsonl", ".ndjson"} & set(path.suffixes):
        return True
    lines: list[bytes] = []
    try:
        with open_binary(path) as handle:
            while len(lines) < SNIFF_LINES:
                line = handle.readline(READ_CHUNK)
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


def iter_json_records(
    path: Path, sink: QuarantineSink, source_file: str, list_key: str | None = None
) -> Iterator[tuple[int, Any]]:
    """(number, record) for a file that is either JSON Lines (numbered by line) or one
    JSON document (numbered by position, see `iter_document_items`)."""
    if is_json_lines(path):
        return iter_json_lines(path, sink, source_file)
    return iter_document_items(path, sink, source_file, list_key)


_SURROGATE = re.compile(r"[\udc80-\udcff]")


def iter_csv_rows(
    path: Path, sink: QuarantineSink, source_file: str, delimiter: str = ","
) -> Iterator[tuple[int, list[str]]]:
    """(first line number, values) for each CSV record (a quoted value may span lines).

    A record that is not valid CSV or not valid UTF-8 is rejected; a gzip stream that
    ends early is rejected as one record after the last good one.
    """
    line_no = 0
    try:
        with open_binary(path) as raw:
            # Lines end at "\n" only (a stray "\r" is data), so numbers match `wc -l`.
            lines = (line.decode("utf-8", "surrogateescape") for line in raw)
            first = next(lines, "")
            text = itertools.chain([first.removeprefix("\ufeff")], lines)
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    line_no = reader.line_num
                    sink.reject(source_file, start, f"malformed CSV: {exc}")
                    continue
                line_no = reader.line_num
                if not values or values == [""]:
                    continue
                joined = delimiter.join(values)
                if _SURROGATE.search(joined):
                    sink.reject(source_file, start, "invalid UTF-8", joined.encode("utf-8", "surrogateescape"))
                    continue
                yield start, values
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, line_no + 1, f"unreadable file: {exc}")


def numbered_rows(
    records: Iterable[tuple[int, Any]],
    sink: QuarantineSink,
    source_file: str,
    build: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> Iterator[dict[str, Any]]:
    """`iter_record_rows` for records that carry their own number (a line, a position)."""
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
