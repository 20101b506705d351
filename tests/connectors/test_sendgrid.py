"""SendGrid Event Webhook batches through the reader: one row per distinct event."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from connectors.sendgrid import SendGridReader

PATHS = ["reckon_intent_id"]  # custom args arrive as top-level keys (reckon.yaml)
ANA = "Xq3mR7vLT2eK9bW1cN5dPw"
RAJ = "Lp8sT2wQR0aH4fZ6yJ1kVg"
MEI = "Vb2nK5xMP9cD3gH7tR0wQe"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_batch_rows_per_event(read):
    table, rejected = read(SendGridReader, "sendgrid/batch.json", PATHS)
    rows = table.to_pylist()
    assert [(r["source_record"], r["external_id"], r["raw_status"], r["state"]) for r in rows] == [
        (1, ANA, "processed", "pending"),
        (2, ANA, "delivered", "success"),
        # record 3 repeats record 2's sg_event_id: counted once, not rejected
        (4, ANA, "open", "success"),
        (5, RAJ, "processed", "pending"),
        (6, RAJ, "deferred", "pending"),
        (7, RAJ, "bounce", "failed"),  # no sg_message_id: attached by email + intent
        (8, MEI, "dropped", "failed"),
        (11, ANA, "click", "success"),
    ]
    assert all(r["system"] == "sendgrid" and r["object_type"] == "message" for r in rows)
    assert rows[0]["correlation_keys"] == ["int_7f3a9c2e01"]
    assert rows[0]["created_at"] == rows[0]["updated_at"] == at(1741266600)
    assert rows[0]["last_actor"] is None
    assert rows[0]["source_file"] == "fixtures/vendors/sendgrid/batch.json"
    rejected_records = sorted(r["source_record"] for r in rejected)
    assert rejected_records == [9, 10, 12, 13, 14]
    assert len(rows) + len(rejected) + 1 == 14  # + the one duplicate


def test_fields(read):
    table, _ = read(SendGridReader, "sendgrid/batch.json", PATHS)
    fields = [json.loads(f) for f in table.column("fields").to_pylist()]
    assert fields[1] == {
        "email": "ana.lima@example.com",
        "category": "refund_notice",
        "categories": ["refund_notice", "transactional"],
        "event": "delivered",
        "response": "250 2.0.0 OK  1741266604 d75a77b69052e-4710fd3b1f4si2204171cf.311 - gsmtp",
        "sg_message_id": f"{ANA}.filter0123p1las1-14620-67C9A1E8-12.0",
    }
    assert fields[5] == {
        "email": "raj.patel@example.org",
        "category": "welcome",
        "event": "bounce",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "status": "5.1.1",
        "type": "bounce",
    }
    assert fields[6]["reason"] == "Bounced Address" and fields[6]["status"] == "5.0.0"


def test_rejection_reasons(read):
    _, rejected = read(SendGridReader, "sendgrid/batch.json", PATHS)
    reasons = {r["source_record"]: r["reason"] for r in rejected}
    assert "'sg_message_id'" in reasons[9] and "no messages" in reasons[9]
    assert "unknown event 'machine_opened'" in reasons[10]
    assert "'timestamp'" in reasons[12]
    assert "'event'" in reasons[13]
    assert "expected a JSON object" in reasons[14]


def test_orphan_event_matching_two_messages_is_rejected(read, tmp_path):
    def event(kind, message, event_id):
        record = {
            "email": "sam.ortiz@example.com",
            "timestamp": 1741269000,
            "event": kind,
            "sg_event_id": event_id,
            "reckon_intent_id": "int_1f2e3d4c5b",
        }
        if message:
            record["sg_message_id"] = f"{message}.filter0001p1las1-1-67C9B1A0-1.0"
        return record

    path = tmp_path / "twice.json"
    events = [
        event("delivered", "Aa1Bb2Cc3Dd4Ee5Ff6Gg7H", "ev-1"),
        event("delivered", "Hh8Ii9Jj0Kk1Ll2Mm3Nn4O", "ev-2"),
        event("bounce", None, "ev-3"),
    ]
    path.write_text(json.dumps(events), encoding="utf-8")
    table, rejected = read(SendGridReader, path, PATHS)
    assert table.num_rows == 2
    assert [(r["source_record"], r["source_file"]) for r in rejected] == [(3, str(path))]
    assert "2 different messages" in rejected[0]["reason"]


def test_json_lines_use_line_numbers(read):
    table, rejected = read(SendGridReader, "sendgrid/batch.jsonl", PATHS)
    rows = table.to_pylist()
    # line 3 is blank; line 5 repeats line 2's sg_event_id
    assert [(r["source_record"], r["raw_status"]) for r in rows] == [
        (1, "processed"),
        (2, "delivered"),
        (6, "unsubscribe"),
    ]
    assert {r["external_id"] for r in rows} == {"Qw7eR2tY5uI8oP1aS4dFgH"}
    assert [(r["source_record"], r["reason"][:14]) for r in rejected] == [(4, "malformed JSON")]


@pytest.mark.parametrize("name", ["malformed", "truncated", "scalar", "null"])
def test_unreadable_documents_are_rejected_whole(read, broken_documents, name):
    path = broken_documents[name]
    table, rejected = read(SendGridReader, path, PATHS)
    assert table.num_rows == 0
    assert [(r["source_file"], r["source_record"]) for r in rejected] == [(str(path), 0)]


def test_truncated_gzip_json_lines_keep_good_lines(read, tmp_path):
    lines = [
        json.dumps(
            {
                "email": f"user{n}@example.com",
                "timestamp": 1741269000 + n,
                "event": "delivered",
                "sg_event_id": f"ZGVsaXZlcmVk{n:06d}",
                "sg_message_id": f"Msg{n:019d}.filter0001p1las1-{n}-67C9B1A0-1.0",
            }
        )
        for n in range(2000)
    ]
    blob = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    table, rejected = read(SendGridReader, path, PATHS)
    assert 0 < table.num_rows < 2000
    assert len(rejected) == 1 and "unreadable file" in rejected[0]["reason"]
    # iter_lines numbers the cut-off point after the last whole line it read
    assert rejected[0]["source_record"] >= table.num_rows + 1
