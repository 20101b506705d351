"""S3 Inventory reports (manifest + gzipped CSV without header) through the reader."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime

import pytest

from connectors.s3_inventory import S3InventoryReader
from tests.connectors.conftest import VENDORS
from tests.connectors.readers import read_with

REPORT = "s3_inventory/receipts-bucket/daily-receipts"
MANIFEST = f"{REPORT}/2025-03-07T00-00Z/manifest.json"
DATA = f"fixtures/vendors/{REPORT}/data/8f0ba6d2-4a17-4b2a-9d55-0c3f0d9b8a11.csv.gz"
OPTIONS = {"correlation_key_from_key": r"(?:^|/)(int_[0-9a-z_]+)(?:/|\.)"}
SCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"


def read(path=MANIFEST, options=OPTIONS, **kwargs):
    return read_with(S3InventoryReader, path, options, system="s3", object_type="document", **kwargs)


def test_manifest_rows_decode_keys_and_delete_markers():
    result = read()
    rows = result.rows
    assert [(r["source_record"], r["external_id"], r["state"], r["correlation_keys"]) for r in rows] == [
        (1, "receipts/int_refund_7001/receipt.pdf", "success", ["int_refund_7001"]),
        (2, "invoices/2025/March report (final).pdf", "success", []),
        (3, "contracts/été 2025/int_upload_7002.pdf", "success", ["int_upload_7002"]),
        (4, "receipts/int_upload_7003/receipt.pdf", "deleted", ["int_upload_7003"]),
        (5, "receipts/int_upload_7003/receipt.pdf", "success", ["int_upload_7003"]),
    ]
    assert all(r["source_file"] == DATA for r in rows)
    assert {(r["system"], r["object_type"]) for r in rows} == {("s3", "document")}
    assert rows[3]["raw_status"] == "delete_marker"
    assert rows[0]["updated_at"] == datetime(2025, 3, 5, 9, 12, 44, tzinfo=UTC)
    fields = json.loads(rows[0]["fields"])
    assert fields == {
        "Bucket": "receipts-bucket", "Key": "receipts/int_refund_7001/receipt.pdf",
        "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "IsLatest": True, "IsDeleteMarker": False,
        "Size": 48213, "LastModifiedDate": "2025-03-05T09:12:44+00:00",
        "ETag": "9b2cf535f27731c974343645a3985328", "StorageClass": "STANDARD",
    }  # fmt: skip
    assert "Size" not in json.loads(rows[3]["fields"])  # a delete marker has no size


def test_bad_rows_and_missing_data_files_are_quarantined():
    result = read()
    got = [(r["source_file"].rsplit("/", 1)[-1], r["source_record"], r["reason"]) for r in result.rejected]
    assert [(f, n) for f, n, _ in got] == [
        ("manifest.json", 2),  # files[1] is not on disk
        ("8f0ba6d2-4a17-4b2a-9d55-0c3f0d9b8a11.csv.gz", 6),
        ("8f0ba6d2-4a17-4b2a-9d55-0c3f0d9b8a11.csv.gz", 7),
    ]
    assert "missing-part.csv.gz" in got[0][2] and "not found" in got[0][2]
    assert "'Size'" in got[1][2]
    assert "expected 9 columns" in got[2][2]


def test_export_time_is_the_manifest_creation_timestamp():
    reader = read().reader
    assert reader.exported_at(VENDORS / MANIFEST) == datetime(2025, 3, 7, 0, 0, tzinfo=UTC)
    assert reader.field_drift() == ([], [])


def test_uri_external_ids_and_a_data_file_read_directly(tmp_path):
    data = tmp_path / "part-0.csv.gz"
    data.write_bytes(gzip.compress(b'"b1","a%2Bb%2Fc.txt","","","","5","2025-03-05T00:00:00.000Z","e","STANDARD"\n'))
    rows = read(data, {"external_id": "uri", "file_schema": SCHEMA}, root=tmp_path).rows
    assert [r["external_id"] for r in rows] == ["s3://b1/a+b/c.txt"]
    result = read(data, {}, root=tmp_path)
    assert result.table.num_rows == 0
    assert "file_schema" in result.rejected[0]["reason"] and result.rejected[0]["source_record"] == 0


def test_a_new_inventory_column_is_drift_and_kept(tmp_path):
    report = tmp_path / "bucket" / "cfg"
    shutil.copytree(VENDORS / REPORT, report)
    manifest = report / "2025-03-07T00-00Z" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["fileSchema"] = "Bucket, Key, ObjectTier, Size, LastModifiedDate"
    data = report / "data" / "8f0ba6d2-4a17-4b2a-9d55-0c3f0d9b8a11.csv.gz"
    data.write_bytes(gzip.compress(b"bkt,k1.pdf,HOT,10,2025-03-05T00:00:00Z\n"))
    doc["files"] = doc["files"][:1]
    manifest.write_text(json.dumps(doc))
    result = read(manifest, {}, root=tmp_path)
    assert json.loads(result.rows[0]["fields"])["ObjectTier"] == "HOT"
    assert result.reader.field_drift() == (["ObjectTier"], [])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"correlation_key_from_key": "int_[0-9]+"}, "exactly one group"),
        ({"correlation_key_from_key": "(int_"}, "invalid regular expression"),
        ({"external_id": "arn"}, "options.external_id"),
        ({"file_schema": "Size, ETag"}, "must include Bucket and Key"),
        ({"correlation_key": "(x)"}, "options.correlation_key: unknown option"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(ValueError) as info:
        S3InventoryReader.check_options(options)
    assert message in str(info.value)


@pytest.mark.parametrize(("key", "why"), [("data/receipts\x00.csv.gz", "embedded null byte"),
                                          ("data/" + "k" * 5000 + ".csv.gz", "File name too long")])  # fmt: skip
def test_a_manifest_key_that_cannot_be_a_path_is_quarantined_and_the_rest_read(tmp_path, key, why):
    report = tmp_path / "s3_inventory"
    shutil.copytree(VENDORS / "s3_inventory", report)
    manifest = report / "receipts-bucket" / "daily-receipts" / "2025-03-07T00-00Z" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["files"].insert(0, {"key": key, "size": 10, "MD5checksum": "0" * 32})
    manifest.write_text(json.dumps(doc))

    result = read(manifest, OPTIONS, root=tmp_path)

    assert len(result.rows) == 5  # the data file after it is read
    rejected = [r for r in result.rejected if r["source_file"].endswith("manifest.json")]
    assert [r["source_record"] for r in rejected] == [1, 3]  # 3: the fixture's data file that is not there
    assert rejected[0]["reason"].startswith(f"unusable data file key in the manifest ({why}): ")


@pytest.mark.parametrize("size", ["²", "١٢", "1_000", "+12"])
def test_a_size_that_is_not_ascii_digits_is_quarantined(tmp_path, size):
    # str.isdigit() takes "²", which int() then refuses: the whole read used to stop there.
    report = tmp_path / "bucket" / "cfg"
    shutil.copytree(VENDORS / REPORT, report)
    manifest = report / "2025-03-07T00-00Z" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["fileSchema"], doc["files"] = "Bucket, Key, Size, LastModifiedDate", doc["files"][:1]
    manifest.write_text(json.dumps(doc))
    data = report / "data" / "8f0ba6d2-4a17-4b2a-9d55-0c3f0d9b8a11.csv.gz"
    data.write_bytes(gzip.compress(f"bkt,a.pdf,{size},2025-03-05T00:00:00Z\nbkt,b.pdf,7,2025-03-05T00:00:00Z\n"
                                   .encode()))
    result = read(manifest, {}, root=tmp_path)
    assert [r["external_id"] for r in result.rows] == ["b.pdf"]
    assert [(r["source_record"], "'Size'" in r["reason"]) for r in result.rejected] == [(1, True)]
