"""The generic connector: a system reckon does not know, read through a column mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.generic import GenericReader
from tests.connectors.conftest import VENDORS
from tests.connectors.readers import read_with

CSV_OPTIONS = {
    "external_id": "invoice_id",
    "status": "state",
    "status_map": {"success": ["paid"], "pending": ["open", "draft"], "failed": ["uncollectible", "failed"], "deleted": ["void"]},
    "correlation_keys": ["intent_id"],
    "actor": "updated_by",
    "created_at": "created",
    "updated_at": "modified",
    "fields": {"amount": "amount_cents", "email": "customer_email"},
}
# The JSON exports nest the marker; the system's correlation_paths find it.
JSON_OPTIONS = {**CSV_OPTIONS, "correlation_keys": [], "records_key": "data"}
EXPECTED = [
    (2, "in_1001", "success", "paid", ["int_invoice_1001"], "api:billing-agent"),
    (3, "in_1002", "pending", "open", [], "user:42"),
    (5, "in_1003", "deleted", "void", ["int_invoice_1003"], "api:billing-agent"),
]


def summary(rows):
    return [(r["source_record"], r["external_id"], r["state"], r["raw_status"], r["correlation_keys"], r["last_actor"])
            for r in rows]


def test_csv_with_header_and_a_value_spanning_lines():
    result = read_with(GenericReader, "generic/invoices.csv", CSV_OPTIONS, system="billing", object_type="invoice")
    rows = result.rows
    assert summary(rows) == EXPECTED
    assert {(r["system"], r["object_type"]) for r in rows} == {("billing", "invoice")}
    assert rows[0]["created_at"] == datetime(2025, 3, 6, 9, 0, tzinfo=UTC)
    assert rows[0]["updated_at"] == datetime(2025, 3, 6, 9, 5, tzinfo=UTC)
    fields = json.loads(rows[1]["fields"])
    assert fields["amount"] == "1500" and fields["email"] == "raj.patel@example.org"
    assert "amount_cents" not in fields and fields["notes"] == 'called, will pay\non Friday, "promised"'
    reasons = result.reasons()
    assert sorted(reasons) == [6, 7, 8]
    assert "unknown status 'disputed'" in reasons[6]
    assert "external id" in reasons[7]
    assert "'modified'" in reasons[8]


@pytest.mark.parametrize("name", ["invoices.jsonl", "invoices.json"])
def test_json_lines_and_documents(name):
    result = read_with(GenericReader, f"generic/{name}", JSON_OPTIONS, ["metadata.intent_id"], system="billing")
    rows = result.rows
    # lines and array positions both number from 1
    assert [(r["source_record"], r["external_id"], r["correlation_keys"]) for r in rows] == [
        (1, "in_1001", ["int_invoice_1001"]),
        (2, "in_1002", []),
        (3, "in_1003", ["int_invoice_1003"]),
    ]
    assert json.loads(rows[0]["fields"])["amount"] == 4200
    assert sorted(result.reasons()) == [4, 5, 6]


def test_parquet_with_timestamps_and_a_renamed_column(tmp_path):
    table = pa.table({
        "id": ["a1", "a2", None],
        "status": ["done", "queued", "done"],
        "changed": pa.array([datetime(2025, 3, 6, 9, 0, tzinfo=UTC)] * 3, pa.timestamp("ms", tz="UTC")),
        "owner": ["api:agent", None, "x"],
        "total": [1.5, 2.0, 3.0],
    })  # fmt: skip
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    options = {"external_id": "id", "status": "status", "status_map": {"success": ["done"], "pending": ["queued"]},
               "updated_at": "changed", "actor": "owner", "columns": ["id", "status", "changed", "owner"]}
    result = read_with(GenericReader, path, options, system="ops", root=tmp_path)
    assert [(r["source_record"], r["external_id"], r["state"], r["updated_at"]) for r in result.rows] == [
        (1, "a1", "success", datetime(2025, 3, 6, 9, 0, tzinfo=UTC)),
        (2, "a2", "pending", datetime(2025, 3, 6, 9, 0, tzinfo=UTC)),
    ]
    assert json.loads(result.rows[0]["fields"])["changed"] == "2025-03-06 09:00:00+00:00"
    assert [r["source_record"] for r in result.rejected] == [3]
    # `columns` declares the export's columns: `total` is new
    assert result.reader.field_drift() == (["total"], [])


def test_a_renamed_mapped_column_is_missing(tmp_path):
    path = tmp_path / "renamed.csv"
    path.write_text((VENDORS / "generic/invoices.csv").read_text().replace("modified", "last_modified", 1))
    result = read_with(GenericReader, path, CSV_OPTIONS, system="billing", root=tmp_path)
    assert result.table.num_rows == 4  # updated_at is optional: rows stay, without it
    assert all(r["updated_at"] is None for r in result.rows)
    assert result.reader.field_drift() == ([], ["modified"])


def test_timestamp_formats(tmp_path):
    path = tmp_path / "epoch.csv"
    path.write_text("id,ts\nr1,1741255200\nr2,2025-03-06 10:00:00\n")
    rows = read_with(GenericReader, path, {"external_id": "id", "updated_at": "ts", "timestamp_format": "epoch_s"},
                     system="x", root=tmp_path).rows
    assert [(r["external_id"], r["updated_at"], r["state"]) for r in rows] == [
        ("r1", datetime(2025, 3, 6, 10, 0, tzinfo=UTC), "success")
    ]
    rows = read_with(GenericReader, path, {"external_id": "id", "updated_at": "ts", "timestamp_format": "utc"},
                     system="x", root=tmp_path).rows
    assert [r["external_id"] for r in rows] == ["r2"]
    assert rows[0]["updated_at"] == datetime(2025, 3, 6, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "options.external_id: required"),
        ({"external_id": "id", "status": "s"}, "options.status_map"),
        ({"external_id": "id", "status": "s", "status_map": {"done": ["x"]}}, "options.status_map.done: not a state"),
        ({"external_id": "id", "status": "s", "status_map": {"success": ["x"], "failed": ["x"]}}, "already mapped"),
        ({"external_id": "id", "status_map": {"success": ["x"]}}, "needs options.status"),
        ({"external_id": "id", "format": "xml"}, "options.format"),
        ({"external_id": "id", "timestamp_format": "iso"}, "options.timestamp_format"),
        ({"external_id": "id", "delimiter": ";;"}, "options.delimiter"),
        ({"external_id": "id", "fields": {"amount": 3}}, "options.fields.amount"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(ValueError) as info:
        GenericReader.check_options(options)
    assert message in str(info.value)
