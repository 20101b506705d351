"""The native workflow event log (../shared/spec/EVENT_LOG.md): JSON Lines, maybe gzipped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.event_log_fast import BLOCK_BYTES, NativeEventLog
from connectors.files import decode_line, iter_lines, parse_json_line
from connectors.schema import EVENT_SCHEMA
from connectors.values import (
    BadRecord,
    dumps,
    not_after,
    optional_str,
    parse_rfc3339,
    require_str,
    require_unicode,
    surrogate_escape,
)

EVENT_TYPES = frozenset(
    {
        "run.started",
        "intent.declared",
        "action.attempted",
        "action.succeeded",
        "action.failed",
        "action.timed_out",
        "receipt.recorded",
        "action.skipped",
        "action.compensated",
        "run.awaiting_approval",
        "run.escalated",
        "run.needs_reconciliation",
        "run.completed",
        "run.failed",
        # Reasons to verify, not outcomes: a duplicate call refused by idempotency logic, a
        # person's or a monitor's doubt about a run.
        "action.blocked",
        "run.flagged",
    }
)
INTENT_EVENTS = EVENT_TYPES - {t for t in EVENT_TYPES if t.startswith("run.")}
KNOWN_FIELDS = frozenset(
    {
        "event_id", "ts", "type", "run_id", "workflow", "intent_id", "step", "action",
        "system", "idempotency_key", "target", "expected", "attempt", "receipt", "error",
        "status", "actor", "description",
    }
)  # fmt: skip


def event_row(record: dict[str, Any]) -> dict[str, Any]:
    """Validate one event against event-log.schema.json and map it to a canonical row."""
    kind = require_str(record, "type")
    if kind not in EVENT_TYPES:
        raise BadRecord(f"unknown event type '{kind}'")
    row = {
        "event_id": require_str(record, "event_id"),
        "ts": parse_rfc3339(record.get("ts"), "ts"),
        "type": kind,
        "run_id": require_str(record, "run_id"),
        "workflow": require_str(record, "workflow"),
    }
    for key in ("intent_id", "step", "action", "system", "idempotency_key", "status", "actor", "description"):
        row[key] = optional_str(record, key)
    if kind in INTENT_EVENTS and not row["intent_id"]:
        raise BadRecord(f"'{kind}' requires 'intent_id'")
    if kind == "intent.declared":
        for key in ("step", "action", "system"):
            if not row[key]:
                raise BadRecord(f"'intent.declared' requires '{key}'")
        if not isinstance(record.get("expected"), dict):
            raise BadRecord("'intent.declared' requires an 'expected' object")
    target = _object(record, "target")
    receipt = _object(record, "receipt")
    error = _object(record, "error")
    attempt = record.get("attempt")
    if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt < 2**31):
        raise BadRecord(f"field 'attempt' must be an integer >= 1, got {attempt!r}")
    row.update(
        target_object_type=_text(target.get("object_type")),
        target_key=_text(target.get("key")),
        expected=dumps(record.get("expected")) if isinstance(record.get("expected"), dict) else None,
        attempt=attempt,
        receipt_external_id=_text(receipt.get("external_id")),
        receipt=dumps(receipt) if receipt else None,
        error_kind=_text(error.get("kind")),
        error_message=_text(error.get("message")),
        extra=dumps({k: v for k, v in record.items() if k not in KNOWN_FIELDS}) or None,
    )
    if row["extra"] == "{}":
        row["extra"] = None
    return row


def _object(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"field '{key}' must be an object, got {type(value).__name__}")
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class EventLogReader(Reader):
    """Events pass through as they are; duplicates (same event_id) are dropped by the
    recorded layer, across all files, so memory stays bounded here."""

    name = "event_log"
    layer = "workflow"
    schema = EVENT_SCHEMA
    known_fields = KNOWN_FIELDS
    expected_fields = frozenset({"event_id", "ts", "type", "run_id", "workflow"})
    block_bytes = BLOCK_BYTES
    # Planning the native query takes tens of milliseconds: smaller files are read in Python.
    native_min_bytes = 1 << 20

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options)
        self.native_rows = 0  # rows the fast path made natively, over the files read
        self.python_lines = 0  # lines it handed to the Python path

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        """The native fast path (event_log_fast.py); every line it cannot prove it reads
        exactly as `python_batches` does is read by the same Python code."""
        try:
            small = path.stat().st_size < self.native_min_bytes
        except OSError:
            small = True  # iter_lines reports it
        if small:
            yield from self.python_batches(path, sink)
            return
        source_file = self.options.relative(path)
        latest = self.latest_plausible(path)
        native = NativeEventLog(EVENT_TYPES, INTENT_EVENTS, self.block_bytes)
        try:
            yield from native.batches(
                path,
                sink,
                source_file,
                lambda line_no, raw: self.raw_line_row(source_file, line_no, raw, sink, latest),
                lambda names: self.note_fields(source_file, names),
                latest,
            )
        finally:
            self.native_rows += native.native_rows
            self.python_lines += native.python_lines
            native.close()

    def python_batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        """The reference: every line through `iter_lines` and `event_row`; an event dated
        after its export (`latest_plausible`) is a bad record, as in every connector."""
        source_file = self.options.relative(path)
        latest = self.latest_plausible(path)
        rows = (self.line_row(source_file, line_no, text, sink, latest)
                for line_no, text in iter_lines(path, sink, source_file))
        yield from self.to_batches(row for row in rows if row is not None)

    def line_row(
        self, source_file: str, line_no: int, text: str, sink: QuarantineSink, latest: datetime | None = None
    ) -> dict[str, Any] | None:
        """The canonical row of one decoded line, or None when it is rejected into `sink`
        (also when it is dated after `latest`)."""
        try:
            record = parse_json_line(text)
            if surrogate_escape(text):  # as `noting` does for the other readers
                require_unicode(record)
            self.note_fields(source_file, record)
            row = event_row(record)
            if latest is not None:
                not_after(row["ts"], latest, "ts")
        except BadRecord as exc:
            sink.reject(source_file, line_no, str(exc), text)
            return None
        row["source_file"] = source_file
        row["source_record"] = line_no
        return row

    def raw_line_row(
        self, source_file: str, line_no: int, raw: bytes, sink: QuarantineSink, latest: datetime | None = None
    ) -> dict[str, Any] | None:
        """`line_row` of one raw line (with its newline), skipped and decoded as `iter_lines` does."""
        text = decode_line(raw, line_no, sink, source_file)
        return None if text is None else self.line_row(source_file, line_no, text, sink, latest)
