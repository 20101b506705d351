"""The shared streaming readers: JSON documents read element by element, JSON Lines
sniffing, CSV records, and the helpers behind connector options."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import tempfile
import zlib
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors.files.json_text as json_text
from connectors.base import QuarantineSink
from connectors.files import is_json_lines, iter_csv_rows, iter_document_items
from connectors.generic import GenericReader
from connectors.otel import OtelReader
from connectors.runtime_options import ActionSpec, resolve_workflow
from connectors.temporal import TemporalReader
from connectors.values import BadRecord, dig, parse_epoch_nanos, parse_timestamp
from tests.connectors.readers import read_with

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def read_items(path: Path, list_key: str | None = None, chunk: int = json_text.READ_CHUNK):
    sink = QuarantineSink("t")
    with patch.object(json_text, "READ_CHUNK", chunk):
        items = list(iter_document_items(path, sink, "f", list_key))
    return items, sink.rows


@settings(max_examples=50, deadline=None)
@given(values=st.lists(JSON, max_size=8), chunk=st.integers(1, 64), gz=st.booleans(), indent=st.sampled_from([None, 2]))
def test_arrays_stream_to_the_same_values_as_json_loads(values, chunk, gz, indent):
    text = json.dumps(values, indent=indent, ensure_ascii=False).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("doc.json.gz" if gz else "doc.json")
        path.write_bytes(gzip.compress(text) if gz else text)
        items, rejected = read_items(path, chunk=chunk)
    assert rejected == []
    assert [value for _, value in items] == json.loads(text)
    assert [n for n, _ in items] == list(range(1, len(values) + 1))


@settings(max_examples=50, deadline=None)
@given(values=st.lists(JSON, max_size=6), before=st.dictionaries(st.sampled_from(["a", "b"]), JSON, max_size=2),
       chunk=st.integers(1, 32))  # fmt: skip
def test_the_array_under_a_key_streams_and_other_keys_are_skipped(values, before, chunk):
    text = json.dumps({**before, "events": values, "z": {"after": [1, 2]}}).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.json"
        path.write_bytes(text)
        items, rejected = read_items(path, "events", chunk)
        assert rejected == [] and [value for _, value in items] == values
        # without the key, the object is one record, as document_items gives it
        whole, rejected = read_items(path, "other", chunk)
        assert rejected == [] and whole == [(1, json.loads(text))]


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.dictionaries(st.text(max_size=4), JSON, max_size=3), min_size=1, max_size=6),
       cut=st.floats(0, 0.999), chunk=st.integers(1, 64))  # fmt: skip
def test_a_cut_document_keeps_the_whole_elements_before_the_cut(values, cut, chunk):
    text = json.dumps(values).encode()
    cut_at = int(len(text) * cut)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.json"
        path.write_bytes(text[:cut_at])
        items, rejected = read_items(path, chunk=chunk)
    kept = [value for _, value in items]
    assert kept == values[: len(kept)]
    # whole elements before the cut are all kept
    assert len(kept) >= sum(1 for i in range(len(values)) if len(json.dumps(values[: i + 1])) < cut_at)
    if cut_at == 0:
        assert rejected == []  # an empty file has no records
    else:
        assert len(rejected) == 1 and rejected[0]["source_record"] in (0, len(kept) + 1)


def test_invalid_utf8_rejects_the_element_that_holds_it():
    text = b'[{"a": "caf\xc3\xa9"}, {"b": "\xe2\x82\xac"}, {"c": "\xff"}, {"d": 4}]'
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.json"
        path.write_bytes(text)
        for chunk in (1, 3, 7, 1 << 20):
            items, rejected = read_items(path, chunk=chunk)
            assert items == [(1, {"a": "café"}), (2, {"b": "€"})]
            assert [(r["source_record"], r["reason"][:13]) for r in rejected] == [(3, "invalid UTF-8")]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('"scalar"', (0, "expected a JSON object or array, got str")),
        ("[1, 2] [3]", (0, "malformed JSON document: unexpected data")),
        ('{"events": [1, 2], }', (0, "malformed JSON document: Expecting value")),
        ("[1, 2,, 3]", (3, "malformed JSON document: Expecting value")),
    ],
)
def test_broken_documents(tmp_path, text, expected):
    path = tmp_path / "doc.json"
    path.write_text(text)
    _, rejected = read_items(path, "events")
    assert [(r["source_record"], r["reason"][: len(expected[1])]) for r in rejected] == [expected]


def test_a_value_larger_than_the_limit_is_rejected_without_buffering_the_file(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('[{"a": 1}, {"blob": "' + "x" * 5000 + '"}, {"c": 3}]')
    with patch.object(json_text, "MAX_VALUE_CHARS", 1000):
        items, rejected = read_items(path, chunk=256)
    assert items == [(1, {"a": 1})]
    assert rejected[0]["source_record"] == 2 and "larger than 1000" in rejected[0]["reason"]


def test_json_lines_are_told_from_documents(tmp_path):
    cases = {
        "lines.json": '{"a": 1}\n{"a": 2}\n',
        "broken-first.json": '{"a": \n{"a": 2}\n{"a": 3}\n',
        "unindented.json": '{"events": [\n{"a": 1},\n{"a": 2}\n]}\n',
        "pretty.json": '{\n  "a": [\n    {}\n  ]\n}\n',
        "one-line.json": '{"resourceSpans": []}\n',
        "array.json": '[\n{"a": 1},\n{"a": 2}\n]\n',
    }
    found = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        found[name] = is_json_lines(tmp_path / name)
    assert found == {"lines.json": True, "broken-first.json": True, "unindented.json": False,
                     "pretty.json": False, "one-line.json": False, "array.json": False}  # fmt: skip
    (tmp_path / "x.ndjson").write_text("")
    assert is_json_lines(tmp_path / "x.ndjson")


def test_csv_records_are_numbered_by_their_first_line(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b'a,b\n1,"two\nlines"\n\n3,"x"y\n4,\xff\n5,6\n'))
    sink = QuarantineSink("t")
    rows = list(iter_csv_rows(path, sink, "t"))
    assert rows == [(1, ["a", "b"]), (2, ["1", "two\nlines"]), (7, ["5", "6"])]
    assert [(r["source_record"], r["reason"][:13]) for r in sink.rows] == [(5, "malformed CSV"), (6, "invalid UTF-8")]


def test_value_helpers():
    assert dig({"a": [{"b": 1}, {"b": 2}]}, "a.1.b") == 2
    assert dig({"a": [1]}, "a.5") is None and dig([{"x": 3}], "0.x") == 3
    assert parse_epoch_nanos("1544712660000000001", "t").isoformat() == "2018-12-13T14:51:00+00:00"
    for bad in ("-1", "", 1.5, True, "12e3"):
        with pytest.raises(BadRecord):
            parse_epoch_nanos(bad, "t")
    assert parse_timestamp(1741255200000, "t", "epoch_ms").isoformat() == "2025-03-06T10:00:00+00:00"
    with pytest.raises(BadRecord):
        parse_timestamp("2025-03-06 10:00", "t")
    assert resolve_workflow({"workflows": {"a": "b"}}, "a") == "b"
    with pytest.raises(BadRecord):
        resolve_workflow({}, None)
    spec = ActionSpec(name="t", action="s3.document.upload", step="upload", idempotency_key="k", receipt="")
    assert spec.intent_fields({"k": "idem_1"}, "fallback")["intent_id"] == "idem_1"
    assert spec.intent_fields({}, "fallback")["intent_id"] == "fallback"
    assert spec.receipt_id("receipts/a.pdf") == "receipts/a.pdf" and spec.receipt_id({"x": 1}) is None


# --- a gzipped document cut short: what was read before the break is kept ------------


def _pad(n: int) -> str:
    """Text gzip cannot shrink much, so that half the compressed file is about half the text."""
    return hashlib.sha256(str(n).encode()).hexdigest() * 40


def _temporal(n: int) -> dict:
    if n == 1:
        return {"eventId": 1, "eventTime": "2025-03-06T10:00:00Z", "eventType": "WorkflowExecutionStarted",
                "workflowExecutionStartedEventAttributes": {"workflowType": {"name": "W"}}}  # fmt: skip
    return {"eventId": n, "eventTime": "2025-03-06T10:00:00Z", "eventType": "ActivityTaskScheduled",
            "activityTaskScheduledEventAttributes": {"activityId": str(n), "activityType": {"name": "IssueRefund"},
                                                     "summary": _pad(n)}}  # fmt: skip


def _resource_spans(n: int) -> dict:
    span = {"traceId": f"{n:032x}", "spanId": f"{n:016x}", "name": "invoke_agent",
            "startTimeUnixNano": str(1741255200 * 10**9), "endTimeUnixNano": str(1741255201 * 10**9),
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                           {"key": "note", "value": {"stringValue": _pad(n)}}]}  # fmt: skip
    return {"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "x"}, "spans": [span]}]}


CUT_DOCUMENTS = {
    "temporal": (TemporalReader, "events", _temporal, {"activities": {"IssueRefund": {"action": "stripe.refund.create"}}}),
    "otel": (OtelReader, "resourceSpans", _resource_spans, {"workflow": "refund_order"}),
    "generic": (GenericReader, "records", lambda n: {"id": f"r{n}", "note": _pad(n)},
                {"external_id": "id", "format": "json", "records_key": "records"}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CUT_DOCUMENTS))
def test_a_gzipped_document_cut_short_keeps_the_records_before_the_break(tmp_path, name):
    reader, key, element, options = CUT_DOCUMENTS[name]
    elements = [element(n) for n in range(1, 700)]
    text = json.dumps({key: elements}).encode()
    assert len(text) > json_text.READ_CHUNK  # more than one read of the stream
    packed = gzip.compress(text, mtime=0)
    path = tmp_path / f"{name}.json.gz"
    path.write_bytes(packed[: len(packed) // 2])
    readable = zlib.decompressobj(wbits=31).decompress(packed[: len(packed) // 2])
    # the elements whole in what the cut file still holds: element n ends at ends[n - 1]
    ends = list(itertools.accumulate((len(json.dumps(e)) + 2 for e in elements), initial=len(key) + 4))[1:]
    whole = sum(1 for end in ends if end - 2 <= len(readable))

    result = read_with(reader, path, options, root=tmp_path)

    assert whole > len(elements) // 3
    assert {row["source_record"] for row in result.rows} == set(range(1, whole + 1))
    assert [(r["source_file"], r["source_record"]) for r in result.rejected] == [(path.name, whole + 1)]
    assert result.rejected[0]["reason"].startswith("unreadable file: Compressed file ended")
