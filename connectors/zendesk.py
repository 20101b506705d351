"""Zendesk tickets: incremental export pages or a single `{"ticket": {...}}`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.files import JsonDocument, numbered_rows
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import (
    BadRecord,
    dig,
    dumps,
    parse_epoch_seconds,
    parse_rfc3339,
    require_id,
    require_str,
    without_none,
)

# With custom statuses `status` is still one of these categories.
LIVE_STATUSES = frozenset({"new", "open", "pending", "hold", "solved", "closed"})
COPIED_FIELDS = (
    "subject", "status", "priority", "type", "tags", "external_id", "requester_id",
    "submitter_id", "assignee_id", "custom_status_id",
)  # fmt: skip


def ticket_id(record: dict[str, Any]) -> str:
    """`id` is an integer in the API; a string of digits means the same ticket."""
    value = require_id(record, "id")
    if not (value.isascii() and value.isdigit()):
        raise BadRecord(f"field 'id' must be an integer ticket id, got {record['id']!r}")
    return str(int(value))


def custom_fields(value: Any) -> dict[str, Any] | None:
    """`[{id, value}]` as `{str(id): value}`, so fields compare by id."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRecord("field 'custom_fields' must be an array")
    out: dict[str, Any] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict) or item.get("id") is None:
            raise BadRecord(f"field 'custom_fields[{index}]' must be an object with an 'id'")
        out[str(item["id"])] = item.get("value")
    return out


def _version(path: Path) -> tuple[int, int] | None:
    """(size, mtime) of a file, to tell whether it changed between two reads."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _end_time(document: JsonDocument) -> datetime | None:
    """A checked page's `end_time`, None when it has none that reads."""
    if document.rejection is not None or document.head is None or document.head.get("end_time") is None:
        return None
    try:
        return parse_epoch_seconds(document.head["end_time"], "end_time")
    except BadRecord:
        return None


class ZendeskReader(Reader):
    name = "zendesk"
    layer = "observed"
    schema = OBSERVED_SCHEMA
    known_fields = frozenset({
        "url", "id", "external_id", "via", "created_at", "updated_at", "generated_timestamp", "type", "subject",
        "raw_subject", "description", "priority", "status", "recipient", "requester_id", "submitter_id",
        "assignee_id", "organization_id", "group_id", "collaborator_ids", "follower_ids", "email_cc_ids",
        "forum_topic_id", "problem_id", "has_incidents", "is_public", "due_at", "tags", "custom_fields",
        "satisfaction_rating", "sharing_agreement_ids", "custom_status_id", "fields", "followup_ids",
        "ticket_form_id", "brand_id", "allow_channelback", "allow_attachments", "from_messaging_channel",
        "encoded_id", "result_type",
    })  # fmt: skip
    expected_fields = frozenset({"id", "status"})
    id_form = "integer"
    states: ClassVar[dict[str, str]] = {**dict.fromkeys(LIVE_STATUSES, "success"), "deleted": "deleted"}
    status_implies: ClassVar[dict[str, tuple[str, ...]]] = {"closed": ("solved",)}
    time_fields: ClassVar[dict[str, str]] = {"created_at": "created_at", "updated_at": "updated_at"}

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options)
        # `exported_at` reads a page once, its records kept on disk (every page is checked
        # before any is read, so none is held in memory); `batches` takes them from there.
        self.checked: dict[Path, tuple[tuple[int, int] | None, JsonDocument]] = {}

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        known, document = self.checked.pop(path, (None, None))
        if document is None or known is None or known != _version(path):
            document = JsonDocument.check(path, list_key="tickets", item_key="ticket")
        latest = self.latest_after(path, _end_time(document))
        build = self.noting(source_file, self.ticket_row, latest, document.escapes)
        rows = numbered_rows(document.numbered(sink, source_file), sink, source_file, lambda record: [build(record)])
        yield from self.to_batches(rows)

    def exported_at(self, path: Path) -> datetime | None:
        """A time-based export page's `end_time`; problems reading it surface in `batches`."""
        document = JsonDocument.check(path, list_key="tickets", item_key="ticket", hold=0)
        self.checked[path] = (_version(path), document)
        return _end_time(document)

    def handoff(self, path: Path) -> tuple[tuple[int, int] | None, JsonDocument] | None:
        return self.checked.pop(path, None)

    def take(self, path: Path, kept: tuple[tuple[int, int] | None, JsonDocument] | None) -> None:
        if kept is not None:
            self.checked[path] = kept

    def ticket_row(self, record: dict[str, Any]) -> dict[str, Any]:
        external_id = ticket_id(record)
        status = require_str(record, "status")
        if status != "deleted" and status not in LIVE_STATUSES:
            raise BadRecord(f"unknown ticket status '{status}' in field 'status'")
        updated_at = parse_rfc3339(record.get("updated_at"), "updated_at")
        fields = {key: record.get(key) for key in COPIED_FIELDS}
        fields["via_channel"] = dig(record, "via.channel")
        fields["custom_fields"] = custom_fields(record.get("custom_fields"))
        return {
            "system": self.options.system,
            "object_type": self.options.object_type or "ticket",
            "external_id": external_id,
            "correlation_keys": self.correlation_keys(record),
            "state": "deleted" if status == "deleted" else "success",
            "raw_status": status,
            "fields": dumps(without_none(fields)),
            "last_actor": None,
            "created_at": parse_rfc3339(record.get("created_at"), "created_at"),
            "updated_at": updated_at,
            "merged_into": None,
            "edited_at": updated_at,
            "actor_writes": None,
            "raw": dumps(record),
        }
