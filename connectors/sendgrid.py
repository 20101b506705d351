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

from connectors.base import QuarantineSink, Reader
from connectors.files import JsonDocument, iter_json_lines
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import (
    BadRecord,
    dumps,
    optional_str,
    parse_epoch_seconds_or_ms,
    require_str,
    require_unicode,
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

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        yield from self.to_batches(self._rows(path, sink, source_file))

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
            try:
                if not isinstance(raw, dict):
                    raise BadRecord(f"expected a JSON object, got {type(raw).__name__}")
                if escapes():  # as `Reader.noting` does for the other readers
                    require_unicode(raw)
                optional_str(raw, "sg_event_id")
                row = self.event_row(raw)
                self.check_times(row, latest)
                email = optional_str(raw, "email")
            except BadRecord as exc:
                sink.reject(source_file, number, str(exc), raw)
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
            keys = row["correlation_keys"]
            recipient = (email, keys[0]) if email and keys else None
            yield _Event(number, raw if row["external_id"] is None else None, row, recipient)

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
