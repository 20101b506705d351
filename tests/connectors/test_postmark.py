"""Postmark webhooks through the reader: a second email provider is a connector, not a rewrite."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone

from connectors.postmark import PostmarkReader
from tests.connectors.readers import read_with

PATHS = ["Metadata.reckon_intent_id"]


def test_events_are_message_versions():
    result = read_with(PostmarkReader, "postmark/webhooks.jsonl", {}, PATHS)
    rows = result.rows
    assert [(r["source_record"], r["external_id"][:8], r["raw_status"], r["state"]) for r in rows] == [
        (1, "b7bc2f4a", "Delivery", "success"),
        (2, "b7bc2f4a", "Open", "success"),
        (3, "883953f4", "Bounce:HardBounce", "failed"),
        (4, "0c6a2f7e", "Bounce:SoftBounce", "pending"),
        (5, "7f4c2e9a", "SubscriptionChange", "success"),
        (6, "b7bc2f4a", "Delivery", "success"),  # a retried webhook: the same version again
    ]
    assert rows[0]["correlation_keys"] == ["int_notify_8812"]
    assert rows[0]["updated_at"] == datetime(2025, 3, 6, 10, 0, 43, 907025, tzinfo=UTC)
    assert rows[2]["updated_at"] == datetime(2025, 3, 6, 10, 10, 0, 273539, tzinfo=timezone(timedelta(hours=-4)))
    assert {(r["system"], r["object_type"]) for r in rows} == {("postmark", "message")}
    fields = json.loads(rows[2]["fields"])
    assert fields["Recipient"] == "raj.patel@example.org"  # a bounce names it `Email`
    assert fields["Type"] == "HardBounce" and fields["TypeCode"] == 1


def test_bad_events_are_quarantined_by_line():
    reasons = read_with(PostmarkReader, "postmark/webhooks.jsonl", {}, PATHS).reasons()
    assert sorted(reasons) == [7, 8, 9, 10]
    assert "unknown RecordType 'Inbound'" in reasons[7]
    assert "'MessageID'" in reasons[8]
    assert reasons[9].startswith("malformed JSON")
    assert "in the future" in reasons[10]


def test_a_single_webhook_body_and_an_array():
    single = read_with(PostmarkReader, "postmark/delivery.json", {}, PATHS)
    assert [(r["source_record"], r["correlation_keys"]) for r in single.rows] == [(1, ["int_notify_8820"])]
    array = read_with(PostmarkReader, "postmark/bounces.json", {}, PATHS)
    assert [(r["source_record"], r["raw_status"], r["state"]) for r in array.rows] == [
        (1, "Bounce:HardBounce", "failed"),
        (2, "SpamComplaint", "success"),
    ]
    assert array.rejected == [] and array.reader.field_drift() == ([], [])


def test_drift_names_added_and_missing_fields(tmp_path):
    path = tmp_path / "renamed.jsonl"
    event = {"RecordType": "Delivery", "MessageId": "m-1", "Recipient": "a@example.com",
             "DeliveredAt": "2025-03-06T10:00:00Z", "DeliveryTimeMs": 812}
    path.write_text(json.dumps(event) + "\n" + json.dumps(event) + "\n")
    result = read_with(PostmarkReader, path, {}, PATHS, root=tmp_path)
    assert result.table.num_rows == 0 and len(result.rejected) == 2
    assert result.reader.field_drift() == (["DeliveryTimeMs", "MessageId"], ["MessageID"])


def unsubscribe(**more):
    """A Bounce webhook of type Unsubscribe (TypeCode 16), as Postmark sends it for an
    unsubscribe request: no `BouncedAt` unless the payload carries one."""
    return {"RecordType": "Bounce", "MessageStream": "outbound", "ID": 4323372036854775807, "Type": "Unsubscribe",
            "TypeCode": 16, "Name": "Unsubscribe request", "Tag": "receipt",
            "MessageID": "5a1e7c3d-2b4f-4e6a-9c8d-7f0e1a2b3c4d", "ServerID": 23,
            "Description": "Unsubscribe or Remove request.", "Details": "Unsubscribe request", "Email": "ana.lima@example.com",
            "From": "support@example.com", "DumpAvailable": False, "Inactive": False, "CanActivate": True,
            "Subject": "Your refund", "Metadata": {"reckon_intent_id": "int_notify_9001"}, **more}  # fmt: skip


def test_a_bounce_without_bounced_at_takes_another_time_or_the_export_time(tmp_path):
    path = tmp_path / "unsubscribes.jsonl"
    records = [
        unsubscribe(),  # no time at all: the file's export time
        unsubscribe(BouncedAt=None, ReceivedAt="2025-03-06T11:00:00Z"),  # another documented time
        unsubscribe(ChangedAt="2025-03-06T12:00:00+01:00"),
        unsubscribe(BouncedAt="2025-03-06T10:00:00Z", ReceivedAt="2025-03-06T11:00:00Z"),  # its own first
        unsubscribe(BouncedAt="yesterday"),  # a time that is there but unreadable is still bad
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    exported = datetime(2025, 3, 7, 8, 30, tzinfo=UTC)
    os.utime(path, (exported.timestamp(), exported.timestamp()))
    result = read_with(PostmarkReader, path, {}, PATHS, root=tmp_path)
    assert [(r["source_record"], r["raw_status"], r["state"], r["updated_at"]) for r in result.rows] == [
        (1, "Bounce:Unsubscribe", "success", exported),
        (2, "Bounce:Unsubscribe", "success", datetime(2025, 3, 6, 11, tzinfo=UTC)),
        (3, "Bounce:Unsubscribe", "success", datetime(2025, 3, 6, 11, tzinfo=UTC)),
        (4, "Bounce:Unsubscribe", "success", datetime(2025, 3, 6, 10, tzinfo=UTC)),
    ]
    assert result.rows[0]["created_at"] == exported
    assert list(result.reasons()) == [5] and "'BouncedAt'" in result.reasons()[5]
