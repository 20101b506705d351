"""SendGrid batches that are one JSON array (what the Event Webhook POSTs) through the native
fast path, against its reference (`python_batches`): the same rows, quarantine entries and
dropped repeats on hostile, broken and fuzzed arrays, elements numbered by position."""

from __future__ import annotations

import gzip
import json
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.connectors import sendgrid_event
from connectors.base import QuarantineSink, SourceOptions
from connectors.files.array_blocks import NotAPlainArray, array_blocks
from connectors.files.line_blocks import is_utf8
from connectors.sendgrid import SendGridReader
from tests.test_sendgrid_fast import (
    BOUNCE,
    EVENT,
    FIELD_VALUES,
    HOSTILE,
    SCALARS,
    VALUES,
    assert_same,
    mutated_line,
    read,
)

BENCH_PATHS = ["reckon_intent_id", "metadata.reckon_intent_id"]


def array_of(elements: list[bytes], separator: bytes = b",") -> bytes:
    return b"[" + separator.join(elements) + b"]"


def valid_hostile() -> list[bytes]:
    """The hostile lines that are JSON values (objects or not), and strings that look like
    the array's own syntax."""
    values = []
    for text in HOSTILE:
        try:
            json.loads(text)
        except ValueError:
            continue
        values.append(text.encode("utf-8"))
    tricky = [json.dumps({**BOUNCE, "reason": text, "sg_event_id": f"t{i}"}, ensure_ascii=i % 2 == 0)
              for i, text in enumerate(['a"]}', "{[,", "\\", '\\"', "x\\\\", "],[", '"}, {"', "\u2028é"])]  # fmt: skip
    nested = [
        json.dumps({**EVENT, "sg_event_id": "n1", "pool": {"a": [1, {"b": "]}"}]}}),
        '[{"a": 1}, [2]]',
        '"]"',
    ]
    return values + [text.encode() for text in tricky + nested]


@pytest.mark.parametrize("block_bytes", [None, 300, 1500])
@pytest.mark.parametrize("separator", [b",", b", \n  ", b"\r\n,\t"])
def test_hostile_elements_read_the_same(tmp_path, block_bytes, separator):
    path = tmp_path / "batch-0001.json"
    elements = valid_hostile()
    path.write_bytes(b" \n" + array_of(elements + elements, separator) + b"\n")
    reader = assert_same(path, block_bytes)
    rows, bad, ref = read(path, fast=False)
    # Each kind is compared, both paths read elements, numbered by position.
    assert rows.num_rows > 20 and len(bad) > 20 and ref.repeats_dropped > 20
    assert reader.native_rows > 10 and reader.python_lines > 20
    assert {r["source_record"] for r in bad} <= set(range(1, 2 * len(elements) + 1))


BROKEN = {
    "truncated": lambda doc: doc[: len(doc) // 2],
    "no closing bracket": lambda doc: doc[:-1],
    "trailing data": lambda doc: doc + b" {}",
    "a second array": lambda doc: doc + b"[]",
    "a byte order mark": lambda doc: b"\xef\xbb\xbf" + doc,
    "invalid UTF-8": lambda doc: doc.replace(b"refund_notice", b"refund_\xffnotice", 1),
    "a trailing comma": lambda doc: doc[:-1] + b",]",
    "two commas": lambda doc: doc.replace(b"},{", b"},,{", 1),
    "a missing comma": lambda doc: doc.replace(b"},{", b"} {", 1),
    "a bad element": lambda doc: doc.replace(b'"event"', b"event", 1),
    "a closing brace": lambda doc: doc[:-1] + b"}",
    "an object": lambda doc: b'{"events": ' + doc + b"}",
    "JSON Lines": lambda doc: b"\n".join(sendgrid_event(n).encode() for n in range(50)),
    "an empty array": lambda doc: b" [ \n ] ",
    "nothing": lambda doc: b"",
    "a big integer": lambda doc: doc.replace(
        b'"timestamp":', b'"big": ' + b"9" * 5000 + b', "timestamp":', 1
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_document_that_is_not_a_plain_array_reads_the_same(tmp_path, case):
    doc = array_of([sendgrid_event(n).replace(" ", "").encode() for n in range(200)])
    path = tmp_path / "batch.json"
    path.write_bytes(BROKEN[case](doc))
    reader = assert_same(path, 4096, paths=BENCH_PATHS)
    rows, bad, _ = read(path, fast=False, paths=BENCH_PATHS)
    if rows.num_rows == 0 and bad:
        assert reader.native_rows == 0  # a broken document: the reference read it, and kept nothing


def test_events_without_a_message_id_leave_the_array_to_the_reference(tmp_path):
    bounce = {k: v for k, v in BOUNCE.items() if k != "sg_message_id"}
    elements = [json.dumps({**EVENT, "sg_event_id": f"e{i}"}) for i in range(30)]
    elements[20:20] = [
        json.dumps(
            {**bounce, "email": EVENT["email"], "reckon_intent_id": EVENT["reckon_intent_id"]}
        )
    ]
    path = tmp_path / "batch.json"
    path.write_bytes(array_of([e.encode() for e in elements]))
    reader = assert_same(path, 2000)
    assert reader.native_rows == 0


def test_an_array_batch_takes_the_native_path(tmp_path):
    # Above native_min_bytes, with the reader's own defaults, as the snapshot reads it.
    events = [sendgrid_event(n).encode() for n in range(6000)]
    path = tmp_path / "batch-0001.json"
    path.write_bytes(array_of(events, b",\n"))
    reader = SendGridReader(SourceOptions(source="sg", correlation_paths=BENCH_PATHS, root=tmp_path,
                                          correlation_pattern=re.compile(r"(int|idem)_[0-9a-z_]+")))  # fmt: skip
    assert path.stat().st_size > reader.native_min_bytes
    sink = QuarantineSink("sg")
    rows = sum(batch.num_rows for batch in reader.batches(path, sink))
    assert rows == 6000 and not sink.rows
    assert reader.native_rows == 6000 and reader.python_lines == 0
    assert_same(path, 100_000, paths=BENCH_PATHS)


def test_a_pretty_printed_array_across_small_blocks_is_read_natively(tmp_path):
    events = [json.dumps(json.loads(sendgrid_event(n)), indent=2).encode() for n in range(300)]
    path = tmp_path / "batch.json"
    path.write_bytes(array_of(events, b",\n"))
    reader = assert_same(path, 1000, paths=BENCH_PATHS)
    assert reader.native_rows == 300


def test_an_array_larger_than_the_native_limit_is_read_by_the_reference(tmp_path):
    path = tmp_path / "batch.json"
    path.write_bytes(array_of([sendgrid_event(n).encode() for n in range(500)]))
    options = SourceOptions(source="sg", correlation_paths=BENCH_PATHS, root=tmp_path)
    reader = SendGridReader(options)
    reader.native_min_bytes, reader.native_max_array_bytes = 0, path.stat().st_size - 1
    assert sum(batch.num_rows for batch in reader.batches(path, QuarantineSink("sg"))) == 500
    assert reader.native_rows == 0


def test_the_cut_parts_elements_where_json_does(tmp_path):
    elements = [
        {"a": 'x,]}\\"{['},
        [1, {"b": "]"}],
        "\\",
        "\U0001f600 \u2028",
        0,
        {"c": {"d": []}},
        None,
    ]
    for ascii_only in (True, False):
        texts = [json.dumps(e, ensure_ascii=ascii_only).encode() for e in elements]
        path = tmp_path / "a.json"
        path.write_bytes(array_of(texts, b" ,\n "))
        for size in (8, 64, 4096):
            cut = [b.raw(i) for b, _ in array_blocks(path, size) for i in range(len(b.lines))]
            assert [json.loads(t) for t in cut] == elements
    path.write_bytes(b'[{"a": "' + b"\\" * 100 + b'"}]')
    with pytest.raises(NotAPlainArray):
        list(array_blocks(path, 4096))


# --- property: any array of plausible, perturbed and odd elements reads the same --------

NASTY = st.sampled_from(['a"]}', "{[,", "\\", '\\"', "x\\\\", "\ud800", "\udc00x", "\U0001f600", "é", "\u2028",
                         ",", "]", "}", '"', "\\u0041", "\x1f"])  # fmt: skip
STRINGS = NASTY | st.text(max_size=6)
ODD = st.recursive(SCALARS | STRINGS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STRINGS, inner, max_size=2),
                   max_leaves=6)  # fmt: skip
SEPARATORS = st.sampled_from([",", ", ", " ,\n  ", ",\r\n", "\t,", "\n,\n"])


@st.composite
def element(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        value: Any = draw(ODD)  # not an object, or an object of anything
    else:
        value = dict(draw(st.sampled_from([EVENT, BOUNCE])))
        value["sg_event_id"] = draw(st.sampled_from(["e1", "e2", "e3", "e4"]))
        for key in draw(
            st.lists(
                st.sampled_from([*FIELD_VALUES, "reason", "response", "pool", "é"]), max_size=3
            )
        ):
            value[key] = draw(FIELD_VALUES.get(key, STRINGS | VALUES | ODD))
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, None, 1])),
                      separators=draw(st.sampled_from([None, (",", ":")])), sort_keys=draw(st.booleans()))  # fmt: skip
    return text.encode("utf-8", "surrogatepass")


@st.composite
def array_document(draw) -> bytes:
    elements = draw(st.lists(element(), max_size=20))
    for at in draw(
        st.lists(st.integers(0, 19), max_size=4)
    ):  # webhook retries: an element again, later
        if elements:
            elements.append(elements[at % len(elements)])
    parts = [draw(st.sampled_from(["", " ", "\n"])).encode() + e for e in elements]
    doc = (
        b"["
        + b"".join(p + draw(SEPARATORS).encode() for p in parts[:-1])
        + (parts[-1] if parts else b"")
        + b"]"
    )
    doc += draw(st.sampled_from([b"", b"\n", b" \r\n"]))
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "insert", "drop"]))
    if damage != "none" and doc:
        at = draw(st.integers(0, len(doc) - 1))
        if damage == "truncate":
            doc = doc[:at]
        elif damage == "insert":
            doc = (
                doc[:at]
                + draw(st.sampled_from([b",", b"]", b"}", b"{", b"[", b'"', b"\\", b" ", b"x"]))
                + doc[at:]
            )
        else:
            doc = doc[:at] + doc[at + 1 :]
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=array_document(), block_bytes=st.sampled_from([None, 200, 4096]))
def test_any_array_reads_the_same(doc, block_bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "batch-0001.json"
        path.write_bytes(doc)
        assert_same(path, block_bytes)


def test_both_paths_read_twenty_thousand_mutated_elements_alike(tmp_path):
    # Larger than the reference's whole-document hold (HOLD_CHARS): it streams this one.
    rng = random.Random(20261206)
    elements = [mutated_line(rng) for _ in range(20_000)]
    path = tmp_path / "batch.json"
    path.write_bytes(
        array_of([e for e in elements if is_utf8(e)], b",\n")
    )  # bad UTF-8 breaks the whole document
    reader = assert_same(path, 1 << 20)
    assert reader.native_rows > 5_000 and reader.python_lines > 2_000


def test_a_gzipped_array_is_read_by_the_reference(tmp_path):
    path = tmp_path / "batch.json.gz"
    path.write_bytes(gzip.compress(array_of([sendgrid_event(n).encode() for n in range(500)])))
    reader = assert_same(path, 4096, paths=BENCH_PATHS)
    assert reader.native_rows == 0


def test_a_reader_stopped_after_its_first_array_batch_closes_cleanly(tmp_path):
    path = tmp_path / "batch.json"
    path.write_bytes(array_of([sendgrid_event(n).encode() for n in range(20_000)]))
    reader = SendGridReader(
        SourceOptions(source="sg", correlation_paths=BENCH_PATHS, root=tmp_path)
    )
    reader.native_min_bytes, reader.block_bytes = 0, 200_000
    batches = reader.batches(path, QuarantineSink("sg"))
    assert next(batches).num_rows > 0
    batches.close()
    assert reader.native_rows == 20_000  # the array was read whole before its first batch
