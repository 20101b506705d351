"""Zendesk tickets through the reader: incremental export pages and single tickets."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

import connectors.files.documents as documents
from connectors.base import QuarantineSink, SourceOptions
from connectors.zendesk import ZendeskReader

PATHS = ["external_id", "tags"]  # as in reckon.yaml
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "zendesk"


def test_cursor_page(read):
    table, rejected = read(ZendeskReader, "zendesk/tickets_cursor_page.json", PATHS)
    assert rejected == []
    rows = table.to_pylist()
    assert [(r["external_id"], r["state"], r["raw_status"]) for r in rows] == [
        ("35436", "success", "solved"),
        ("35437", "success", "open"),
        ("35438", "success", "hold"),
        ("35439", "deleted", "deleted"),
        ("35440", "success", "new"),  # a numeric-string id means the same ticket
    ]
    assert all(r["system"] == "zendesk" and r["object_type"] == "ticket" for r in rows)
    assert [r["correlation_keys"] for r in rows] == [
        ["int_7f3a9c2e01", "idem_refund_order_4821"],
        ["int_9c5e1b2a03"],  # the customer's own external_id is not our marker; a tag is
        ["int_8b4d0a1f02"],
        ["int_a1b2c3d4e5"],
        [],
    ]
    first = rows[0]
    assert first["created_at"] == datetime(2025, 3, 6, 12, 2, 11, tzinfo=UTC)
    assert first["updated_at"] == datetime(2025, 3, 6, 12, 40, 52, tzinfo=UTC)
    assert first["last_actor"] is None and first["merged_into"] is None
    assert (first["source_file"], first["source_record"]) == (
        "fixtures/vendors/zendesk/tickets_cursor_page.json",
        1,
    )
    assert rows[4]["created_at"] == datetime(2025, 3, 6, 15, 0, 0, 123000, tzinfo=UTC)


def test_fields(read):
    table, _ = read(ZendeskReader, "zendesk/tickets_cursor_page.json", PATHS)
    fields = [json.loads(f) for f in table.column("fields").to_pylist()]
    assert fields[0] == {
        "subject": "Refund for order #4821",
        "status": "solved",
        "priority": "normal",
        "type": "question",
        "tags": ["refund", "idem_refund_order_4821", "vip"],
        "external_id": "int_7f3a9c2e01",
        "requester_id": 20978392,
        "submitter_id": 76872,
        "assignee_id": 235323,
        "custom_status_id": 18823101,
        "via_channel": "api",
        "custom_fields": {"27642": "745", "27648": "yes"},
    }
    assert fields[1]["custom_status_id"] == 18823090  # custom status under category "open"
    assert "assignee_id" not in fields[1] and "type" not in fields[1]
    assert fields[2]["custom_fields"] == {"27642": None}
    assert fields[4] == {
        "subject": "Login problem",
        "status": "new",
        "requester_id": 20978396,
        "submitter_id": 20978396,
        "via_channel": "web",
    }


def test_bad_tickets_are_rejected_and_good_ones_kept(read):
    table, rejected = read(ZendeskReader, "zendesk/tickets_time_page.json", PATHS)
    assert [(r["source_record"], r["external_id"], r["raw_status"]) for r in table.to_pylist()] == [
        (1, "35501", "pending"),
        (7, "35507", "closed"),
    ]
    assert table.column("state").to_pylist() == ["success", "success"]
    reasons = {r["source_record"]: r["reason"] for r in rejected}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "unknown ticket status 'archived'" in reasons[2]
    assert "'id'" in reasons[3] and "'id'" in reasons[4]
    assert "'updated_at'" in reasons[5]
    assert "'custom_fields'" in reasons[6]
    assert all(
        r["source_file"] == "fixtures/vendors/zendesk/tickets_time_page.json" for r in rejected
    )
    assert table.num_rows + len(rejected) == 7


def test_single_ticket_document(read):
    table, rejected = read(ZendeskReader, "zendesk/ticket_single.json", PATHS)
    assert rejected == []
    (row,) = table.to_pylist()
    assert (row["external_id"], row["state"], row["source_record"]) == ("35600", "success", 1)
    assert row["correlation_keys"] == ["int_e5f6a7b8c9", "idem_onboard_customer_77"]


def test_exported_at_is_the_time_based_page_end_time(tmp_path):
    reader = ZendeskReader(SourceOptions(source="zendesk_test", system="zendesk"))
    assert reader.exported_at(FIXTURES / "tickets_time_page.json") == datetime(
        2025, 3, 7, 9, 30, tzinfo=UTC
    )
    assert reader.exported_at(FIXTURES / "tickets_cursor_page.json") is None
    assert reader.exported_at(FIXTURES / "ticket_single.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text('{"tickets": [', encoding="utf-8")
    assert reader.exported_at(broken) is None


@pytest.mark.parametrize("name", ["malformed", "truncated", "scalar", "null"])
def test_unreadable_documents_are_rejected_whole(read, broken_documents, name):
    path = broken_documents[name]
    table, rejected = read(ZendeskReader, path, PATHS)
    assert table.num_rows == 0
    assert [(r["source_file"], r["source_record"]) for r in rejected] == [(str(path), 0)]


def page_text(tickets: int, status: str) -> str:
    records = [
        {"id": n, "status": status, "subject": f"ticket {n}", "tags": [f"int_{n:04d}"],
         "created_at": "2025-03-06T10:00:00Z", "updated_at": "2025-03-06T11:00:00Z"}
        for n in range(1, tickets + 1)
    ]  # fmt: skip
    return json.dumps({"tickets": records, "end_time": 1741339800}, indent=1)


@pytest.mark.parametrize("hold", [None, 1_000])  # parsed whole, or walked by the streaming checker
def test_a_page_is_read_once(tmp_path, monkeypatch, hold):
    """The snapshot asks every page's export time before reading any: that pass is the
    only read. Once it is done, the page can change under the same size and mtime and
    `batches` still gives the page as it was; meanwhile its records wait on disk, not in
    memory, and are gone once read."""
    if hold is not None:
        monkeypatch.setattr(documents, "HOLD_CHARS", hold)
    spills = tmp_path / "tmp"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    path = tmp_path / "page.json"
    path.write_text(page_text(300, "open"))
    stat = path.stat()
    reader = ZendeskReader(SourceOptions(source="t", system="zendesk", correlation_paths=PATHS,
                                         root=tmp_path))  # fmt: skip
    assert reader.exported_at(path) == datetime(2025, 3, 7, 9, 30, tzinfo=UTC)
    assert len(list(spills.iterdir())) == 1
    path.write_text(page_text(300, "pend"))  # same length, other statuses
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    sink = QuarantineSink("t")
    rows = [row for batch in reader.batches(path, sink) for row in batch.to_pylist()]
    assert sink.rows == []
    assert [row["raw_status"] for row in rows] == ["open"] * 300
    assert [row["source_record"] for row in rows] == list(range(1, 301))
    assert list(spills.iterdir()) == []
    # a page changed in size or time since its export time was read is read again
    reader.exported_at(path)
    path.write_text(page_text(300, "solved"))
    rows = [row for batch in reader.batches(path, QuarantineSink("t")) for row in batch.to_pylist()]
    assert [row["raw_status"] for row in rows] == ["solved"] * 300
