"""SendGrid Event Webhook batches through the reader: one row per distinct event."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.sendgrid import SendGridReader
from tests.connectors.readers import PUBLIC_FIXTURES, public_sample, read_with

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


# --- retries are identical copies; names and times as SendGrid may spell them ---------


def test_documentation_example_keeps_all_eleven_events():
    """SendGrid's own example body: one event per type, all sharing the placeholder
    sg_event_id "sg_event_id". Distinct events, so none is a retry of another."""
    result = read_with(SendGridReader, public_sample("sendgrid/event_webhook_example.json"), root=PUBLIC_FIXTURES)
    rows = result.rows
    assert result.rejected == []
    assert [(r["source_record"], r["raw_status"], r["state"]) for r in rows] == [
        (1, "processed", "pending"), (2, "deferred", "pending"), (3, "delivered", "success"),
        (4, "open", "success"), (5, "click", "success"), (6, "bounce", "failed"),
        (7, "dropped", "failed"), (8, "spamreport", "success"), (9, "unsubscribe", "success"),
        (10, "group_unsubscribe", "success"), (11, "group_resubscribe", "success"),
    ]  # fmt: skip
    assert {r["external_id"] for r in rows} == {"sg_message_id"}
    assert {r["updated_at"] for r in rows} == {at(1513299569)}
    assert result.reader.repeats_dropped == 0


def event(kind: str, stamp: Any = 1741269000, **more: Any) -> dict[str, Any]:
    return {"email": "sam.ortiz@example.com", "timestamp": stamp, "event": kind, "sg_event_id": "ev-1",
            "sg_message_id": "Aa1Bb2Cc3Dd4Ee5Ff6Gg7H.filter0001p1las1-1-67C9B1A0-1.0",
            "reckon_intent_id": "int_1f2e3d4c5b", **more}  # fmt: skip


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_only_identical_copies_are_retries_and_they_are_counted(tmp_path, suffix):
    delivered = event("delivered")
    events = [
        event("processed", 1741268990),
        delivered,
        dict(reversed(delivered.items())),  # the same event, keys in another order: a retry
        event("open", 1741269100),  # the same sg_event_id, another event: kept
        delivered,  # a retry again
        event("delivered", 1741269000, attempt="2"),  # one value differs: another event
    ]
    path = tmp_path / f"retries{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    else:
        path.write_text(json.dumps(events), encoding="utf-8")
    result = read_with(SendGridReader, path, root=tmp_path)
    assert [(r["source_record"], r["raw_status"]) for r in result.rows] == [
        (1, "processed"), (2, "delivered"), (4, "open"), (6, "delivered"),
    ]  # fmt: skip
    assert result.rejected == []
    assert result.reader.repeats_dropped == 2


def test_the_fixture_retry_is_counted():
    assert read_with(SendGridReader, "sendgrid/batch.json", {}, PATHS).reader.repeats_dropped == 1
    assert read_with(SendGridReader, "sendgrid/batch.jsonl", {}, PATHS).reader.repeats_dropped == 1


def test_event_names_ignore_case(tmp_path):
    path = tmp_path / "case.json"
    path.write_text(json.dumps([event("Processed"), event("DELIVERED", 1741269005), event("Group_Unsubscribe", 1741269010)]))
    result = read_with(SendGridReader, path, root=tmp_path)
    assert result.rejected == []
    assert [(r["raw_status"], r["state"]) for r in result.rows] == [
        ("processed", "pending"), ("delivered", "success"), ("group_unsubscribe", "success"),
    ]  # fmt: skip
    assert json.loads(result.rows[0]["fields"])["event"] == "processed"
    assert json.loads(result.rows[0]["raw"])["event"] == "Processed"  # the record as read


def test_millisecond_timestamps_are_read_as_milliseconds(tmp_path):
    stamps = [1741269000123, "1741269000123", 1741269000.5, 10**11, 10**11 - 1]
    path = tmp_path / "ms.json"
    path.write_text(json.dumps([event("delivered", stamp, sg_event_id=f"ev-{n}") for n, stamp in enumerate(stamps)]))
    result = read_with(SendGridReader, path, root=tmp_path)
    ms = datetime(2025, 3, 6, 13, 50, 0, 123000, tzinfo=UTC)
    assert [r["updated_at"] for r in result.rows] == [
        ms, ms, datetime(2025, 3, 6, 13, 50, 0, 500000, tzinfo=UTC),
        datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC),  # 10^11 ms
    ]  # fmt: skip
    # 10^11 - 1 s is still seconds: the year 5138, after the export, so a bad record
    assert result.reasons() == {5: "field 'timestamp' is in the future: 5138-11-16T09:46:39+00:00 is after the export"}


def test_a_long_value_in_a_reason_is_bounded(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps([event("x" * 5000)]))
    result = read_with(SendGridReader, path, root=tmp_path)
    (reason,) = result.reasons().values()
    assert reason.startswith("unknown event 'xxx") and len(reason) <= 300 and reason.endswith("…")



def test_identical_repeats_are_counted_in_the_snapshot_and_the_summary(tmp_path):
    """What the reader drops as webhook retries is counted, per file and per source."""
    from reckon.snapshots import list_snapshots
    from reckon.workspace import Workspace
    from tests.workspaces import build

    event = {"email": "a@example.com", "timestamp": 1763640000, "event": "delivered", "sg_event_id": "e1",
             "sg_message_id": "m1.f.1"}
    built = build(tmp_path, [], {"sendgrid": [event, {**event, "event": "open", "timestamp": 1763640100},
                                              event, event]})
    (snap,) = list_snapshots(Workspace.open(tmp_path), "sendgrid")
    assert (snap.rows, snap.repeats_dropped, snap.files[0].repeats_dropped) == (2, 2, 2)
    sources = {s["source"]: s for s in json.loads(built.audit["sources"])}
    assert sources["sendgrid"]["repeats_dropped"] == 2
