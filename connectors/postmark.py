"""Postmark webhooks (Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange):
one row per event, a version of the message (`MessageID`) at the event's time.

A file is one webhook body (an object), an array of them, or JSON Lines. The same
kind of system as SendGrid (`message` objects), read from another vendor's shape:
only this reader differs, the audit is the same. An event's time is its record type's
time field; a payload without it (an Unsubscribe bounce may come without `BouncedAt`)
takes another documented time it has, else the file's export time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.base import QuarantineSink, Reader
from connectors.files import iter_json_records, numbered_rows
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import BadRecord, dumps, not_after, parse_rfc3339, require_str, without_none

# RecordType -> the field holding the event's time.
EVENT_TIME = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}
# The webhooks' time fields, in the order tried when a payload lacks its own (after it).
TIME_FIELDS = ("BouncedAt", "ReceivedAt", "ChangedAt", "DeliveredAt")
# Bounce `Type`s that say the message is still on its way (Postmark retries) or was
# delivered after all (an auto-reply, an address change notice); every other type failed.
PENDING_BOUNCES = frozenset({"Transient", "SoftBounce", "DnsError"})
DELIVERED_BOUNCES = frozenset(
    {"AutoResponder", "AddressChange", "Subscribe", "Unsubscribe", "ChallengeVerification", "OpenRelayTest"}
)
# Fields of the webhook payloads (postmarkapp.com/developer/webhooks; postmark.js models).
WEBHOOK_FIELDS = frozenset(
    {
        "RecordType", "MessageStream", "MessageID", "ServerID", "ServerId", "Recipient", "Tag",
        "Metadata", "DeliveredAt", "Details", "ID", "Type", "TypeCode", "Name", "Description",
        "Email", "From", "BouncedAt", "DumpAvailable", "Inactive", "CanActivate", "Subject",
        "Content", "FirstOpen", "Client", "OS", "Platform", "UserAgent", "ReadSeconds", "Geo",
        "ReceivedAt", "ClickLocation", "OriginalLink", "ChangedAt", "Origin", "SuppressSending",
        "SuppressionReason",
    }
)  # fmt: skip
COPIED_FIELDS = (
    "RecordType", "Recipient", "Tag", "MessageStream", "Type", "TypeCode", "Description",
    "Details", "From", "Subject", "Origin", "SuppressSending", "SuppressionReason",
)  # fmt: skip


def state(record_type: str, record: dict[str, Any]) -> tuple[str, str]:
    """(state, raw status) of the message after this event."""
    if record_type != "Bounce":
        return "success", record_type
    bounce = require_str(record, "Type")
    if bounce in PENDING_BOUNCES:
        return "pending", f"Bounce:{bounce}"
    if bounce in DELIVERED_BOUNCES:
        return "success", f"Bounce:{bounce}"
    return "failed", f"Bounce:{bounce}"


class PostmarkReader(Reader):
    name = "postmark"
    layer = "observed"
    schema = OBSERVED_SCHEMA
    known_fields = WEBHOOK_FIELDS
    expected_fields = frozenset({"RecordType", "MessageID"})
    id_form = "lowercase"  # MessageID is a UUID
    status_implies: ClassVar[dict[str, tuple[str, ...]]] = {"Open": ("Delivery",), "Click": ("Open", "Delivery"), "SpamComplaint": ("Delivery",)}
    states: ClassVar[dict[str, str]] = {"Delivery": "success", "Open": "success", "Click": "success", "SpamComplaint": "success",
              "SubscriptionChange": "success", "Bounce": "failed", "Delivered": "success", "Sent": "success"}

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        latest = self.latest_plausible(path)
        exported = self.export_time(path)

        build = self.noting(source_file, lambda record: [self.event_row(record, latest, exported)])

        records = iter_json_records(path, sink, source_file)
        yield from self.to_batches(numbered_rows(records, sink, source_file, build))

    def export_time(self, path: Path) -> datetime:
        """The file's export time: the format's own (none for webhooks), else its mtime in
        whole seconds (as a snapshot's `observed_at` reads it)."""
        exported = self.exported_at(path)
        return exported if exported is not None else datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)

    def event_row(self, record: dict[str, Any], latest: datetime, exported: datetime | None = None) -> dict[str, Any]:
        record_type = require_str(record, "RecordType")
        if record_type not in EVENT_TIME:
            raise BadRecord(f"unknown RecordType '{record_type}'")
        message_id = require_str(record, "MessageID")
        at = self.event_time(record, record_type, latest, exported)
        metadata = record.get("Metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRecord("field 'Metadata' must be an object")
        current, raw_status = state(record_type, record)
        fields = {key: record.get(key) for key in COPIED_FIELDS}
        # Bounces and complaints name the recipient `Email`; one name for matching.
        fields["Recipient"] = record.get("Recipient") or record.get("Email")
        fields["Metadata"] = metadata
        return self.observed_row(
            "message", external_id=message_id, correlation_keys=self.correlation_keys(record), state=current,
            raw_status=raw_status, fields=dumps(without_none(fields)), created_at=at, updated_at=at,
            raw=dumps(record),
        )  # fmt: skip

    @staticmethod
    def event_time(record: dict[str, Any], record_type: str, latest: datetime, exported: datetime | None) -> datetime:
        """The record type's time field; where the payload lacks it (absent or null), the
        first other documented time it has; without any, the export time. A time that is
        there but unreadable, or later than the export allows, is a bad record."""
        own = EVENT_TIME[record_type]
        for key in (own, *(name for name in TIME_FIELDS if name != own)):
            if record.get(key) is not None:
                return not_after(parse_rfc3339(record[key], key), latest, key)
        if exported is None:
            raise BadRecord(f"field '{own}' is missing and the payload has no other time")
        return exported
