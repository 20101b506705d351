"""The event log's native fast path against its Python reference (`python_batches`):
the same rows, quarantine entries and field tally on realistic and hostile files."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generate import generate
from connectors.base import QuarantineSink, SourceOptions
from connectors.event_log import EventLogReader
from connectors.schema import EVENT_SCHEMA


def read(path: Path, fast: bool, block_bytes: int | None = None) -> tuple[pa.Table, list[dict], dict, EventLogReader]:
    reader = EventLogReader(SourceOptions(source="log", correlation_pattern=re.compile(".+"), root=path.parent))
    reader.native_min_bytes = 0  # the native path even for small files
    if block_bytes is not None:
        reader.block_bytes = block_bytes
    sink = QuarantineSink("log")
    batches = (reader.batches if fast else reader.python_batches)(path, sink)
    table = pa.Table.from_batches(list(batches), schema=EVENT_SCHEMA)
    return table, sink.rows, reader.fields_seen, reader


def assert_same(path: Path, block_bytes: int | None = None) -> EventLogReader:
    """Both paths read `path` alike, row by row; returns the fast path's reader."""
    ref_rows, ref_bad, ref_fields, ref = read(path, fast=False)
    rows, bad, fields, reader = read(path, fast=True, block_bytes=block_bytes)
    assert rows.schema == EVENT_SCHEMA
    expected, got = ref_rows.to_pylist(), rows.to_pylist()
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        assert have == want, f"line {want['source_record']}"
    assert bad == ref_bad
    assert fields == ref_fields
    assert reader.field_drift() == ref.field_drift()
    return reader


GOOD = {"event_id": "ev_1", "ts": "2026-11-20T10:00:00+02:00", "type": "intent.declared", "run_id": "run_1",
        "workflow": "refund_order", "intent_id": "int_1", "step": "issue_refund", "action": "stripe.refund.create",
        "system": "stripe", "expected": {"currency": "usd", "amount": 4200, "charge": "ch_1"},
        "target": {"object_type": "charge", "key": "ch_1"}, "idempotency_key": "idem_1"}  # fmt: skip
SUCCEEDED = {"event_id": "ev_2", "ts": "2026-11-20T10:00:05.123456789Z", "type": "action.succeeded",
             "run_id": "run_1", "workflow": "refund_order", "intent_id": "int_1", "attempt": 2,
             "receipt": {"status": "succeeded", "external_id": "re_1"}}  # fmt: skip
FAILED = {"event_id": "ev_3", "ts": "2026-11-20 10:00:06-0530", "type": "action.failed", "run_id": "run_1",
          "workflow": "refund_order", "intent_id": 42, "error": {"kind": "timeout", "message": "no response"}}  # fmt: skip


def line(record: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**record, **changes})


# Every kind of line the fast path must either read exactly or hand to Python.
HOSTILE = [
    line(GOOD),
    json.dumps(GOOD, separators=(",", ":"), sort_keys=True),
    json.dumps(GOOD, indent=None, ensure_ascii=False) + "   ",
    line(SUCCEEDED),
    line(FAILED),
    "{not json",
    '{"event_id": "ev_x", "ts": "2026-11-20T10:00:00Z",',  # cut short
    "",
    "   \t ",
    "[1, 2, 3]",
    "null",
    '"a string"',
    "{}",
    line(GOOD, ts="2026-11-20T10:00:00"),  # no offset
    line(GOOD, ts="2026-02-29T10:00:00Z"),  # no such day
    line(GOOD, ts="2024-02-29t10:00Z"),
    line(GOOD, ts="2026-11-20T24:00:00Z"),
    line(GOOD, ts="2026-11-20T10:00:00+24:00"),
    line(GOOD, ts="0002-01-01T00:00:00-01:00"),
    line(GOOD, ts="9999-12-30T10:00:00Z"),
    line(GOOD, ts="\uff12\uff10\uff12\uff16-11-20T10:00:00Z"),  # full-width digits
    line(GOOD, ts=1795168800),
    line(GOOD, event_id=17),
    line(GOOD, event_id=""),
    line(GOOD, run_id=None),
    line(GOOD, type="action.exploded"),
    line(GOOD, type="run.completed", intent_id=None, status="completed"),
    line(GOOD, step=""),
    line(GOOD, step=7),
    line(GOOD, step=7.5),
    line(GOOD, actor=True),
    line(GOOD, description="refund \"order\" 8812 in full, José ✓ \u2028 \\ done"),
    line(GOOD, expected="not an object"),
    line(GOOD, expected={}),
    line(GOOD, expected={"b": 1, "a": {"nested": [1, 2]}}),
    line(GOOD, expected={"amount": 42.0}),
    line(GOOD, expected={"amount": 10**30}),
    line(GOOD, expected={"amount": -0, "ok": True, "none": None, "text": "a\"b"}),
    line(GOOD, expected={"é": "ü", "\u001f": "\u000b", "z": "ctrl\u001b"}),
    line(GOOD, target="ch_1"),
    line(GOOD, target={"object_type": 5, "key": True}),
    line(GOOD, target={"object_type": "charge", "key": None, "more": [1]}),
    line(SUCCEEDED, receipt={}),
    line(SUCCEEDED, receipt=["re_1"]),
    line(SUCCEEDED, receipt={"external_id": 123456789012345678901234567890}),
    line(SUCCEEDED, attempt=0),
    line(SUCCEEDED, attempt=2**31),
    line(SUCCEEDED, attempt=2**31 - 1),
    line(SUCCEEDED, attempt="1"),
    line(SUCCEEDED, attempt=1.0),
    line(SUCCEEDED, attempt=True),
    line(SUCCEEDED, attempt=10**30),
    line(SUCCEEDED, error="boom"),
    line(FAILED, error={"kind": None, "message": {"deep": 1}}),
    line(GOOD, trace_id="abc", action_id="act_1"),  # unknown fields
    line(GOOD, zz_flag=False, aa_count=3, mm_none=None),
    line(GOOD, extra_obj={"x": 1}),
    line(GOOD, **{"we\"ird": 1}),
    line(GOOD, tricky="has \\ backslash"),
    '{"event_id": "ev_dup", "event_id": "ev_dup2", "ts": "2026-11-20T10:00:00Z", "type": "run.started",'
    ' "run_id": "r", "workflow": "w"}',
    '{"event_id": "ev_dx", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",'
    ' "x": 1, "y": 2, "x": 3}',
    '{"event_id": "ev_t", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",}',
    '{"event_id": "ev_n", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",'
    ' "x": NaN}',
    '{"event_id": "ev_i", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",'
    ' "x": nan}',
    '{"event_id": "ev_d", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",'
    ' "target": {"key": "a", "key": "b"}}',
    '{"event_id": "ev_z", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",'
    ' "description": "nul \\u0000 inside"}',
    '{"event_id": "ev_big", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w",'
    ' "x": ' + "9" * 5000 + "}",
    '\ufeff{"event_id": "ev_bom", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "r", "workflow": "w"}',
]


def hostile_bytes() -> bytes:
    text = "\n".join(HOSTILE).encode() + b"\n"
    bad_utf8 = b'{"event_id": "\xff\xfe", "ts": "2026-11-20T10:00:00Z"}\n'
    surrogate = b'{"event_id": "\xed\xa0\x80"}\n'
    return text + bad_utf8 + text + surrogate + line(GOOD, event_id="ev_last").encode()  # no final newline


@pytest.mark.parametrize("block_bytes", [None, 64, 1000])
def test_hostile_lines_read_the_same(tmp_path, block_bytes):
    path = tmp_path / "log.jsonl"
    path.write_bytes(hostile_bytes())
    reader = assert_same(path, block_bytes)
    table, bad, _, _ = read(path, fast=False)
    assert table.num_rows > 40 and len(bad) > 40  # both kinds are there to compare
    assert reader.native_rows > 10  # and the native path read the plain lines itself


def test_carriage_returns_and_gzip_read_the_same(tmp_path):
    data = hostile_bytes().replace(b"\n", b"\r\n")
    plain = tmp_path / "crlf.jsonl"
    plain.write_bytes(data)
    assert_same(plain, 2048)
    packed = tmp_path / "log.jsonl.gz"
    packed.write_bytes(gzip.compress(hostile_bytes() * 20))
    assert_same(packed, 65536)


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.999])
def test_a_gzip_that_ends_early_keeps_the_same_lines(tmp_path, cut):
    data = gzip.compress(("\n".join(line(GOOD, event_id=f"ev_{i}") for i in range(3000)) + "\n").encode())
    path = tmp_path / "log.jsonl.gz"
    path.write_bytes(data[: int(len(data) * cut)])
    assert_same(path, 65536)
    table, bad, _, _ = read(path, fast=True, block_bytes=65536)
    assert 0 < table.num_rows < 3000
    assert bad[-1]["source_record"] == table.num_rows + 1 and "unreadable" in bad[-1]["reason"]


def test_a_line_longer_than_a_block(tmp_path):
    path = tmp_path / "log.jsonl"
    long = line(GOOD, description="x" * 50_000)
    path.write_text("\n".join([line(GOOD), long, line(GOOD, event_id="ev_9")]) + "\n")
    reader = assert_same(path, 1024)
    assert reader.native_rows == 3


@pytest.fixture(scope="module")
def generated_logs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("generated") / "ws"
    generate(root, 3_000, days=2, seed=11, fault_share=0.4, part_events=4_000)
    return sorted((root / "landing" / "events").glob("*.jsonl"))


@pytest.mark.parametrize("block_bytes", [None, 100_000])
def test_generated_workspace_logs_read_the_same(generated_logs, block_bytes):
    assert len(generated_logs) > 2
    native = python = 0
    for path in generated_logs:
        reader = assert_same(path, block_bytes)
        native += reader.native_rows
        python += reader.python_lines
    assert native > 10_000 and python < native / 100  # realistic lines are read natively


def test_generated_log_with_hostile_lines_spliced_in(generated_logs, tmp_path):
    lines = generated_logs[0].read_bytes().split(b"\n")
    hostile = hostile_bytes().split(b"\n")
    mixed = []
    for i, text in enumerate(lines):
        mixed.append(text)
        if i % 97 == 0:
            mixed.append(hostile[i % len(hostile)])
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(mixed))
    assert_same(path, 50_000)
    gz = tmp_path / "mixed.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert_same(gz)


# --- property: any mix of plausible, perturbed and broken lines reads the same ----------

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.integers(-(10**25), 10**25),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
)  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)  # fmt: skip
TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"),
    st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.5+01:00", "2026-11-20T10:00"]),
)  # fmt: skip
FIELD_VALUES = {
    "ts": TIMESTAMPS,
    "type": st.sampled_from(["run.started", "intent.declared", "action.succeeded", "action.failed", "run.done"]),
    "attempt": st.one_of(st.integers(-2, 2**31 + 1), SCALARS),
    "expected": st.dictionaries(st.text(max_size=4), SCALARS, max_size=4) | VALUES,
    "receipt": st.dictionaries(st.sampled_from(["external_id", "status", "Z"]), SCALARS, max_size=3) | VALUES,
    "target": st.dictionaries(st.sampled_from(["object_type", "key", "k"]), SCALARS, max_size=3) | VALUES,
    "error": st.dictionaries(st.sampled_from(["kind", "message"]), SCALARS, max_size=2) | VALUES,
}


@st.composite
def event_lines(draw) -> bytes:
    record: dict[str, Any] = dict(draw(st.sampled_from([GOOD, SUCCEEDED, FAILED])))
    for key in draw(st.lists(st.sampled_from([*FIELD_VALUES, "event_id", "intent_id", "step", "extra_x", "é"]),
                             max_size=3)):  # fmt: skip
        record[key] = draw(FIELD_VALUES.get(key, SCALARS | VALUES))
    for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=2)):
        record.pop(key, None)
    style = draw(st.sampled_from(["plain", "compact", "sorted", "ascii", "raw"]))
    if style == "raw":
        return draw(st.binary(max_size=30))
    text = json.dumps(record, separators=(",", ":") if style == "compact" else None, sort_keys=style == "sorted",
                      ensure_ascii=style == "ascii")  # fmt: skip
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(event_lines(), min_size=1, max_size=25), block_bytes=st.sampled_from([None, 300, 65536]),
       gz=st.booleans(), newline_at_end=st.booleans())  # fmt: skip
def test_any_mix_of_lines_reads_the_same(lines, block_bytes, gz, newline_at_end):
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("log.jsonl.gz" if gz else "log.jsonl")
        path.write_bytes(gzip.compress(data) if gz else data)
        assert_same(path, block_bytes)


def test_a_block_duckdb_refuses_is_read_in_python(tmp_path):
    """Whatever the native query cannot take (here: a query that always fails) costs
    speed, never results: the block goes through the Python path whole."""
    from connectors.event_log import EVENT_TYPES, INTENT_EVENTS
    from connectors.event_log_fast import NativeEventLog

    path = tmp_path / "log.jsonl"
    path.write_bytes(hostile_bytes())
    ref_rows, ref_bad, ref_fields, _ = read(path, fast=False)
    reader = EventLogReader(SourceOptions(source="log", correlation_pattern=re.compile(".+"), root=path.parent))
    native = NativeEventLog(EVENT_TYPES, INTENT_EVENTS, 4096)
    native.query = "SELECT error('refused')"
    sink = QuarantineSink("log")
    latest = reader.latest_plausible(path)
    batches = native.batches(path, sink, "log.jsonl", lambda n, raw: reader.raw_line_row("log.jsonl", n, raw, sink, latest),
                             lambda names: reader.note_fields("log.jsonl", names), latest)  # fmt: skip
    table = pa.Table.from_batches(list(batches), schema=EVENT_SCHEMA)
    native.close()
    assert table.to_pylist() == ref_rows.to_pylist() and sink.rows == ref_bad and reader.fields_seen == ref_fields
    assert native.native_rows == 0 and native.python_lines > 100


@pytest.mark.parametrize("attempt", ["1.0", "1.5", "100000.0", "2.7e3", "-1", "0", "2147483648"])
def test_an_attempt_that_is_not_a_whole_number_is_quarantined_on_both_paths(tmp_path, attempt):
    line = ('{"event_id": "ev_1", "ts": "2026-11-20T10:00:00Z", "type": "action.attempted", "run_id": "run_1", '
            f'"workflow": "w", "intent_id": "int_1", "attempt": {attempt}}}')
    path = tmp_path / "log.jsonl"
    path.write_text((line + "\n") * 3)
    reader = assert_same(path, block_bytes=1 << 10)
    assert reader.native_rows == 0


# --- a differential fuzz over many generated lines ---------------------------------

MUTATION_VALUES = [None, True, False, 0, 1, 2, -1, 1.0, 1.5, 2.7e3, 100000.0, 10**18, 10**19, "", "x", "ä", "\u2028", "\\u00e9",
          "a\"b", "a\\b", "\ud83d\ude00", [], {}, [1], {"a": 1}, {"a": {"b": 1}}, "2026-11-20T10:00:00Z",
          "2026-11-20 10:00:00+01:00", "2026-11-20T10:00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]  # fmt: skip
FIELDS = ["event_id", "ts", "type", "run_id", "workflow", "intent_id", "step", "action", "system",
          "idempotency_key", "target", "expected", "attempt", "receipt", "error", "status", "actor", "description",
          "extra_field"]  # fmt: skip
BASES = [GOOD, SUCCEEDED, FAILED,
         {"event_id": "ev_9", "ts": "2026-11-20T11:00:00Z", "type": "run.completed", "run_id": "run_1",
          "workflow": "refund_order", "status": "completed"},
         {"event_id": "ev_8", "ts": "2026-11-20T11:00:00Z", "type": "action.blocked", "run_id": "run_1",
          "workflow": "refund_order", "intent_id": "int_1", "attempt": 3, "error": {"kind": "idempotency_conflict"}}]


def mutated_line(rng) -> bytes:
    """One event-log line: a valid event, changed in one to three ways (a field dropped,
    retyped, added; the text cut, spaced, escaped, duplicated key; bad bytes)."""
    record = dict(rng.choice(BASES))
    for _ in range(rng.randint(0, 3)):
        move = rng.random()
        field = rng.choice(FIELDS)
        if move < 0.3:
            record.pop(field, None)
        elif move < 0.8:
            record[field] = rng.choice(MUTATION_VALUES)
        elif move < 0.9 and record:
            key = rng.choice(list(record))
            record[key] = {"nested": record[key]}
        else:
            record[f"k{rng.randint(0, 9)}"] = rng.choice(MUTATION_VALUES)
    text = json.dumps(record, ensure_ascii=rng.random() < 0.5, separators=(",", ":") if rng.random() < 0.5 else None)
    roll = rng.random()
    if roll < 0.03:
        text = text[: rng.randint(0, len(text))]
    elif roll < 0.05:
        text = text[:-1] + ',"event_id":"dup"}'
    elif roll < 0.06:
        text = " " + text + " "
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.01:
        data = data[:5] + b"\xff" + data[5:]
    return data


def test_both_paths_read_a_hundred_thousand_mutated_lines_alike(tmp_path):
    import random

    rng = random.Random(20261205)
    path = tmp_path / "fuzz.jsonl"
    with path.open("wb") as out:
        for _ in range(100_000):
            out.write(mutated_line(rng) + b"\n")
    reader = assert_same(path, block_bytes=1 << 20)
    assert reader.native_rows > 10_000  # the fast path really read most valid lines itself


@pytest.mark.parametrize("ts", ["2099-01-01T00:00:00Z", "9998-12-31T23:59:59+01:00"])
def test_an_event_dated_after_its_export_is_quarantined_on_both_paths(tmp_path, ts):
    # Dated after the file was exported (its mtime, plus a day of skew), an event would win
    # "latest" over every later one forever: both paths quarantine it, as the vendors' readers do.
    good = json.dumps(GOOD)
    future = json.dumps({**SUCCEEDED, "ts": ts})
    path = tmp_path / "log.jsonl"
    path.write_text((good + "\n" + future + "\n") * 2000)  # past native_min_bytes either way
    reader = assert_same(path, block_bytes=1 << 16)
    rows, bad, _, _ = read(path, fast=True)
    assert rows.num_rows == 2000 and len(bad) == 2000
    assert bad[0]["reason"].startswith("field 'ts' is in the future") and reader.native_rows == 2000
