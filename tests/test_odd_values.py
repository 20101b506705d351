"""Values Python reads but cannot keep: timestamps that leave datetime's range once moved
to UTC, numbers too large for a time, and JSON strings with a lone surrogate escape
("\\ud800": valid JSON to Python, not Unicode, so not storable in Arrow). Each is one
quarantined record with a reason; the rest of the file is read."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.event_log import EventLogReader
from connectors.generic import GenericReader
from connectors.hubspot import HubSpotReader
from connectors.otel import OtelReader
from connectors.postmark import PostmarkReader
from connectors.s3_inventory import S3InventoryReader
from connectors.schema import EVENT_SCHEMA
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.temporal import TemporalReader
from connectors.values import (
    BadRecord,
    lone_surrogate,
    parse_epoch_nanos,
    parse_epoch_seconds,
    parse_nested_json,
    parse_rfc3339,
    parse_timestamp,
)
from connectors.zendesk import ZendeskReader
from reckon.engine import ingest
from reckon.workspace import Workspace
from simulator import simulate
from tests.connectors.readers import read_with
from tests.connectors.test_hostile import (
    GENERIC_OPTIONS,
    OTEL,
    TEMPORAL,
    contact,
    event,
    generic_record,
    postmark_event,
    refund,
    sendgrid_event,
    span_line,
    temporal_event,
    ticket,
)

LONE = "\ud800"  # json.dumps writes it as the escape a producer's bug leaves in a file
YEAR_1_EAST = "0001-01-01T00:00:00+01:00"  # 0000-12-31T23:00Z: before datetime.min
YEAR_9999_WEST = "9999-12-31T23:59:59-01:00"  # 10000-01-01T00:59Z: after datetime.max


# --- values.py --------------------------------------------------------------------


def as_format(fmt: str) -> Callable[[Any, str], datetime]:
    return lambda value, key: parse_timestamp(value, key, fmt)


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        pytest.param(parse_rfc3339, YEAR_1_EAST, id="rfc3339-year-1-east"),
        pytest.param(parse_rfc3339, YEAR_9999_WEST, id="rfc3339-year-9999-west"),
        pytest.param(parse_rfc3339, "9999-12-31 23:30-0030", id="rfc3339-half-hour-west"),
        pytest.param(as_format("utc"), YEAR_1_EAST, id="utc-year-1-east"),
        pytest.param(as_format("epoch_ms"), 10**400, id="epoch-ms-too-large-to-divide"),
        pytest.param(as_format("epoch_ms"), -(10**400), id="epoch-ms-too-small-to-divide"),
        pytest.param(as_format("epoch_ms"), "1e400", id="epoch-ms-text-infinite"),
        pytest.param(as_format("epoch_s"), 10**400, id="epoch-s-too-large"),
        pytest.param(as_format("rfc3339"), datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
                     id="datetime-year-1-east"),
        pytest.param(as_format("rfc3339"), datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2))),
                     id="datetime-year-9999-west"),
        pytest.param(parse_epoch_seconds, -(10**20), id="epoch-s-before-year-1"),
        pytest.param(parse_epoch_seconds, float("nan"), id="epoch-s-nan"),
        pytest.param(parse_epoch_nanos, "9" * 5000, id="nanos-more-digits-than-int-takes"),
        pytest.param(parse_epoch_nanos, "\u00b2", id="nanos-superscript-digit"),  # a digit to isdigit(), not int()
    ],
)  # fmt: skip
def test_values_out_of_range_are_bad_records(parse: Callable[[Any, str], datetime], value: Any) -> None:
    with pytest.raises(BadRecord, match="'ts'"):
        parse(value, "ts")


def test_values_at_the_edges_of_the_range_still_read() -> None:
    assert parse_rfc3339("0001-01-01T01:00:00+01:00", "ts") == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_rfc3339("9999-12-31T22:59:59-01:00", "ts") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_timestamp(1741255200123, "ts", "epoch_ms") == datetime(2025, 3, 6, 10, 0, 0, 123000, tzinfo=UTC)
    assert parse_epoch_nanos("1741255200000000000", "ts") == datetime(2025, 3, 6, 10, tzinfo=UTC)


def test_lone_surrogate_names_the_path() -> None:
    assert lone_surrogate({"a": [1, {"b": f"x{LONE}y"}]}) == "a.1.b"
    assert lone_surrogate({f"key{LONE}": 1}) == f"key{LONE}"
    assert lone_surrogate(LONE) == ""
    # A surrogate pair is one character once decoded: valid.
    assert lone_surrogate(json.loads('{"ok": "\\ud83d\\ude00", "also": "caf\\u00e9"}')) is None
    assert lone_surrogate(json.loads("[" * 900 + '"\\udfff"' + "]" * 900)) == ".".join(["0"] * 900)
    with pytest.raises(ValueError, match="lone surrogate in field 'a'"):
        parse_nested_json('{"a": "\\ud800"}')


# --- readers ------------------------------------------------------------------------


def write(path: Path, records: list[Any], list_key: str | None = None) -> Path:
    """JSON Lines for a .jsonl path, else one document (the records under `list_key`)."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    else:
        path.write_text(json.dumps({list_key: records} if list_key else records), encoding="utf-8")
    return path


def read_event_log(path: Path, fast: bool) -> tuple[pa.Table, list[dict[str, Any]], dict[str, set[str]]]:
    reader = EventLogReader(SourceOptions(source="log", root=path.parent))
    reader.native_min_bytes = 0  # the native path even for a small file
    sink = QuarantineSink("log")
    batches = list((reader.batches if fast else reader.python_batches)(path, sink))
    sink.table()  # the quarantine itself must be storable
    return pa.Table.from_batches(batches, schema=EVENT_SCHEMA), sink.rows, reader.fields_seen


EVENT_LINES = [
    event(1, {}),
    event(2, {}, ts=YEAR_1_EAST),
    event(3, {}, ts=YEAR_9999_WEST),
    event(4, {}, run_id=f"run{LONE}"),
    event(5, {}, description="low \udc00 alone"),
    event(6, {}, type=f"run.{LONE}"),  # its reason would otherwise quote it
    event(7, {f"x_{LONE}": 1}),  # an unknown field's name
    event(8, {}, target={"key": LONE}),
    event(9, {}, description="a pair is fine: \U0001f600"),
]
EVENT_REASONS = {
    2: "field 'ts' is out of range in UTC: 0001-01-01T00:00:00+01:00",
    3: "field 'ts' is out of range in UTC: 9999-12-31T23:59:59-01:00",
    4: "invalid unicode: lone surrogate in field 'run_id'",
    5: "invalid unicode: lone surrogate in field 'description'",
    6: "invalid unicode: lone surrogate in field 'type'",
    7: "invalid unicode: lone surrogate in field 'x_\\ud800'",
    8: "invalid unicode: lone surrogate in field 'target.key'",
}


@pytest.mark.parametrize("fast", [False, True], ids=["python", "native"])
def test_event_log_quarantines_odd_values_and_reads_on(tmp_path: Path, fast: bool) -> None:
    path = write(tmp_path / "log.jsonl", EVENT_LINES)
    table, rejected, fields = read_event_log(path, fast)
    assert table.column("source_record").to_pylist() == [1, 9]
    assert {r["source_record"]: r["reason"] for r in rejected} == EVENT_REASONS
    assert "\\ud800" in rejected[2]["excerpt"]  # the line as written, escape and all
    assert all(LONE not in name for name in fields[path.name])


def test_event_log_paths_agree_on_odd_values(tmp_path: Path) -> None:
    """The native path hands such lines to Python (yyjson refuses a lone surrogate), so
    both give the same rows, quarantine and field tally, natively read lines among them."""
    path = write(tmp_path / "log.jsonl", [event(100 + n, {}) for n in range(50)] + EVENT_LINES)
    python, native = read_event_log(path, fast=False), read_event_log(path, fast=True)
    assert python[0].to_pylist() == native[0].to_pylist()
    assert python[1:] == native[1:]


def reasons(result: Any) -> dict[int, str]:
    return {r["source_record"]: r["reason"] for r in result.rejected}


def kept(result: Any) -> set[int]:
    return set(result.table.column("source_record").to_pylist())


@pytest.mark.parametrize(
    ("reader", "name", "list_key", "options", "records", "bad"),
    [
        (GenericReader, "g.jsonl", None, GENERIC_OPTIONS,
         [generic_record(1, {}), generic_record(2, {}, ts=YEAR_1_EAST), generic_record(3, {"note": ["ok", LONE]}),
          generic_record(4, {})],
         {2: "field 'ts' is out of range in UTC", 3: "lone surrogate in field 'note.1'"}),
        (PostmarkReader, "p.jsonl", None, None,
         [postmark_event(1, {}), postmark_event(2, {}, DeliveredAt=YEAR_1_EAST),
          postmark_event(3, {}, Metadata={"reckon_intent_id": f"int_{LONE}"}), postmark_event(4, {})],
         {2: "field 'DeliveredAt' is out of range in UTC", 3: "lone surrogate in field 'Metadata.reckon_intent_id'"}),
        (StripeReader, "s.json", "data", None,
         [refund(1, {}), refund(2, {}, created=10**400), refund(3, {}, reason=LONE), refund(4, {})],
         {2: "field 'created' is not a Unix timestamp", 3: "lone surrogate in field 'reason'"}),
        (SendGridReader, "sg.json", None, None,
         [sendgrid_event(1, {}), sendgrid_event(2, {}, timestamp=10**400),
          sendgrid_event(3, {}, email=f"{LONE}@example.com"), sendgrid_event(4, {})],
         {2: "field 'timestamp' is not a Unix timestamp", 3: "lone surrogate in field 'email'"}),
        (HubSpotReader, "h.json", "results", None,
         [contact(1, {}), contact(2, {}, updatedAt=YEAR_9999_WEST),
          contact(3, {}, properties={"email": f"{LONE}@example.com"}), contact(4, {})],
         {2: "field 'updatedAt' is out of range in UTC", 3: "lone surrogate in field 'properties.email'"}),
        (ZendeskReader, "z.json", "tickets", None,
         [ticket(1, {}), ticket(2, {}, created_at=YEAR_1_EAST), ticket(3, {}, subject=LONE), ticket(4, {})],
         {2: "field 'created_at' is out of range in UTC", 3: "lone surrogate in field 'subject'"}),
        (TemporalReader, "t.json", "events", TEMPORAL.options,
         [temporal_event(1, {}, "WorkflowExecutionStarted"), temporal_event(2, {}, eventTime=YEAR_9999_WEST),
          temporal_event(3, {}, activityTaskScheduledEventAttributes={"activityId": LONE}), temporal_event(4, {})],
         {2: "field 'eventTime' is out of range in UTC",
          3: "lone surrogate in field 'activityTaskScheduledEventAttributes.activityId'"}),
        (OtelReader, "o.jsonl", None, OTEL.options,
         [span_line(1, {}), span_line(2, {}, startTimeUnixNano="9" * 5000), span_line(3, {}, name=LONE),
          span_line(4, {})],
         {2: "field 'startTimeUnixNano' is not Unix nanoseconds", 3: "lone surrogate in field 'name'"}),
    ],
    ids=["generic", "postmark", "stripe", "sendgrid", "hubspot", "zendesk", "temporal", "otel"],
)  # fmt: skip
def test_readers_quarantine_odd_values_and_read_on(
    tmp_path: Path, reader: type[Reader], name: str, list_key: str | None, options: dict | None,
    records: list[Any], bad: dict[int, str],
) -> None:  # fmt: skip
    result = read_with(reader, write(tmp_path / name, records, list_key), options, root=tmp_path)
    got = reasons(result)
    assert set(got) == set(bad), got
    for number, reason in bad.items():
        assert reason in got[number]
    assert kept(result) == set(range(1, len(records) + 1)) - set(bad)


def nested_json_rows(tmp_path: Path, reader: type[Reader], text: bytes) -> list[dict[str, Any]]:
    """The rows of a file whose one tool call carries `text` as its JSON arguments."""
    if reader is TemporalReader:
        payload = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                   "data": base64.b64encode(text).decode()}  # fmt: skip
        scheduled = temporal_event(2, {}, activityTaskScheduledEventAttributes={
            "activityId": "2", "activityType": {"name": "IssueRefund"}, "input": {"payloads": [payload]}})  # fmt: skip
        path = write(tmp_path / "t.json", [temporal_event(1, {}, "WorkflowExecutionStarted"), scheduled], "events")
        options = {"activities": {"IssueRefund": {"action": "stripe.refund.create", "intent_id": "intent_id"}}}
    else:
        line = span_line(1, {})
        line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][2]["value"]["stringValue"] = text.decode()
        path, options = write(tmp_path / "o.jsonl", [line]), OTEL.options
    result = read_with(reader, path, options, root=tmp_path)
    assert not result.rejected
    return result.rows


@pytest.mark.parametrize("reader", [TemporalReader, OtelReader], ids=["temporal", "otel"])
def test_nested_json_with_a_lone_surrogate_reads_as_malformed_json(tmp_path: Path, reader: type[Reader]) -> None:
    """Tool arguments (a Temporal payload, an OTel attribute) are JSON inside a record's
    strings: holding a lone surrogate they read as malformed ones do, and the event is kept."""
    assert nested_json_rows(tmp_path, reader, b'{"intent_id": "int_1"}')[-1]["intent_id"] == "int_1"
    lone = nested_json_rows(tmp_path, reader, b'{"intent_id": "int_\\ud800"}')
    assert lone == nested_json_rows(tmp_path, reader, b'{"intent_id": "int_1"')


def test_otel_resource_attribute_with_a_lone_surrogate(tmp_path: Path) -> None:
    line = span_line(1, {})
    line["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] = f"agent{LONE}"
    result = read_with(OtelReader, write(tmp_path / "o.jsonl", [line, span_line(2, {})]), OTEL.options, root=tmp_path)
    assert reasons(result) == {1: "resourceSpans[0]: invalid unicode: lone surrogate in field 'service.name'"}
    assert kept(result) == {2}


def test_generic_parquet_times_beyond_datetime_are_bad_rows(tmp_path: Path) -> None:
    """Parquet timestamps reach past Python's datetime (years 1-9999): that row is bad,
    the rows around it are read."""
    micros = [1741255200 * 10**6, -62135600400 * 10**6, 1741255200 * 10**6, 10**18]
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"id": ["r1", "r2", "r3", "r4"], "status": ["ok"] * 4, "intent": ["int_1"] * 4,
                             "ts": pa.array(micros, pa.timestamp("us", tz="-01:00"))}), path)  # fmt: skip
    result = read_with(GenericReader, path, GENERIC_OPTIONS, root=tmp_path)
    assert kept(result) == {1, 3}
    assert reasons(result) == {n: "a value out of Python's range (years 1-9999): date value out of range" for n in (2, 4)}


def test_exports_dated_at_the_end_of_time_do_not_break_reading(tmp_path: Path) -> None:
    """An export time on datetime's last day leaves no room for the day of clock skew."""
    page = {"tickets": [ticket(1, {})], "end_time": 253402300799, "next_page": None}  # 9999-12-31T23:59:59Z
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    result = read_with(ZendeskReader, path, root=tmp_path)
    assert kept(result) == {1} and not result.rejected

    manifest = {"sourceBucket": "docs", "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
                "creationTimestamp": "9" * 400, "files": [{"key": "inv/data/part.csv"}]}  # fmt: skip
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "part.csv").write_text('"docs","a.pdf","1"\n', encoding="utf-8")
    (tmp_path / "meta").mkdir()
    path = tmp_path / "meta" / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert S3InventoryReader(SourceOptions(source="s3", root=tmp_path)).exported_at(path) is None
    manifest["fileSchema"] = f"Bucket, Key, Size{LONE}"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    result = read_with(S3InventoryReader, path, root=tmp_path)
    assert reasons(result) == {0: "unusable manifest: invalid unicode: lone surrogate in field 'fileSchema'"}


# --- a snapshot --------------------------------------------------------------------------


def test_snapshot_ingest_quarantines_odd_lines(tmp_path: Path) -> None:
    sim = simulate(tmp_path / "ws", runs=3, seed=7)
    ws = Workspace.open(sim.workspace)
    log = sorted((ws.landing / "events").glob("*.jsonl"))[0]
    lines = log.read_text(encoding="utf-8").splitlines()
    added = [json.dumps(record) for record in EVENT_LINES]
    log.write_text("\n".join([*lines, *added]) + "\n", encoding="utf-8")
    snap = ingest(ws, "workflow_log")
    assert snap is not None
    before = len(lines)  # the simulated log's own lines (it has bad ones of its own)
    quarantine = pq.ParquetFile(snap.folder / "quarantine.parquet").read().to_pylist()
    odd = {q["source_record"] - before: q["reason"] for q in quarantine
           if q["source_file"].endswith(log.name) and q["source_record"] > before}  # fmt: skip
    assert odd == EVENT_REASONS
    rows = pq.ParquetFile(snap.data_file).read().to_pylist()
    assert {r["source_record"] - before for r in rows if r["source_file"].endswith(log.name)} >= {1, 9}
