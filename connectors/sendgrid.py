"""SendGrid Event Webhook batches: one row per event, keyed by the send's message id.

The audit picks a message's latest terminal event across files, so every event
is kept as its own row (a version of the message at the event's time). A webhook retry
delivers an event again exactly as it was: an identical copy (every key and value) is
dropped and counted in `repeats_dropped`; events that merely share an `sg_event_id` are
kept (SendGrid's own documentation example gives eleven events one id). Event names are
read in any case; a `timestamp` of 10^11 or more is milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.files import JsonDocument, decode_line, iter_json_lines, parse_json_line
from connectors.files.line_blocks import BLOCK_BYTES
from connectors.schema import OBSERVED_SCHEMA
from connectors.sendgrid_fast import NativeSendGrid, correlation_json_paths
from connectors.values import (
    BadRecord,
    dumps,
    optional_str,
    parse_epoch_seconds_or_ms,
    require_str,
    require_unicode,
    surrogate_escape,
    without_none,
)

STATES = {
    "delivered": "success",
    "open": "success",
    "click": "success",
    "spamreport": "success",
    "unsubscribe": "success",
    "group_unsubscribe": "success",
    "group_resubscribe": "success",
    "processed": "pending",
    "deferred": "pending",
    "bounce": "failed",
    "dropped": "failed",
}


# A pass's numbered records, and whether the text read so far escapes a surrogate.
_Records = tuple[Iterator[tuple[int, Any]], Callable[[], bool]]


@dataclass
class _Event:
    number: int
    raw: Any  # kept for events without a message id only (a rejection's excerpt)
    row: dict[str, Any]
    recipient: tuple[str, str] | None  # (email, first correlation key): a message's stand-in


class SendGridReader(Reader):
    name = "sendgrid"
    layer = "observed"
    schema = OBSERVED_SCHEMA
    id_form = "before_first_dot"
    states = STATES
    status_implies: ClassVar[dict[str, tuple[str, ...]]] = {
        "deferred": ("processed",), "delivered": ("processed",), "bounce": ("processed",),
        "open": ("delivered", "processed"), "click": ("open", "delivered", "processed"),
        **dict.fromkeys(("spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe"),
                        ("delivered", "processed")),
    }  # fmt: skip
    time_fields: ClassVar[dict[str, str]] = {"updated_at": "timestamp"}
    block_bytes = BLOCK_BYTES
    # Planning the native query takes tens of milliseconds: smaller files are read in Python.
    native_min_bytes = 1 << 20

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options)
        self.native_rows = 0  # rows the fast path made natively, over the files read
        self.python_lines = 0  # lines it handed to the reference

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        """JSON Lines files of native_min_bytes or more through the native fast path
        (sendgrid_fast.py), which hands the reference every line it cannot prove it reads
        alike; everything else through the reference, `python_batches`."""
        paths = correlation_json_paths(self.options.correlation_paths)
        try:
            small = path.stat().st_size < self.native_min_bytes
        except OSError:
            small = True  # the reference reports it
        if small or paths is None or ".jsonl" not in path.suffixes:
            yield from self.python_batches(path, sink)
            return
        source_file = self.options.relative(path)
        latest = self.latest_plausible(path)
        native = NativeSendGrid(STATES, self.options.correlation_pattern, paths, self.block_bytes)
        constants = {"system": self.options.system, "object_type": self.options.object_type or "message"}

        def rest(first: int) -> Iterator[pa.RecordBatch]:
            # The reference from line `first` on: its rows and rejections before it are made.
            later = _From(sink.source, sink, first)
            native.repeats_dropped = 0  # the reference counts the whole file's again
            rows = self._rows(path, later, source_file)
            yield from self.to_batches(row for row in rows if row["source_record"] >= first)

        try:
            yield from native.batches(
                path, source_file, constants, latest,
                lambda number, raw: self._line_event(number, raw, sink, source_file, latest),
                rest, lambda number, reason: sink.reject(source_file, number, reason),
            )  # fmt: skip
        finally:
            self.native_rows += native.native_rows
            self.python_lines += native.python_lines
            self.repeats_dropped += native.repeats_dropped
            native.close()

    def python_batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        """The reference: every record through `_events` and `event_row`."""
        source_file = self.options.relative(path)
        yield from self.to_batches(self._rows(path, sink, source_file))

    def _line_event(
        self, number: int, raw: bytes, sink: QuarantineSink, source_file: str, latest: datetime
    ) -> dict[str, Any] | None:
        """The row of one raw line (with its newline) as the reference makes it before its
        repeat check, or None (blank, or rejected into `sink` as `iter_json_lines` and
        `_events` reject it)."""
        text = decode_line(raw, number, sink, source_file)
        if text is None:
            return None
        try:
            record = parse_json_line(text)
        except BadRecord as exc:
            sink.reject(source_file, number, str(exc), text)
            return None
        escapes = surrogate_escape(text)
        row = self._valid_row(record, lambda: escapes, latest)
        if isinstance(row, BadRecord):
            sink.reject(source_file, number, str(row), record)
            return None
        row["source_record"] = number
        return row

    def _rows(self, path: Path, sink: QuarantineSink, source_file: str) -> Iterator[dict[str, Any]]:
        """Every kept event's row in file order; an event lacking `sg_message_id` (an async
        bounce) gets the id of the one message in the file that shares its email and first
        correlation key, else it is rejected.

        That message may come before or after the event. Rows go out in one pass until
        such an event turns up; then the pass goes on to collect its recipients and their
        messages after it, and a second pass (only for such files) collects the messages
        before, and gives the rows from that event on. Memory follows those recipients.
        """
        if ".jsonl" in path.suffixes:

            def records(into: QuarantineSink) -> _Records:
                lines = iter_json_lines(path, into, source_file)
                return lines, lambda: lines.escapes
        else:
            document = JsonDocument.check(path)

            def records(into: QuarantineSink) -> _Records:
                return document.numbered(into, source_file), lambda: document.escapes

        latest = self.latest_plausible(path)
        first: int | None = None  # the first event without a message id
        messages: dict[tuple[str, str], set[str]] = {}  # such an event's recipient -> message ids
        for event in self._events(*records(sink), sink, source_file, latest):
            external_id = event.row["external_id"]
            if first is None and external_id is not None:
                yield event.row
                continue
            if first is None:
                first = event.number
            if external_id is None:
                if event.recipient:
                    messages.setdefault(event.recipient, set())
            elif event.recipient in messages:
                messages[event.recipient].add(external_id)
        if first is None:
            return
        quiet = QuarantineSink(sink.source)  # the first pass rejected (and counted) what it met
        for event in self._events(*records(quiet), quiet, source_file, latest, count=False):
            external_id = event.row["external_id"]
            if external_id is not None:
                if event.recipient in messages:
                    messages[event.recipient].add(external_id)
                if event.number >= first:
                    yield event.row
                continue
            candidates = messages.get(event.recipient, set()) if event.recipient else set()
            if len(candidates) != 1:
                # Guessing between two sends of one intent could hide a duplicate.
                found = "no" if not candidates else f"{len(candidates)} different"
                sink.reject(
                    source_file,
                    event.number,
                    f"field 'sg_message_id' is missing and {found} messages in this file "
                    "share the event's email and first correlation key",
                    event.raw,
                )
                continue
            event.row["external_id"] = next(iter(candidates))
            yield event.row

    def _events(
        self, records: Iterator[tuple[int, Any]], escapes: Callable[[], bool], sink: QuarantineSink,
        source_file: str, latest: datetime, count: bool = True,
    ) -> Iterator[_Event]:
        """The valid events, each distinct event once: a webhook retry repeats an event
        whole, so a later identical copy (the same canonical JSON: every key and value) is
        dropped, and counted in `repeats_dropped` when `count`. Memory: a digest per event."""
        seen: set[bytes] = set()
        for number, raw in records:
            row = self._valid_row(raw, escapes, latest)
            if isinstance(row, BadRecord):
                sink.reject(source_file, number, str(row), raw)
                continue
            # `raw` is the event's canonical JSON (sorted keys): equal text, equal event.
            digest = hashlib.blake2b(row["raw"].encode("utf-8"), digest_size=16).digest()
            if digest in seen:
                if count:
                    self.repeats_dropped += 1
                continue
            seen.add(digest)
            row["source_file"] = source_file
            row["source_record"] = number
            keys, email = row["correlation_keys"], optional_str(raw, "email")
            recipient = (email, keys[0]) if email and keys else None
            yield _Event(number, raw if row["external_id"] is None else None, row, recipient)

    def _valid_row(self, raw: Any, escapes: Callable[[], bool], latest: datetime) -> dict[str, Any] | BadRecord:
        """The row of one record, or the BadRecord saying why it has none."""
        try:
            if not isinstance(raw, dict):
                raise BadRecord(f"expected a JSON object, got {type(raw).__name__}")
            if escapes():  # as `Reader.noting` does for the other readers
                require_unicode(raw)
            optional_str(raw, "sg_event_id")
            row = self.event_row(raw)
            self.check_times(row, latest)
            optional_str(raw, "email")
        except BadRecord as exc:
            return exc
        return row

    def event_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """The row for one event; `external_id` stays None when `sg_message_id` is absent."""
        kind = require_str(record, "event")
        kind = kind.lower() if kind.isascii() else kind  # `Processed` is `processed`
        if kind not in STATES:
            raise BadRecord(f"unknown event '{kind}' in field 'event'")
        # Unix seconds; 10^11 or more (past the year 5138 as seconds) is milliseconds.
        at = parse_epoch_seconds_or_ms(record.get("timestamp"), "timestamp")
        message_id = optional_str(record, "sg_message_id")
        external_id = None
        if message_id is not None:
            # The part before the first "." is the send API's X-Message-Id.
            external_id = message_id.split(".", 1)[0]
            if not external_id:
                raise BadRecord(f"field 'sg_message_id' has no message id prefix: {message_id!r}")
        category = record.get("category")
        fields = {
            key: record.get(key)
            for key in ("email", "event", "reason", "status", "response", "type", "sg_message_id")
        }
        fields["event"] = kind
        if isinstance(category, list):
            fields["category"] = category[0] if category else None
            fields["categories"] = category
        else:
            fields["category"] = category
        return {
            "system": self.options.system,
            "object_type": self.options.object_type or "message",
            "external_id": external_id,
            "correlation_keys": self.correlation_keys(record),
            "state": STATES[kind],
            "raw_status": kind,
            "fields": dumps(without_none(fields)),
            "last_actor": None,
            "created_at": at,
            "updated_at": at,
            "merged_into": None,
            # Events are a message's deliveries, never edits of it: no `edited_at`.
            "edited_at": None,
            "actor_writes": None,
            "raw": dumps(record),
        }


class _From(QuarantineSink):
    """Passes on to `sink` the rejections of records numbered `first` or later."""

    def __init__(self, source: str, sink: QuarantineSink, first: int) -> None:
        super().__init__(source)
        self.sink, self.first = sink, first

    def reject(self, source_file: str, record: int, reason: str, raw: Any = None) -> None:
        if record >= self.first:
            self.sink.reject(source_file, record, reason, raw)
