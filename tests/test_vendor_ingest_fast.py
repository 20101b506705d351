"""The vendor readers' fast ingest against their reference path: small documents parsed
whole by the C json module, against every document walked by the streaming checker.
Row by row the same rows, quarantine, field tally and export time."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors.files.documents as documents
from bench.connectors import contact, refund, ticket
from bench.generate import generate
from connectors import values
from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.hubspot import HubSpotReader
from connectors.schema import OBSERVED_SCHEMA
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.zendesk import ZendeskReader

TESTS = Path(__file__).resolve().parent
PUBLIC = TESTS / "fixtures" / "public"  # vendors' own samples (see its README)
READERS: dict[str, type[Reader]] = {"stripe": StripeReader, "sendgrid": SendGridReader, "hubspot": HubSpotReader,
                                    "zendesk": ZendeskReader}  # fmt: skip
PATHS = ["metadata.reckon_intent_id", "metadata.reckon_idempotency_key", "reckon_intent_id", "external_id", "tags",
         "properties.reckon_intent_id"]  # fmt: skip


@contextmanager
def reference() -> Iterator[None]:
    """The readers as they were: every document walked."""
    with patch.object(documents, "_load_whole", lambda path: None):
        yield


def read(cls: type[Reader], path: Path, fast: bool) -> tuple[list[dict], list[dict], dict, Any, Any]:
    options = SourceOptions(source="t", system="target", correlation_paths=PATHS, root=path.parent,
                            correlation_pattern=re.compile(r"(int|idem)_[0-9a-z_]+"), batch_rows=64)  # fmt: skip
    reader, sink = cls(options), QuarantineSink("t")
    with nullcontext() if fast else reference():
        exported = reader.exported_at(path)
        table = pa.Table.from_batches(list(reader.batches(path, sink)), schema=OBSERVED_SCHEMA)
    return table.to_pylist(), sink.rows, reader.fields_seen, reader.field_drift(), exported


def assert_same(cls: type[Reader], path: Path) -> tuple[list[dict], list[dict]]:
    """Both paths read `path` alike; returns the fast path's (rows, quarantine)."""
    want_rows, want_bad, want_seen, want_drift, want_exported = read(cls, path, fast=False)
    rows, bad, seen, drift, exported = read(cls, path, fast=True)
    assert len(rows) == len(want_rows), path.name
    for want, have in zip(want_rows, rows, strict=True):
        assert have == want, f"{path.name} record {want['source_record']}"
    assert bad == want_bad, path.name
    assert (seen, drift, exported) == (want_seen, want_drift, want_exported), path.name
    return rows, bad


# --- bench-like exports and vendor samples -------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "ws"
    generate(root, 400, days=2, seed=7, fault_share=0.5, page_objects=150, part_events=2_000)
    return root / "landing"


@pytest.mark.parametrize("name", sorted(READERS))
def test_generated_exports_read_the_same(workspace, name):
    paths = sorted((workspace / name).glob("*.json"))
    assert paths
    for path in paths:
        rows, _ = assert_same(READERS[name], path)
        assert rows


SAMPLES = [(READERS[name], path) for base in (TESTS / "fixtures" / "vendors", PUBLIC) for name in sorted(READERS)
           for path in sorted((base / name).glob("*.json"))]  # fmt: skip


@pytest.mark.parametrize(("cls", "path"), SAMPLES, ids=lambda value: getattr(value, "name", value))
def test_vendor_samples_read_the_same(cls, path):
    assert_same(cls, path)


# --- hostile records and damaged documents -------------------------------------------

NAN = float("nan")
STAMPS = ["2025-03-06T10:00:00Z", "2025-03-06T10:00:00.123456789+02:00", "2025-03-06 10:00z", "2025-02-30T10:00:00Z",
          "2025-03-06T10:00:00", "9999-12-31T23:59:59-05:00", "9999-12-31T00:00:00Z", 1741255200, None,
          ["x"]]  # fmt: skip


def hostile(n: int) -> dict[str, Any]:
    """Records of all four vendors, every tenth or so bad in its own way; the same bad
    timestamp text turns up under different fields (a reason names its field)."""
    stamp = STAMPS[n % len(STAMPS)]
    other = STAMPS[(n // 3) % len(STAMPS)]
    record: dict[str, Any] = {**refund(n), **contact(n), **ticket(n), "event": "delivered", "timestamp": 1741255200 + n,
                              "sg_event_id": f"ev{n // 2}", "sg_message_id": f"m{n % 9}.x", "email": f"u{n % 4}@e.com",
                              "reckon_intent_id": f"int_{n % 6}", "createdAt": stamp, "updatedAt": other,
                              "created_at": other, "updated_at": stamp}  # fmt: skip
    record["properties"]["reckon_intent_id"] = f"int_{n}"
    record["propertiesWithHistory"] = {"email": [{"value": "a", "timestamp": stamp, "sourceType": "CRM_UI",
                                                  "updatedByUserId": n}],
                                       "firstname": [{"value": "b", "timestamp": other, "sourceId": "x"}]}  # fmt: skip
    damage = [
        lambda r: r.pop("id"),
        lambda r: r.update(status="exploded", event="exploded"),
        lambda r: r.update(amount=NAN, metadata={"reckon_intent_id": f"int_{n}", "note": NAN}),
        lambda r: r.update(amount="12", archived="no"),
        lambda r: r.update(id=10**30, properties={"hs_merged_object_ids": f"{n + 1};{n + 2};{n + 1}", "é": "ü\u2028"}),
        lambda r: r.update(subject="line\nbreak \"quoted\" \\ \u0000 \ud83d\ude00", tags=["int_1", 5, True, None]),
        lambda r: r.update(custom_fields=[{"id": 1, "value": 2.5}, {"id": "b", "value": {"k": [1e300]}}]),
        lambda r: r.pop("sg_message_id"),
        lambda r: r.update(object="event", type="refund.updated", created=1741255200.5, data={"object": refund(n)}),
        lambda r: r.update(charge={"id": "ch_x", "object": "charge"}, via={"channel": ["web"]}),
        lambda r: r.update(created=32503680000, timestamp=32503680000),  # year 3000: after the export
    ]
    if n % 3 == 0:
        damage[(n // 3) % len(damage)](record)
    return record


def page(name: str, records: list[Any]) -> Any:
    """An export of `records` as the vendor lists them."""
    return {"stripe": {"object": "list", "data": records}, "hubspot": {"results": records},
            "zendesk": {"tickets": records, "end_time": 1741339800}, "sendgrid": records}[name]  # fmt: skip


def pages(n: int) -> dict[str, Any]:
    records = [hostile(i) for i in range(n)] + [None, 5, "x", [1]]
    return {name: page(name, records) for name in READERS}


@pytest.mark.parametrize("name", sorted(READERS))
def test_hostile_records_read_the_same(tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(pages(120)[name]))
    rows, bad = assert_same(READERS[name], path)
    assert rows and len(bad) > 5


def damaged(text: bytes) -> dict[str, bytes]:
    middle = len(text) // 2
    return {
        "bad JSON mid-page": text[:middle] + text[middle:].replace(b"}, {", b"} {", 1),  # a comma left out
        "truncated": text[:middle],
        "a BOM": b"\xef\xbb\xbf" + text,
        "bad UTF-8": text[:middle] + b"\xff" + text[middle:],
        "extra data": text + b" []",
        "a trailing comma": text[:-2] + b",]" + text[-1:],
        "an integer past the digit limit": text[:-1] + b', "n": ' + b"9" * 5000 + text[-1:],
        "empty": b"",
        "a scalar": b"42",
        "whitespace only": b" \n ",
    }


@pytest.mark.parametrize("name", sorted(READERS))
def test_damaged_documents_read_the_same(tmp_path, name):
    text = json.dumps(pages(30)[name]).encode()
    cases = damaged(text)
    cases["a cut gzip stream"] = gzip.compress(text)[:-30]
    cases["a whole gzip stream"] = gzip.compress(text)
    for case, data in cases.items():
        path = tmp_path / (f"{name}.json.gz" if "gzip" in case else f"{name}.json")
        path.write_bytes(data)
        _, bad = assert_same(READERS[name], path)
        if "whole" not in case:
            assert [r["source_record"] for r in bad] == [0], case


@pytest.mark.parametrize("name", ["stripe", "hubspot", "zendesk"])
def test_other_shapes_read_the_same(tmp_path, name):
    """Duplicate list keys (the last wins), a single wrapped object, a bare array, no list."""
    key = {"stripe": "data", "hubspot": "results", "zendesk": "tickets"}[name]
    one = json.dumps(hostile(1))
    shapes = [f'{{"{key}": [{one}], "x": 1, "{key}": [{one}, {one}]}}', f'{{"{key}": [{one}], "{key}": 5}}',
              f'{{"ticket": {one}}}', f"[{one}, {one}]", one, f'{{"{key}": []}}', "[]", "{}"]  # fmt: skip
    for number, text in enumerate(shapes):
        path = tmp_path / f"{name}-{number}.json"
        path.write_text(text)
        assert_same(READERS[name], path)


@pytest.mark.parametrize("name", sorted(READERS))
def test_documents_past_the_load_limit_are_walked_alike(tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(pages(40)[name]))
    with patch.object(documents, "HOLD_CHARS", 4_000):  # larger than this: checked, its records kept on disk
        assert documents._load_whole(path) is None
        assert_same(READERS[name], path)


def test_a_page_is_parsed_whole_when_small(tmp_path):
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"data": [refund(1)], "has_more": False}))
    value, size, escapes = documents._load_whole(path)
    assert value["data"][0]["id"] == "re_1" and size == path.stat().st_size and not escapes
    document = documents.JsonDocument.check(path, list_key="data")
    assert document.records == value["data"] and document.head == {"has_more": False}


def test_the_prebuilt_encoder_writes_what_json_dumps_writes():
    """`values.dumps` keeps one encoder; json.dumps with the same options is the reference."""
    cases = [{}, {"b": 1, "a": [1.5, None, True]}, {"s": "\ud800 é \u2028"},
             {"d": date(2026, 1, 2), "n": Decimal("1.10")}, "plain", 10**30]  # fmt: skip
    for value in cases:
        assert values.dumps(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                                 default=str), value  # fmt: skip
    assert values.dumps({"x": NAN, "y": [float("inf")]}) == '{"x":null,"y":[null]}'
    with pytest.raises(TypeError):
        values.dumps({1: "a", "b": 2})  # keys that cannot be sorted, as json.dumps


# --- any mix of fields ---------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True),
                    st.sampled_from([*STAMPS[:6], "succeeded", "pending", "open", "deleted", "bounce", "refund",
                                     "event", "int_1", "idem_2", "1;2", "re_1", ""]),
                    st.text(max_size=6))  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4),
                                                                                           inner, max_size=3),
                      max_leaves=6)  # fmt: skip
FIELDS = st.sampled_from(["id", "object", "status", "amount", "metadata", "created", "charge", "event", "timestamp",
                          "sg_event_id", "sg_message_id", "email", "category", "properties", "createdAt", "updatedAt",
                          "archived", "propertiesWithHistory", "created_at", "updated_at", "custom_fields", "via",
                          "tags", "external_id", "reckon_intent_id", "type", "data"])  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.builds(lambda base, extra: {**base, **extra}, st.sampled_from(
    [hostile(1), hostile(2), hostile(4)]), st.dictionaries(FIELDS, VALUES, max_size=4)), max_size=6))
def test_any_records_read_the_same(tmp_path, records):
    for name in READERS:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(page(name, records)))
        assert_same(READERS[name], path)
