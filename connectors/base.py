"""What every connector shares: the reader contract, quarantine, parsing helpers.

A connector turns one raw export file into canonical Arrow record batches
(see `schema.py`). It never raises on bad data: a malformed line or record
goes to the quarantine sink with its file, line/record number and reason,
and reading continues with the next one.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.schema import QUARANTINE_SCHEMA

EXCERPT_CHARS = 200
BATCH_ROWS = 50_000


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

    def __init__(self, options: SourceOptions) -> None:
        self.options = options

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
        keys: list[str] = []
        for path in self.options.correlation_paths:
            value = dig(record, path)
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
    except (json.JSONDecodeError, RecursionError) as exc:
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
    except (json.JSONDecodeError, RecursionError) as exc:
        sink.reject(source_file, 0, f"malformed JSON document: {exc}")
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, 0, f"unreadable file: {exc}")
    return None


def iter_records(
    items: Iterable[Any], sink: QuarantineSink, source_file: str, build
) -> Iterator[dict[str, Any]]:
    """Apply `build(record)` to each numbered record, rejecting those that raise BadRecord."""
    for number, item in enumerate(items, start=1):
        try:
            if not isinstance(item, dict):
                raise BadRecord(f"expected a JSON object, got {type(item).__name__}")
            row = build(item)
        except BadRecord as exc:
            sink.reject(source_file, number, str(exc), item)
            continue
        if row is not None:
            row["source_file"] = source_file
            row["source_record"] = number
            yield row


# --- values ----------------------------------------------------------------


def dig(record: Any, dotted: str) -> Any:
    """The value at a dotted path (`metadata.intent_id`), or None where absent."""
    value = record
    for part in dotted.split("."):
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
    """Canonical JSON text (sorted keys) for JSON-valued columns."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    for number, item in enumerate(items, start=1):
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


def require_id(record: dict[str, Any], key: str) -> str:
    """An identifier given as a non-empty string or an integer, as text."""
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise BadRecord(f"missing or invalid required field '{key}': {value!r}")


def without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping minus its None values (absent and null mean the same here)."""
    return {key: value for key, value in mapping.items() if value is not None}
