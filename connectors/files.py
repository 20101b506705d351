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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

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


READ_CHUNK = 1 << 20


SNIFF_LINES = 8


# A single JSON value (a record) larger than this is rejected rather than buffered.
MAX_VALUE_CHARS = 256 << 20


_WS = re.compile(r"[ \t\n\r]*")


_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


_DECODER = json.JSONDecoder()


_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


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
        self.bom = False
        self.keep: int | None = None  # an absolute position `more` must not drop text from
        self.lines = 0  # newlines dropped before `buf`
        self.line_start = 0  # absolute position just after the last newline dropped

    def more(self) -> bool:
        if self.bad_bytes is not None:
            raise self.bad_bytes
        if self.eof:
            return False
        data = self.handle.read(READ_CHUNK)
        start = self.offset == 0 and not self.buf  # no text yet (a BOM may be split over reads)
        text = self._decode(data)
        if start and text.startswith(codecs.BOM_UTF8.decode()):
            text = text[1:]
            self.bom = True
        drop = self.pos if self.keep is None else min(self.pos, self.keep - self.offset)
        dropped = self.buf.count("\n", 0, drop)
        if dropped:
            self.lines += dropped
            self.line_start = self.offset + self.buf.rindex("\n", 0, drop) + 1
        self.offset += drop
        self.buf = self.buf[drop:] + text
        self.pos -= drop
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
                    raise JsonBreak(exc.msg, self.offset + exc.pos) from None
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

    def elements(self) -> Iterator[Any]:
        """The elements of the array whose `[` was just read, through its `]`. A break
        raises JsonBreak with the message json.loads gives for the whole document."""
        if self.peek() == "]":
            self.pos += 1
            return
        scan = _DECODER.scan_once
        while True:
            # Fast path: the element and the comma after it are whole in the buffer.
            try:
                value, end = scan(self.buf, self.pos)
            except (StopIteration, ValueError):
                value, end = None, -1
            if end < 0 or (type(value) in (int, float) and _NUMBER_TAIL.fullmatch(self.buf, end)):
                value = self.value()  # more text, or the exact error
            else:
                self.pos = end
            yield value
            comma = _COMMA.match(self.buf, self.pos)
            if comma and comma.end() < len(self.buf) and self.buf[comma.end()] != "]":
                self.pos = comma.end()
            elif not self.follows("[null", "]"):
                return

    def follows(self, context: str, closer: str) -> bool:
        """After a value inside an array (`context` "[null", `closer` "]") or an object
        ('{"":null', "}"): True with the cursor on the next element or key, False after
        the closer; anything else is the decoder's own error for it."""
        anchor = self.keep = self.at()
        try:
            char = self.peek()
            if char == closer:
                self.pos += 1
                return False
            if char == ",":
                self.pos += 1
                char = self.peek()
                if char is not None and char != closer and (closer == "]" or char == '"'):
                    return True
            self.fail(context, anchor)
        finally:
            self.keep = None

    def fail(self, context: str, anchor: int) -> NoReturn:
        """Raise the error json.loads gives for the text from `anchor` through the cursor,
        read after `context` (a stand-in for what came before: "[null" is after an element)."""
        window = context + self.buf[anchor - self.offset : self.pos + 1]
        try:
            json.loads(window)
        except json.JSONDecodeError as exc:
            raise JsonBreak(exc.msg, anchor + exc.pos - len(context)) from None
        raise JsonBreak("invalid JSON", self.at())

    def where(self, position: int) -> str:
        """`line L column C (char P)` of an absolute position in the text, as json.loads says it."""
        index = position - self.offset
        lines = self.lines + self.buf.count("\n", 0, index)
        newline = self.buf.rfind("\n", 0, index)
        line_start = self.offset + newline + 1 if newline >= 0 else self.line_start
        return f"line {lines + 1} column {position - line_start + 1} (char {position})"

    def drain(self) -> None:
        """Read (and drop) the rest of the text, so that bad bytes after the cursor surface."""
        self.keep = None
        while self.more():
            self.pos = len(self.buf)


class JsonBreak(ValueError):
    """Where and why a JSON text stops being valid (`msg` as json.loads words it)."""

    def __init__(self, msg: str, position: int) -> None:
        super().__init__(f"{msg} at character {position}")
        self.msg = msg
        self.position = position


def iter_document_items(
    path: Path, sink: QuarantineSink, source_file: str, list_key: str | None = None
) -> Iterator[tuple[int, Any]]:
    """(number, record) for a whole-file JSON document, read incrementally.

    The shapes of `JsonDocument`: a top-level array gives its elements; an object
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
                for number, item in enumerate(text.elements(), start=1):
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
                        for number, item in enumerate(text.elements(), start=1):
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


# A whole document with less text than this is parsed once and its records kept for
# the reader; a larger one is checked in one pass and streamed in a second.
HOLD_CHARS = 4 << 20


def _load_whole(path: Path) -> tuple[Any, int] | None:
    """(document, bytes) when the file has at most HOLD_CHARS bytes and json.loads takes
    it whole, else None. The C parser is several times faster than the walker, and where
    it accepts the text the walker finds the same values; where it refuses, the walker
    reads the file and words the exact reason."""
    limit = HOLD_CHARS
    try:
        if limit <= 0 or (path.suffix != ".gz" and path.stat().st_size > limit):
            return None
        with open_binary(path) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            return None
        return json.loads(data.decode("utf-8")), len(data)
    except (ValueError, RecursionError, EOFError, OSError, zlib.error):  # ValueError: also bad UTF-8
        return None


class _Walk:
    """One pass over a whole-file JSON document, validating all of it as json.loads would.

    Iterating gives (array, element) for the elements of every array that may hold the
    records: 0 is a top-level array, k the k-th member named `list_key` of a top-level
    object. Afterwards `members` holds such an object's other members (the last of
    repeated names wins, as in json.loads) and `value` any other top-level value.
    """

    def __init__(self, text: _JsonText, list_key: str | None) -> None:
        self.text = text
        self.list_key = list_key
        self.arrays = 0
        self.kind = ""  # "array", "object" or "value"
        self.members: dict[str, Any] = {}
        self.value: Any = None

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        text = self.text
        while not text.buf and text.more():  # the first text tells whether there is a BOM
            pass
        if text.bom:  # json.loads refuses a str that starts with one
            raise JsonBreak(_bom_message(), 0)
        first = text.peek()
        if first == "[":
            self.kind = "array"
            text.pos += 1
            yield from ((0, item) for item in text.elements())
        elif first == "{":
            self.kind = "object"
            text.pos += 1
            yield from self._object()
        else:
            self.kind = "value"
            self.value = text.value()
        anchor = text.keep = text.at()
        if text.peek() is not None:
            text.fail("null", anchor)
        text.keep = None

    def _object(self) -> Iterator[tuple[int, Any]]:
        text = self.text
        members = self.members
        anchor = text.keep = text.at()
        char = text.peek()
        text.keep = None
        if char == "}":
            text.pos += 1
            return
        if char != '"':
            text.fail("{", anchor)
        while True:
            key = text.value()
            anchor = text.keep = text.at()
            if text.peek() != ":":
                text.fail('{""', anchor)
            text.keep = None
            text.pos += 1
            if key == self.list_key and text.peek() == "[":
                text.pos += 1
                self.arrays += 1
                yield from ((self.arrays, item) for item in text.elements())
                members[key] = _Streamed(self.arrays)
            else:
                members[key] = text.value()
            if not text.follows('{"":null', "}"):
                return


@dataclass(frozen=True)
class _Streamed:
    """A member whose array was streamed, not kept."""

    array: int


def _bom_message() -> str:
    try:
        json.loads(codecs.BOM_UTF8.decode())
    except json.JSONDecodeError as exc:
        return exc.msg
    return "Unexpected UTF-8 BOM"


@dataclass
class JsonDocument:
    """The records of a whole-file JSON document, numbered by position from 1, in memory
    bounded by its largest record. A page (an object whose `list_key` is an array) gives
    that array; an object wrapping one record under `item_key` gives that record; a bare
    array gives its elements; any other object is one record; anything else rejects the
    file as record 0.

    The records are all or nothing, as when the file is parsed whole: a break anywhere
    (bad JSON, bad UTF-8, a gzip stream cut short; the first of these that a whole read
    would meet) rejects the file as record 0 with the reason json.loads would give, and
    keeps no record. So the document is checked in a first streaming pass; a small one
    keeps its records from it, a larger one streams them in a second. A small document
    that json.loads takes whole skips the walker (see `_load_whole`).
    """

    path: Path
    list_key: str | None = None
    item_key: str | None = None
    rejection: tuple[str, Any] | None = None  # (reason, raw) for record 0
    records: list[Any] | None = None  # the records when known; else stream array `array`
    array: int = 0
    head: dict[str, Any] | None = None  # an object document's members, streamed arrays left out

    @classmethod
    def check(cls, path: Path, list_key: str | None = None, item_key: str | None = None,
              hold: int | None = None) -> JsonDocument:  # fmt: skip
        """Read the document once; keep its records if it has fewer than `hold` (default
        HOLD_CHARS) characters."""
        doc = cls(path, list_key, item_key)
        hold = HOLD_CHARS if hold is None else hold
        loaded = _load_whole(path)
        if loaded is not None:
            doc._shape_loaded(*loaded, hold)
            return doc
        try:
            with open_binary(path) as handle:
                text = _JsonText(handle)
                try:
                    walk = _Walk(text, list_key)
                    try:
                        held: list[Any] | None = []  # the elements of array `last`, while small
                        last = 0
                        for array, item in walk:
                            if held is not None:
                                if array != last:  # a later array of the same name wins
                                    held, last = [], array
                                held.append(item)
                                if text.at() > hold:
                                    held = None
                    except JsonBreak as exc:
                        doc.rejection = (f"malformed JSON document: {exc.msg}: {text.where(exc.position)}", None)
                    except (ValueError, RecursionError) as exc:  # ValueError: integers past Python's digit limit
                        doc.rejection = (f"malformed JSON document: {exc}", None)
                    if doc.rejection:
                        text.drain()  # a whole read meets bad bytes before bad JSON
                except UnicodeDecodeError as exc:
                    doc.rejection = (f"invalid UTF-8: {exc.reason}", None)
                    while handle.read(READ_CHUNK):  # and a cut gzip stream before either
                        pass
        except (EOFError, OSError, zlib.error) as exc:
            doc.rejection = (f"unreadable file: {exc}", None)
        if doc.rejection is None:

            def kept(array: int) -> list[Any] | None:  # None: not kept, stream it
                return None if held is None else held if array == last else []

            doc._shape(walk.kind, walk.members, walk.value, kept)
        return doc

    def _shape_loaded(self, value: Any, size: int, hold: int) -> None:
        """The shapes above, from the document parsed whole (`size` bytes): as the check
        pass sees it, the records array standing in the members as streamed."""
        listed = value.get(self.list_key) if isinstance(value, dict) and self.list_key is not None else None
        records = value if isinstance(value, list) else listed if isinstance(listed, list) else []
        if isinstance(listed, list):  # array 1: what `_stream` walks should the file change
            value = {**value, self.list_key: _Streamed(1)}
        kind = "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "value"
        self._shape(kind, value if kind == "object" else {}, value, lambda array: records if size <= hold else None)

    def _shape(self, kind: str, members: dict[str, Any], value: Any,
               kept: Callable[[int], list[Any] | None]) -> None:  # fmt: skip
        """The shapes above, from the top-level `kind` ("array", "object", "value"), an
        object's `members`, any other `value`, and the records `kept` of each array."""
        if kind == "array":
            self.records = kept(0)
            return
        if kind == "value":
            kind = "null" if value is None else type(value).__name__
            self.rejection = (f"expected a JSON object or array, got {kind}", value)
            return
        self.head = {key: value for key, value in members.items() if not isinstance(value, _Streamed)}
        listed = members.get(self.list_key) if self.list_key is not None else None
        if isinstance(listed, _Streamed):
            self.records, self.array = kept(listed.array), listed.array
        elif self.item_key is not None and self.item_key in members:
            self.records = [members[self.item_key]]
        else:
            self.records = [members]

    def numbered(self, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        """(number from 1, record); a broken document is rejected here as record 0."""
        if self.rejection is not None:
            sink.reject(source_file, 0, *self.rejection)
        elif self.records is not None:
            yield from enumerate(self.records, start=1)
        else:
            yield from self._stream(sink, source_file)

    def _stream(self, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        loaded = _load_whole(self.path)  # checked small, but its records were not kept
        value = loaded[0] if loaded is not None else None
        if self.array and isinstance(value, dict):
            value = value.get(self.list_key)
        if isinstance(value, list):
            yield from enumerate(value, start=1)
            return
        number = 0
        try:
            with open_binary(self.path) as handle:
                for array, item in _Walk(_JsonText(handle), self.list_key):
                    if array == self.array:
                        number += 1
                        yield number, item
        except (ValueError, RecursionError, EOFError, OSError, zlib.error) as exc:
            # The file changed since it was checked: what was read stays, as for a stream.
            sink.reject(source_file, 0, f"unreadable file: changed while read ({exc})")


def iter_whole_document(
    path: Path, sink: QuarantineSink, source_file: str, list_key: str | None = None, item_key: str | None = None
) -> Iterator[tuple[int, Any]]:
    """(number, record) of a whole-file JSON document, all or nothing (see JsonDocument)."""
    return JsonDocument.check(path, list_key, item_key).numbered(sink, source_file)


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
