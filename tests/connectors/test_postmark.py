"""Postmark webhooks through the reader: a second email provider is a connector, not a rewrite."""

from __future__ import annotations

import json
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
