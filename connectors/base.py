"""What every connector shares: the reader contract, quarantine, parsing helpers.

A connector turns one raw export file into canonical Arrow record batches
(see `schema.py`). It never raises on bad data: a malformed line or record
goes to the quarantine sink with its file, line/record number and reason,
and reading continues with the next one.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import json
import math
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.schema import QUARANTINE_SCHEMA

EXCERPT_CHARS = 200
BATCH_ROWS = 50_000
# How far a record's time may run ahead of its export's before it counts as bad.
CLOCK_SKEW = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRecord(ValueError):
    """A record that cannot be turned into a canonical row; the message is the reason."""


@dataclass
class SourceOptions:
    """What a connector needs to know about the source it reads (from reckon.yaml)."""

    source: str
    system: str | None = None
    object_type: str | None = None
    # Dotted paths into a raw record whose values may carry our correlation key.
    correlation_paths: list[str] = field(default_factory=list)
    # Only values matching this pattern count as correlation keys (our markers).
    correlation_pattern: re.Pattern[str] = re.compile(r".+")
    # Root the `source_file` column is written relative to.
    root: Path = Path(".")
    # Connector-specific settings from reckon.yaml (`sources.<name>.options`).
    options: dict[str, Any] = field(default_factory=dict)
    batch_rows: int = BATCH_ROWS

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


@dataclass
class QuarantineSink:
    """Collects rejected records; the snapshot writer persists them beside the good rows."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, source_file: str, record: int, reason: str, raw: Any = None) -> None:
        self.rows.append(
            {
                "source": self.source,
                "source_file": source_file,
                "source_record": record,
                "reason": reason,
                "excerpt": excerpt(raw),
            }
        )

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=QUARANTINE_SCHEMA)


class Reader(ABC):
    """One reader per source format. Subclasses set `name` and `schema`."""

    name: ClassVar[str]
    layer: ClassVar[str]  # "workflow" (events) or "observed" (objects)
    schema: ClassVar[pa.Schema]
    # Schema drift: the top-level fields of a record the format documents (empty: the
    # reader does not track drift) and those every record carries. A reader reports
    # the fields of each raw record it reads with `note_fields`.
    known_fields: ClassVar[frozenset[str]] = frozenset()
    expected_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: SourceOptions) -> None:
        self.options = options
        self.fields_seen: dict[str, set[str]] = {}  # source_file -> raw fields seen

    def note_fields(self, source_file: str, names: Iterable[str]) -> None:
        """Tally the raw top-level fields of one record (or of a whole file's header)."""
        self.fields_seen.setdefault(source_file, set()).update(names)

    def noting(self, source_file: str, build: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        """`build`, tallying each record's top-level fields first (for schema drift)."""

        def noted(record: dict[str, Any]) -> Any:
            self.note_fields(source_file, record)
            return build(record)

        return noted

    def documented(self, name: str) -> bool:
        """Whether the format documents this field (a reader may match families of names)."""
        return name in self.known_fields

    def field_drift(self) -> tuple[list[str], list[str]]:
        """(added, missing) over the files read: fields no documentation names, and
        expected fields absent from every record of a file that had records."""
        added: set[str] = set()
        missing: set[str] = set()
        for seen in self.fields_seen.values():
            if self.known_fields:
                added.update(name for name in seen if not self.documented(name))
            missing.update(self.expected_fields - seen)
        return sorted(added), sorted(missing)

    def observed_row(self, default_type: str, **values: Any) -> dict[str, Any]:
        """A row of OBSERVED_SCHEMA from this source (source_file/record are added later);
        `values` name its external_id, state and whatever else the record has."""
        row = {
            "system": self.options.system,
            "object_type": self.options.object_type or default_type,
            "correlation_keys": [],
            "raw_status": None,
            "fields": None,
            "last_actor": None,
            "created_at": None,
            "updated_at": None,
            "merged_into": None,
        }
        row.update(values)
        return row

    def latest_plausible(self, path: Path) -> datetime:
        """No record can be newer than the export holding it: its export time (or the
        file's mtime) plus a day of clock skew. Later timestamps are bad records."""
        exported = self.exported_at(path)
        if exported is None:
            exported = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return exported + CLOCK_SKEW

    @abstractmethod
    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        """Yield canonical batches for one file; reject bad records into `sink`."""

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Reject unusable `options` with a ValueError naming the key (none by default)."""
        if options:
            raise ValueError(f"connector '{cls.name}' takes no options (got {', '.join(sorted(options))})")

    def exported_at(self, path: Path) -> datetime | None:
        """The export's own timestamp, where the format has one."""
        return None

    def to_batches(self, rows: Iterable[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
        """Group canonical row dicts into record batches of bounded size."""
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= self.options.batch_rows:
                yield pa.RecordBatch.from_pylist(chunk, schema=self.schema)
                chunk = []
        if chunk:
            yield pa.RecordBatch.from_pylist(chunk, schema=self.schema)

    def correlation_keys(self, record: dict[str, Any]) -> list[str]:
        """Values at the configured correlation paths that look like our markers."""
        return self.markers(dig(record, path) for path in self.options.correlation_paths)

    def markers(self, values: Iterable[Any], keys: list[str] | None = None) -> list[str]:
        """`keys` plus the values (or list items) that look like our markers, in order, once."""
        keys = [] if keys is None else keys
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str | int) and not isinstance(item, bool):
                    text = str(item)
                    if self.options.correlation_pattern.fullmatch(text) and text not in keys:
                        keys.append(text)
        return keys


# --- reading files ---------------------------------------------------------


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


# --- values ----------------------------------------------------------------


def dig(record: Any, dotted: str) -> Any:
    """The value at a dotted path (`metadata.intent_id`, `0.order_id` into an array),
    or None where absent."""
    value = record
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def excerpt(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        try:
            text = json.dumps(raw, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(raw)
    text = text.replace("\x00", "\\0")
    return text[:EXCERPT_CHARS]


def dumps(value: Any) -> str | None:
    """Canonical JSON text (sorted keys) for JSON-valued columns. Values JSON has no
    type for (dates, decimals from Parquet) become text; NaN and infinities, which
    standard JSON cannot hold, become null."""
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
                          allow_nan=False)  # fmt: skip
    except ValueError:
        return dumps(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def require_str(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise BadRecord(f"missing or non-string required field '{key}'")
    return value


def optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRecord(f"field '{key}' must be a string, got {type(value).__name__}")
    return str(value)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$")


def parse_rfc3339(value: Any, key: str) -> datetime:
    """An RFC 3339 timestamp with an offset, as UTC; no offset is a bad record."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise BadRecord(f"field '{key}' is not an RFC 3339 timestamp with offset: {value!r}")
    text = value.replace("z", "Z").replace("Z", "+00:00")
    if "." in text:  # Python accepts at most 6 fractional digits
        head, rest = text.split(".", 1)
        digits = re.match(r"\d+", rest).group(0)
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:
        raise BadRecord(f"field '{key}' is not a valid timestamp: {value!r}") from exc


def parse_epoch_seconds(value: Any, key: str) -> datetime:
    """Unix seconds (int, float or numeric string) as UTC."""
    if isinstance(value, bool):
        raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}")
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}") from exc


# --- whole-file documents ----------------------------------------------------


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


def require_id(record: dict[str, Any], key: str) -> str:
    """An identifier given as a non-empty string or an integer, as text."""
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise BadRecord(f"missing or invalid required field '{key}': {value!r}")


def as_object(value: Any, where: str) -> dict[str, Any]:
    """`value` when it is an object, {} when absent (null); anything else is a bad record."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"field '{where}' must be an object, got {type(value).__name__}")
    return value


def without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping minus its None values (absent and null mean the same here)."""
    return {key: value for key, value in mapping.items() if value is not None}


# --- streaming JSON -----------------------------------------------------------

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


# --- CSV -----------------------------------------------------------------------

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


# --- more values ---------------------------------------------------------------------


def not_after(value: datetime, limit: datetime, key: str) -> datetime:
    """`value` unless it is later than `limit` (see `Reader.latest_plausible`)."""
    if value > limit:
        raise BadRecord(f"field '{key}' is in the future: {value.isoformat()} is after the export")
    return value


def parse_epoch_nanos(value: Any, key: str) -> datetime:
    """Unix nanoseconds (an int64 given as a number or a decimal string) as UTC."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise BadRecord(f"field '{key}' is not Unix nanoseconds: {value!r}")
    try:
        return EPOCH + timedelta(microseconds=value // 1000)
    except (ValueError, OverflowError) as exc:
        raise BadRecord(f"field '{key}' is out of range: {value!r}") from exc


TIMESTAMP_FORMATS = ("rfc3339", "utc", "epoch_s", "epoch_ms")


def parse_timestamp(value: Any, key: str, fmt: str = "rfc3339") -> datetime:
    """A timestamp in one of TIMESTAMP_FORMATS: `rfc3339` needs an offset, `utc` takes a
    time without one as UTC, `epoch_s`/`epoch_ms` are Unix seconds/milliseconds. A
    datetime (from Parquet) counts as RFC 3339."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if fmt != "utc":
                raise BadRecord(f"field '{key}' has no UTC offset: {value.isoformat()}")
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if fmt in ("epoch_s", "epoch_ms"):
        if isinstance(value, str) and value.strip():
            try:
                value = float(value)
            except ValueError:
                raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}")
        return parse_epoch_seconds(value / 1000 if fmt == "epoch_ms" else value, key)
    if fmt == "utc" and isinstance(value, str) and not re.search(r"([Zz]|[+-]\d{2}:?\d{2})$", value.strip()):
        value = value.strip() + "Z"
    return parse_rfc3339(value, key)


# --- options ---------------------------------------------------------------------


def check_keys(options: Any, allowed: Iterable[str], where: str = "options") -> dict[str, Any]:
    """`options` as a mapping with only `allowed` keys, else a ValueError naming the key."""
    if not isinstance(options, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(options).__name__}")
    allowed = set(allowed)
    for key in options:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown option (allowed: {', '.join(sorted(allowed))})")
    return options


def option_str(options: dict[str, Any], key: str, where: str = "options", required: bool = False) -> str | None:
    value = options.get(key)
    if value is None:
        if required:
            raise ValueError(f"{where}.{key}: required")
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def option_strings(options: dict[str, Any], key: str, where: str = "options") -> list[str]:
    value = options.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}.{key}: expected a string or a list of non-empty strings")
    return list(value)


def option_mapping(options: dict[str, Any], key: str, where: str = "options") -> dict[str, str]:
    """A mapping of non-empty strings to non-empty strings (empty when absent)."""
    value = options.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{where}.{key}: expected a mapping, got {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(name, str) or not name or not isinstance(item, str) or not item:
            raise ValueError(f"{where}.{key}.{name}: expected a non-empty string, got {item!r}")
    return dict(value)


_ACTION = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+")


@dataclass(frozen=True)
class ActionSpec:
    """How a runtime's call (a tool, an activity) maps onto an intended action.

    Paths are dotted paths into the call's arguments (`receipt`: into its result; an
    empty `receipt` takes the whole result).
    """

    name: str
    action: str
    step: str
    intent_id: str | None = None
    idempotency_key: str | None = None
    receipt: str | None = None
    target: str | None = None
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return self.action.split(".")[0]

    @property
    def object_type(self) -> str:
        return self.action.split(".")[1]

    def intent_fields(self, arguments: Any, fallback_id: str) -> dict[str, Any]:
        """The event columns every event of one call carries: its intent and action."""
        idempotency_key = _key_text(dig(arguments, self.idempotency_key)) if self.idempotency_key else None
        intent_id = _key_text(dig(arguments, self.intent_id)) if self.intent_id else None
        target = _key_text(dig(arguments, self.target)) if self.target else None
        return {
            "intent_id": intent_id or idempotency_key or fallback_id,
            "step": self.step,
            "action": self.action,
            "system": self.system,
            "idempotency_key": idempotency_key,
            "target_object_type": self.object_type if target else None,
            "target_key": target,
        }

    def expected_values(self, arguments: Any) -> str:
        """`expected` (JSON text) from the arguments; `{}` when nothing is mapped."""
        values = {name: dig(arguments, path) for name, path in self.expected.items()}
        return dumps(without_none(values))

    def receipt_id(self, result: Any) -> str | None:
        if self.receipt is None:
            return None
        return _key_text(result if self.receipt == "" else dig(result, self.receipt))


def _key_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None


ACTION_KEYS = ("action", "step", "intent_id", "idempotency_key", "receipt", "target", "expected")


def action_specs(options: dict[str, Any], key: str) -> dict[str, ActionSpec]:
    """`options[key]`: runtime name -> {action, step, intent_id, idempotency_key, receipt,
    target, expected}; a ValueError names the offending key."""
    raw = options.get(key, {})
    if not isinstance(raw, dict):
        raise ValueError(f"options.{key}: expected a mapping of names to action settings")
    specs = {}
    for name, spec in raw.items():
        where = f"options.{key}.{name}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"options.{key}: names must be non-empty strings, got {name!r}")
        check_keys(spec, ACTION_KEYS, where)
        action = option_str(spec, "action", where, required=True)
        if not _ACTION.fullmatch(action):
            raise ValueError(f"{where}.action: '{action}' is not system.object.verb")
        receipt = spec.get("receipt")
        if receipt is not None and not isinstance(receipt, str):
            raise ValueError(f"{where}.receipt: expected a dotted path (or '' for the whole result)")
        specs[name] = ActionSpec(
            name=name,
            action=action,
            step=option_str(spec, "step", where) or name,
            intent_id=option_str(spec, "intent_id", where),
            idempotency_key=option_str(spec, "idempotency_key", where),
            receipt=receipt,
            target=option_str(spec, "target", where),
            expected=option_mapping(spec, "expected", where),
        )
    return specs


WORKFLOW_KEYS = ("workflow", "workflows")


def resolve_workflow(options: dict[str, Any], runtime_name: str | None) -> str:
    """The catalog workflow for a runtime's workflow (or agent) name: `workflows` maps
    names, `workflow` is the default for the rest; without it a name passes through."""
    mapped = options.get("workflows", {}).get(runtime_name) if runtime_name else None
    name = mapped or options.get("workflow") or runtime_name
    if not name:
        raise BadRecord("no workflow name in the record and no 'workflow' option to default to")
    return name


def check_runtime_options(options: dict[str, Any], calls: str, *more: str) -> None:
    """The options of a workflow runtime's connector: `calls` (its tools or activities
    -> actions), `workflow`/`workflows`, and the connector's own `more` keys."""
    check_keys(options, {calls, *WORKFLOW_KEYS, *more})
    action_specs(options, calls)
    option_str(options, "workflow")
    option_mapping(options, "workflows")


EVENT_COLUMNS = (
    "event_id", "ts", "type", "run_id", "workflow", "intent_id", "step", "action", "system",
    "idempotency_key", "target_object_type", "target_key", "expected", "attempt",
    "receipt_external_id", "receipt", "error_kind", "error_message", "status", "actor",
    "description", "extra",
)  # fmt: skip


def workflow_event(**values: Any) -> dict[str, Any]:
    """A row of EVENT_SCHEMA (without source_file/source_record); unnamed columns are None."""
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(values)
    if row["receipt_external_id"] is not None and row["receipt"] is None:
        row["receipt"] = dumps({"external_id": row["receipt_external_id"]})
    return row


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
