"""Stripe refunds through the reader: list pages, events, the vendor's own samples, quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.stripe import StripeReader
from tests.connectors.readers import public_sample

PATHS = ["metadata.reckon_intent_id", "metadata.reckon_idempotency_key"]  # as in reckon.yaml


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def by_id(table) -> dict[str, dict]:
    return {row["external_id"]: row for row in table.to_pylist()}


def test_list_page_maps_every_status(read):
    table, rejected = read(StripeReader, "stripe/refunds_page.json", PATHS)
    assert rejected == []
    rows = by_id(table)
    assert {key: (row["state"], row["raw_status"]) for key, row in rows.items()} == {
        "re_3QxKp2B7WZ01zgkW0a1b2c3d": ("success", "succeeded"),
        "re_3QxKq9B7WZ01zgkW1b2c3d4e": ("pending", "pending"),
        "re_3QxKr4B7WZ01zgkW2c3d4e5f": ("pending", "requires_action"),
        "re_3QxKs1B7WZ01zgkW3d4e5f6a": ("failed", "failed"),
        "pyr_1QxKt7B7WZ01zgkW4e5f6a7b": ("failed", "canceled"),
    }
    first = rows["re_3QxKp2B7WZ01zgkW0a1b2c3d"]
    assert first["system"] == "stripe"
    assert first["object_type"] == "refund"
    assert first["correlation_keys"] == ["int_7f3a9c2e01", "idem_refund_order_4821"]
    assert first["created_at"] == at(1741262400)
    assert first["updated_at"] is None  # no version time outside an event
    assert first["last_actor"] is None and first["merged_into"] is None
    assert first["source_file"] == "fixtures/vendors/stripe/refunds_page.json"
    assert first["source_record"] == 1
    assert json.loads(first["fields"]) == {
        "amount": 4599,
        "currency": "usd",
        "charge": "ch_3QxKp2B7WZ01zgkW06Yh2Lm1",
        "payment_intent": "pi_3QxKp2B7WZ01zgkW0Tq8Rz4x",
        "balance_transaction": "txn_3QxKp2B7WZ01zgkW0f9e8d7c",
        "reason": "requested_by_customer",
        "status": "succeeded",
        "metadata": {
            "reckon_intent_id": "int_7f3a9c2e01",
            "reckon_idempotency_key": "idem_refund_order_4821",
            "order_id": "4821",
        },
    }
    # A customer's own value at a correlation path is not one of our markers.
    assert rows["re_3QxKr4B7WZ01zgkW2c3d4e5f"]["correlation_keys"] == []


def test_expanded_objects_collapse_to_ids(read):
    table, _ = read(StripeReader, "stripe/refunds_page.json", PATHS)
    fields = json.loads(by_id(table)["re_3QxKs1B7WZ01zgkW3d4e5f6a"]["fields"])
    assert fields["charge"] == "ch_3QxKs1B7WZ01zgkW3Ch4Dj5K"
    assert fields["balance_transaction"] == "txn_3QxKs1B7WZ01zgkW3Bt5Cv6D"
    assert fields["failure_reason"] == "expired_or_canceled_card"
    assert fields["receipt_number"] == "1873-4421"


def test_events_give_one_version_per_refund_event(read):
    table, rejected = read(StripeReader, "stripe/events_page.json", PATHS)
    assert rejected == []
    rows = table.to_pylist()
    versions = [(r["external_id"], r["state"], r["updated_at"], r["source_record"]) for r in rows]
    assert versions == [
        ("re_3QxLa0B7WZ01zgkW5f6a7b8c", "pending", at(1741266000), 1),
        ("re_3QxLa0B7WZ01zgkW5f6a7b8c", "success", at(1741266125), 2),
        # record 3 (payment_intent.succeeded) says nothing about refunds
        ("re_3QxLd1B7WZ01zgkW7a8b9c0d", "success", at(1741266300), 4),
        ("re_3QxLd2B7WZ01zgkW8b9c0d1e", "success", at(1741266300), 4),
        ("re_3QxLe0B7WZ01zgkW9c0d1e2f", "failed", at(1741266400), 5),
        # record 6: a charge.refunded whose refunds are not expanded yields nothing
    ]
    assert rows[0]["created_at"] == at(1741266000)
    assert rows[0]["correlation_keys"] == ["int_a1b2c3d4e5", "idem_refund_order_4901"]
    assert json.loads(rows[1]["fields"])["balance_transaction"] == "txn_3QxLa0B7WZ01zgkW5Wx5Yz6A"
    assert rows[2]["correlation_keys"] == ["int_b2c3d4e5f6"]


def test_bad_records_are_rejected_and_good_ones_kept(read):
    table, rejected = read(StripeReader, "stripe/refunds_mixed.json", PATHS)
    assert table.column("external_id").to_pylist() == [
        "re_3QxMa1B7WZ01zgkW0d1e2f3a",
        "re_3QxMh8B7WZ01zgkW7c7d8e9f",
    ]
    assert table.column("source_record").to_pylist() == [1, 9]
    reasons = {row["source_record"]: row["reason"] for row in rejected}
    assert set(reasons) == {2, 3, 4, 5, 6, 7, 8, 10}
    assert "'id'" in reasons[2] and "'id'" in reasons[3]
    assert "unknown refund status 'reversed'" in reasons[4]
    assert "'amount'" in reasons[5]
    assert "'created'" in reasons[6]
    assert "expected a JSON object" in reasons[7]
    assert "'object'" in reasons[8] and "'charge'" in reasons[8]
    assert "data.object" in reasons[10]
    assert all(r["source_file"] == "fixtures/vendors/stripe/refunds_mixed.json" for r in rejected)
    assert all(r["source"] == "stripe_test" and r["excerpt"] for r in rejected)
    assert table.num_rows + len(rejected) == 10


def test_bad_refund_inside_charge_refunded_rejects_the_event(read, tmp_path):
    event = {
        "id": "evt_3QxNa1B7WZ01zgkW0zMn0J1k",
        "object": "event",
        "type": "charge.refunded",
        "created": 1741271000,
        "data": {
            "object": {
                "id": "ch_3QxNa1B7WZ01zgkW0Gh1Ij2K",
                "object": "charge",
                "refunds": {
                    "object": "list",
                    "data": [
                        {
                            "id": "re_3QxNa2B7WZ01zgkW1d2e3f4a",
                            "object": "refund",
                            "created": 1741270990,
                            "status": "succeeded",
                        },
                        {
                            "id": "re_3QxNa3B7WZ01zgkW2e3f4a5b",
                            "object": "refund",
                            "created": 1741270995,
                            "status": "refunded",
                        },
                    ],
                },
            }
        },
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    table, rejected = read(StripeReader, path, PATHS)
    assert table.num_rows == 0
    assert [(r["source_file"], r["source_record"]) for r in rejected] == [(str(path), 1)]
    assert "refunds.data[1]" in rejected[0]["reason"]


@pytest.mark.parametrize("name", ["malformed", "truncated", "scalar", "null"])
def test_unreadable_documents_are_rejected_whole(read, broken_documents, name):
    path = broken_documents[name]
    table, rejected = read(StripeReader, path, PATHS)
    assert table.num_rows == 0
    assert [(r["source_file"], r["source_record"]) for r in rejected] == [(str(path), 0)]


def test_public_sample_refund(read):
    table, rejected = read(StripeReader, public_sample("stripe/refund.json"), PATHS)
    assert rejected == []
    (row,) = table.to_pylist()
    assert row["external_id"] == "re_1Pgc72B7WZ01zgkWqPvrRrPE"
    assert (row["state"], row["raw_status"]) == ("success", "succeeded")
    assert row["created_at"] == at(1234567890)  # the sample's placeholder time
    assert row["updated_at"] is None
    assert row["correlation_keys"] == []
    assert json.loads(row["fields"]) == {
        "amount": 100,
        "currency": "usd",
        "charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        "metadata": {},
        "status": "succeeded",
    }


def test_public_sample_non_refund_event_is_skipped(read):
    table, rejected = read(StripeReader, public_sample("stripe/event.json"), PATHS)
    assert table.num_rows == 0
    assert rejected == []


def test_reasons_name_the_field_and_never_quote_the_record(read, tmp_path):
    big = {"note": "q" * 2000, "nested": {"deep": ["q" * 50] * 20}}
    good = {"id": "re_3QxPa1B7WZ01zgkW0a1b2c3d", "object": "refund", "status": "succeeded", "amount": 100,
            "currency": "usd", "created": 1741255200}  # fmt: skip
    records = [
        {**good, "amount": big},
        {**good, "object": big},
        {**good, "created": big},
        {**good, "created": "q" * 2000},
        {**good, "status": "q" * 2000},
        {**good, "amount": "q" * 2000},
        {"id": "evt_1", "object": "event", "type": "refund.updated", "created": 1741255300,
         "data": {"object": {**good, "object": ["q" * 2000]}}},
        {"id": "evt_2", "object": "event", "type": "refund.updated", "created": big, "data": {"object": good}},
    ]  # fmt: skip
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"object": "list", "data": records}))
    table, rejected = read(StripeReader, path, PATHS)
    assert table.num_rows == 0
    reasons = {r["source_record"]: r["reason"] for r in rejected}
    fields = {1: "'amount'", 2: "'object'", 3: "'created'", 4: "'created'", 5: "'status'", 6: "'amount'",
              7: "object", 8: "'created'"}  # fmt: skip
    assert sorted(reasons) == sorted(fields)
    for number, reason in reasons.items():
        assert fields[number] in reason, reason
        assert "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq" not in reason and len(reason) < 120, reason
