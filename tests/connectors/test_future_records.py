"""A vendor record dated after its export (more than a day of clock skew) is quarantined
with a reason naming the field, never kept: it cannot be true, and as the newest version
of its object it would win over every later export."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from bench.connectors import contact, refund, ticket
from connectors.base import Reader
from connectors.hubspot import HubSpotReader
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.zendesk import ZendeskReader
from tests.connectors.readers import read_with

NOW = 1741339800  # the export: 2025-03-07T09:30:00Z (its file's mtime, or a page's end_time)
YEAR_3000 = 32503680000
LAST_DAY = "9999-12-31T00:00:00Z"
DAY_AFTER = "2025-03-08T10:00:00Z"  # past the day of clock skew


def stripe_event(n: int, created: int) -> dict[str, Any]:
    return {"id": f"evt_{n}", "object": "event", "type": "refund.updated", "created": created,
            "data": {"object": refund(n), "previous_attributes": {"status": "pending"}}}  # fmt: skip


def deleted_ticket(n: int, **changes: Any) -> dict[str, Any]:
    return {**ticket(n), "status": "deleted", **changes}


def sendgrid_event(n: int, timestamp: int) -> dict[str, Any]:
    return {"email": f"u{n}@example.com", "timestamp": timestamp, "event": "bounce",
            "sg_event_id": f"e{n}", "sg_message_id": f"m{n}.filter"}  # fmt: skip


# reader, page of (record, the field its reason names or None when kept), file name
CASES: dict[str, tuple[type[Reader], Any, list[tuple[dict[str, Any], str | None]], str]] = {
    "stripe": (StripeReader, lambda records: {"object": "list", "data": records}, [
        (refund(1), None),
        ({**refund(2), "created": YEAR_3000}, "created"),
        (stripe_event(3, YEAR_3000), "created"),
        (stripe_event(4, NOW), None),
    ], "refunds.json"),
    "zendesk": (ZendeskReader, lambda records: {"tickets": records, "end_time": NOW}, [
        (ticket(1), None),
        (deleted_ticket(2, updated_at=LAST_DAY), "updated_at"),
        (deleted_ticket(3, created_at=DAY_AFTER), "created_at"),
        (deleted_ticket(4, updated_at="2025-03-08T09:00:00Z"), None),  # within the day of skew
    ], "tickets.json"),
    "hubspot": (HubSpotReader, lambda records: {"results": records}, [
        (contact(1), None),
        ({**contact(2), "updatedAt": LAST_DAY, "archived": True}, "updatedAt"),
        ({**contact(3), "createdAt": DAY_AFTER}, "createdAt"),
    ], "contacts.json"),
    "sendgrid": (SendGridReader, lambda records: records, [
        (sendgrid_event(1, NOW), None),
        (sendgrid_event(2, YEAR_3000), "timestamp"),
        (sendgrid_event(3, YEAR_3000 * 1000), "timestamp"),  # milliseconds
    ], "events.json"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_record_dated_after_its_export_is_quarantined_with_the_field(tmp_path, name):
    reader, page, records, file_name = CASES[name]
    path = tmp_path / file_name
    path.write_text(json.dumps(page([record for record, _ in records])))
    os.utime(path, (NOW, NOW))

    result = read_with(reader, path, root=tmp_path)

    kept = {n for n, (_, field) in enumerate(records, start=1) if field is None}
    assert {row["source_record"] for row in result.rows} == kept
    reasons = {r["source_record"]: r["reason"] for r in result.rejected}
    assert set(reasons) == {n for n, (_, field) in enumerate(records, start=1) if field is not None}
    for number, reason in reasons.items():
        assert reason.startswith(f"field '{records[number - 1][1]}' is in the future: "), reason
    assert all(r["source_file"] == file_name for r in result.rejected)


def test_an_export_page_is_bounded_by_its_own_end_time_not_the_file_time(tmp_path):
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps({"tickets": [ticket(1), deleted_ticket(2, updated_at=DAY_AFTER)], "end_time": NOW}))
    os.utime(path, (YEAR_3000, YEAR_3000))  # a file touched later says nothing of the export

    result = read_with(ZendeskReader, path, root=tmp_path)

    assert [row["source_record"] for row in result.rows] == [1]
    assert list(result.reasons()) == [2]
