"""SendGrid's native fast path against its reference (`python_batches`): the same rows (in
the same order), quarantine entries and dropped repeats on realistic, hostile and fuzzed
Event Webhook JSON Lines."""

from __future__ import annotations

import gzip
import json
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.connectors import sendgrid_event
from connectors.base import QuarantineSink, SourceOptions
from connectors.schema import OBSERVED_SCHEMA
from connectors.sendgrid import SendGridReader

TESTS = Path(__file__).resolve().parent
PATHS = ["reckon_intent_id", "unique_args.intent", "marker"]


def read(path: Path, fast: bool, block_bytes: int | None = None, paths: list[str] = PATHS):
    options = SourceOptions(source="sg", system="sendgrid", correlation_paths=paths, root=path.parent,
                            correlation_pattern=re.compile(r"(int|idem)_[0-9a-z_]+"))  # fmt: skip
    reader = SendGridReader(options)
    reader.native_min_bytes = 0  # the native path even for small files
    if block_bytes is not None:
        reader.block_bytes = block_bytes
    sink = QuarantineSink("sg")
    batches = (reader.batches if fast else reader.python_batches)(path, sink)
    return pa.Table.from_batches(list(batches), schema=OBSERVED_SCHEMA), sink.rows, reader


def assert_same(path: Path, block_bytes: int | None = None, paths: list[str] = PATHS) -> SendGridReader:
    """Both paths read `path` alike, row by row; returns the fast path's reader."""
    want, want_bad, ref = read(path, fast=False, paths=paths)
    got, bad, reader = read(path, fast=True, block_bytes=block_bytes, paths=paths)
    expected, rows = want.to_pylist(), got.to_pylist()
    assert len(rows) == len(expected)
    for have, should in zip(rows, expected, strict=True):
        assert have == should, f"line {should['source_record']}"
    assert bad == want_bad
    assert reader.repeats_dropped == ref.repeats_dropped
    return reader


EVENT = {"email": "ana@example.com", "timestamp": 1741266600, "event": "delivered", "sg_event_id": "ev_1",
         "sg_message_id": "Xq3mR7vLT2eK9bW1cN5dPw.filter0123p1las1-14620-67C9A1E8-12.0",
         "category": ["refund_notice", "transactional"], "reckon_intent_id": "int_7f3a9c2e01",
         "response": "250 2.0.0 OK", "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>"}  # fmt: skip
BOUNCE = {"email": "raj@example.org", "timestamp": 1741266700, "event": "bounce", "sg_event_id": "ev_2",
          "sg_message_id": "Lp8sT2wQR0aH4fZ6yJ1kVg.filter0001", "reason": "550 5.1.1 no such user",
          "status": "5.1.1", "type": "bounce", "category": "welcome", "reckon_intent_id": "int_2"}  # fmt: skip


def line(record: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**record, **changes})


HOSTILE = [
    line(EVENT),
    line(EVENT),  # a webhook retry: dropped on both paths
    json.dumps(EVENT, separators=(",", ":"), sort_keys=True),  # the same event, other spacing: dropped too
    line(BOUNCE),
    line(BOUNCE, event="Processed"),
    line(BOUNCE, event="DELIVERED", category=[]),
    line(BOUNCE, event="délivré"),
    line(BOUNCE, event="machine_opened"),
    line(BOUNCE, event=""),
    line(BOUNCE, event=7),
    line(BOUNCE, timestamp=1741266700123),  # milliseconds
    line(BOUNCE, timestamp=7999999999999),
    line(BOUNCE, timestamp=99999999999),
    line(BOUNCE, timestamp=1741266700.5),
    line(BOUNCE, timestamp="1741266700"),
    line(BOUNCE, timestamp=-5),
    line(BOUNCE, timestamp=True),
    line(BOUNCE, timestamp=4102444800),  # after the export: quarantined
    line(BOUNCE, timestamp=10**30),
    line(BOUNCE, sg_message_id=".filter0001"),
    line(BOUNCE, sg_message_id=""),
    line(BOUNCE, sg_message_id=12345),
    line(BOUNCE, sg_message_id=["a"]),
    line(BOUNCE, sg_event_id={"x": 1}),
    line(BOUNCE, sg_event_id=17),
    line(BOUNCE, email=False),
    line(BOUNCE, email=None, reason=None),
    line(BOUNCE, category=[None, "a"]),
    line(BOUNCE, category=[1, True, "x"]),
    line(BOUNCE, category=[["nested"]]),
    line(BOUNCE, category={"a": 1}),
    line(BOUNCE, reckon_intent_id=42),
    line(BOUNCE, reckon_intent_id="not a marker"),
    line(BOUNCE, reckon_intent_id=["int_3", "int_4"]),
    line(BOUNCE, marker="int_2", unique_args={"intent": "int_5"}),
    line(BOUNCE, unique_args="int_6", marker=True),
    line(BOUNCE, response='quote " and \\ backslash'),
    line(BOUNCE, response="José ✓ \u2028"),
    line(BOUNCE, **{"a b": 1, "a": 2, "é": 3, "Z": 4, "!": 5}),  # key order
    line(BOUNCE, big=10**18, bigger=10**19, neg=-0, f=1.0, e=2.5e-3),
    line(BOUNCE, pool={"name": "transactional", "id": 210}),  # a flat object: read natively, keys sorted
    line(BOUNCE, pool={"z": 1, "a": "x", "m": None, "é": False}, status={"b": 1, "a": 2}),
    line(BOUNCE, pool={}, category={"b": 1, "a": 2}, reason={"y": None}),
    line(BOUNCE, pool={"a": [1]}, status={"x": {"deep": 1}}),
    '{"event": "open", "timestamp": 1741266700, "sg_message_id": "M7.f", "pool": {"b": 1, "b": 2}}',
    '{"event": "open", "event": "click", "timestamp": 1741266700, "sg_message_id": "M1.f"}',
    '{"event": "open", "timestamp": 1741266700, "sg_message_id": "M2.f",}',
    '{"event": "open", "timestamp": 1741266700, "sg_message_id": "M3.f", "x": NaN}',
    '{"event": "open", "timestamp": 1741266700, "sg_message_id": "M4.f", "x": "nul \\u0000"}',
    '{"event": "open", "timestamp": 1741266700, "sg_message_id": "M5.f", "x": "\\ud800"}',
    "{not json",
    "",
    "   ",
    "[1, 2]",
    "null",
    "{}",
    '\ufeff{"event": "open", "timestamp": 1741266700, "sg_message_id": "M6.f"}',
]


def hostile_bytes() -> bytes:
    text = "\n".join(HOSTILE).encode() + b"\n"
    return text + b'{"event": "open", "email": "\xff"}\n' + text.replace(b"ev_", b"ev2_") + line(BOUNCE).encode()


@pytest.mark.parametrize("block_bytes", [None, 64, 1500])
def test_hostile_lines_read_the_same(tmp_path, block_bytes):
    path = tmp_path / "events.jsonl"
    path.write_bytes(hostile_bytes())
    reader = assert_same(path, block_bytes)
    rows, bad, ref = read(path, fast=False)
    assert rows.num_rows > 20 and len(bad) > 20 and ref.repeats_dropped > 5  # each kind is compared
    assert reader.native_rows > 10 and reader.python_lines > 20  # and both paths did read lines


def test_gzip_and_carriage_returns_read_the_same(tmp_path):
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(hostile_bytes() * 5))
    assert_same(packed, 4096)
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(hostile_bytes().replace(b"\n", b"\r\n"))
    assert_same(crlf, 2048)


def test_a_gzip_that_ends_early_keeps_the_same_lines(tmp_path):
    data = gzip.compress(("\n".join(line(EVENT, sg_event_id=f"ev_{i}") for i in range(3000)) + "\n").encode())
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_same(path, 8192)
    rows, bad, _ = read(path, fast=True, block_bytes=8192)
    assert 0 < rows.num_rows < 3000 and "unreadable" in bad[-1]["reason"]


@pytest.mark.parametrize("block_bytes", [None, 700])
def test_events_without_a_message_id_take_it_from_the_file(tmp_path, block_bytes):
    # An async bounce names no message: the one message of its email and intent, before
    # or after it, is its message; two such messages, or none, quarantine it.
    lines = [line(EVENT, sg_event_id=f"ev_{i}", email=f"u{i % 7}@example.com", reckon_intent_id=f"int_{i % 5}")
             for i in range(40)]  # fmt: skip
    bounce = {k: v for k, v in BOUNCE.items() if k != "sg_message_id"}
    lines[10:10] = [line(bounce, email="u3@example.com", reckon_intent_id="int_3")] * 2
    lines[25:25] = [line(bounce, email="nobody@example.com")]
    lines.append(line(bounce, email="u1@example.com", reckon_intent_id="int_1", sg_event_id="late"))
    lines.append(line(EVENT, sg_event_id="after", email="u1@example.com", reckon_intent_id="int_1", event="Open"))
    lines.insert(5, "{bad")
    lines.insert(30, lines[0])  # a repeat of the first event, after the id-less ones
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    reader = assert_same(path, block_bytes)
    _, bad, ref = read(path, fast=False)
    assert any("share the event's email" in r["reason"] for r in bad)
    assert ref.repeats_dropped == 2  # the bounce and the first event
    assert reader.native_rows >= 5


def test_bench_events_are_read_natively(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(sendgrid_event(n) + "\n" for n in range(3000)))
    reader = assert_same(path, 100_000, paths=["reckon_intent_id", "metadata.reckon_intent_id"])
    assert reader.native_rows == 3000 and reader.python_lines == 0


def test_the_vendor_sample_reads_the_same(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_bytes((TESTS / "fixtures" / "vendors" / "sendgrid" / "batch.jsonl").read_bytes())
    assert_same(path)


def test_paths_the_native_query_cannot_say_leave_the_file_to_the_reference(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(hostile_bytes())
    reader = assert_same(path, paths=["category.0", 'we"ird'])
    assert reader.native_rows == 0


def test_a_block_duckdb_refuses_is_read_by_the_reference(tmp_path, monkeypatch):
    import connectors.sendgrid_fast as fast

    monkeypatch.setattr(fast, "_query", lambda states, paths: "SELECT error('refused')")
    path = tmp_path / "events.jsonl"
    path.write_bytes(hostile_bytes())
    reader = assert_same(path, 4096)
    assert reader.native_rows == 0 and reader.python_lines > 50


# --- property: any mix of plausible, perturbed and broken lines reads the same ----------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.integers(-(10**20), 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                    st.sampled_from(["int_1", "int_2", "idem_x", "M1.f", ".x", "Open", "BOUNCE"]))  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=5)  # fmt: skip
FIELD_VALUES = {
    "event": st.sampled_from(["delivered", "Processed", "open", "bounce", "dropped", "nope", "", "DÉLIVRÉ"]) | SCALARS,
    "timestamp": st.integers(-10, 10**13) | st.sampled_from([1741266600, 1741266600123, 10**11, 10**11 - 1]) | SCALARS,
    "sg_message_id": st.sampled_from(["M1.a", "M2.b", "M1", ".z", ""]) | SCALARS,
    "email": st.sampled_from(["a@x.org", "b@x.org"]) | SCALARS,
    "category": st.lists(SCALARS, max_size=3) | SCALARS | VALUES,
    "reckon_intent_id": st.sampled_from(["int_1", "int_2", "zzz"]) | SCALARS | VALUES,
    "unique_args": st.dictionaries(st.sampled_from(["intent", "x"]), SCALARS, max_size=2) | VALUES,
}


@st.composite
def event_lines(draw) -> bytes:
    record: dict[str, Any] = dict(draw(st.sampled_from([EVENT, BOUNCE])))
    for key in draw(st.lists(st.sampled_from([*FIELD_VALUES, "reason", "status", "marker", "é", "a b"]), max_size=3)):
        record[key] = draw(FIELD_VALUES.get(key, SCALARS | VALUES))
    for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=2)):
        record.pop(key, None)
    style = draw(st.sampled_from(["plain", "compact", "sorted", "ascii", "raw", "repeat"]))
    if style == "raw":
        return draw(st.binary(max_size=30))
    text = json.dumps(record, separators=(",", ":") if style == "compact" else None, sort_keys=style == "sorted",
                      ensure_ascii=style == "ascii")  # fmt: skip
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(event_lines(), min_size=1, max_size=25), repeats=st.lists(st.integers(0, 24), max_size=4),
       block_bytes=st.sampled_from([None, 300, 65536]), gz=st.booleans(), newline_at_end=st.booleans())  # fmt: skip
def test_any_mix_of_lines_reads_the_same(lines, repeats, block_bytes, gz, newline_at_end):
    for at in repeats:  # webhook retries: a line again, later
        lines.append(lines[at % len(lines)])
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("events.jsonl.gz" if gz else "events.jsonl")
        path.write_bytes(gzip.compress(data) if gz else data)
        assert_same(path, block_bytes)


MUTATIONS = [None, True, False, 0, 1, -1, 1.0, 1.5, 10**18, 10**19, "", "x", "ä", "\u2028", "a\"b", "a\\b",
             "\ud83d\ude00", [], {}, [1], ["int_9"], {"a": 1}, "int_9", "Delivered", "M9.x", 1741266600,
             1741266600123]  # fmt: skip


def mutated_line(rng: random.Random) -> bytes:
    """A realistic event changed in up to three ways: a field dropped, retyped or added
    (its message id stays: from the first event without one, the reference reads the file)."""
    record = dict(rng.choice([EVENT, BOUNCE]))
    for _ in range(rng.randint(0, 3)):
        field = rng.choice([*sorted(FIELD_VALUES.keys() - {"sg_message_id"}), "sg_event_id", "reason", "response", "k1"])
        if rng.random() < 0.3:
            record.pop(field, None)
        else:
            record[field] = rng.choice(MUTATIONS)
    record["sg_event_id"] = f"ev_{rng.randint(0, 3000)}"  # some events come twice
    text = json.dumps(record, ensure_ascii=rng.random() < 0.5, separators=(",", ":") if rng.random() < 0.5 else None)
    return text.encode("utf-8", "surrogatepass")


def test_both_paths_read_thirty_thousand_mutated_lines_alike(tmp_path):
    rng = random.Random(20261205)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(mutated_line(rng) for _ in range(30_000)) + b"\n")
    reader = assert_same(path, 1 << 20)
    assert reader.native_rows > 10_000 and reader.python_lines > 3_000


def test_a_reader_stopped_after_its_first_batch_closes_cleanly(tmp_path):
    # The snapshot may stop reading (a failure downstream): no block may still be parsing
    # when the reader closes its database.
    path = tmp_path / "events.jsonl"
    path.write_text("".join(sendgrid_event(n) + "\n" for n in range(20_000)))
    reader = SendGridReader(SourceOptions(source="sg", correlation_paths=PATHS, root=tmp_path))
    reader.native_min_bytes, reader.block_bytes = 0, 200_000
    batches = reader.batches(path, QuarantineSink("sg"))
    assert next(batches).num_rows > 0
    batches.close()
    assert 0 < reader.native_rows < 20_000
