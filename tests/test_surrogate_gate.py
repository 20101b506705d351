"""The lone-surrogate check runs only on text that escapes a surrogate (`\\uD800` to
`\\uDFFF`, either case): readers that skip it elsewhere give exactly what they give when
every record is checked. Records hold surrogates lone and paired, escaped in upper and
lower case, split across the walker's reads, and look-alikes (an escaped backslash)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors.event_log as event_log
import connectors.files.documents as documents
import connectors.files.json_text as json_text
import connectors.files.lines as lines
from bench.connectors import contact, refund, ticket
from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.event_log import EventLogReader
from connectors.hubspot import HubSpotReader
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.values import surrogate_escape
from connectors.zendesk import ZendeskReader

PATHS = [
    "metadata.reckon_intent_id",
    "reckon_intent_id",
    "external_id",
    "tags",
    "properties.reckon_intent_id",
]
# Where the gate is asked; the reference answers yes everywhere, so every record is checked.
GATES = (documents, json_text, lines, event_log)


@contextmanager
def every_record_checked() -> Iterator[None]:
    with ExitStack() as stack:
        for module in GATES:
            stack.enter_context(patch.object(module, "surrogate_escape", lambda text: True))
        yield


def read(cls: type[Reader], path: Path) -> tuple[list[dict], list[dict], dict, Any]:
    reader = cls(SourceOptions(source="t", system="s", correlation_paths=PATHS, root=path.parent,
                               correlation_pattern=re.compile(r"int_.+"), batch_rows=16))  # fmt: skip
    if isinstance(reader, EventLogReader):
        reader.native_min_bytes = 0  # the native path hands such lines to Python
    sink = QuarantineSink("t")
    reader.exported_at(path)
    table = pa.Table.from_batches(list(reader.batches(path, sink)), schema=reader.schema)
    return table.to_pylist(), sink.rows, reader.fields_seen, reader.field_drift()


def assert_same(cls: type[Reader], path: Path) -> list[dict]:
    """The gated reader reads `path` as the one that checks every record; its quarantine."""
    with every_record_checked():
        want = read(cls, path)
    have = read(cls, path)
    assert have == want, path.name
    return have[1]


# Text that is, or looks like, a surrogate escape once json.dumps writes it.
PIECES = ["\ud800", "\udfff", "\udbff", "\ud83d\ude00", "\U0001f600", "\\ud800", "\\\ud800", "é", "\ud7ff", "\ue000",
          "x", '"', "int_1"]  # fmt: skip
TEXT = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
KEYS = st.sampled_from(["subject", "email", "status", "id", "reckon_intent_id", "description", "metadata",
                        "properties", "tags", "event", "workflow", "note"])  # fmt: skip
VALUES = st.recursive(TEXT | st.integers(0, 9), lambda inner: st.lists(inner, max_size=2)
                      | st.dictionaries(TEXT, inner, max_size=2), max_leaves=4)  # fmt: skip
EVENT = {"event_id": "ev_1", "ts": "2025-03-06T10:00:00Z", "type": "run.started", "run_id": "run_1",
         "workflow": "refund_order"}  # fmt: skip
SENDGRID = {"email": "u@e.com", "timestamp": 1741255200, "event": "delivered", "sg_message_id": "m1.x",
            "reckon_intent_id": "int_1"}  # fmt: skip
BASES = {"stripe": refund, "hubspot": contact, "zendesk": ticket, "sendgrid": lambda n: {**SENDGRID, "n": n},
         "event_log": lambda n: {**EVENT, "event_id": f"ev_{n}"}}  # fmt: skip
READERS: dict[str, type[Reader]] = {"stripe": StripeReader, "hubspot": HubSpotReader, "zendesk": ZendeskReader,
                                    "sendgrid": SendGridReader, "event_log": EventLogReader}  # fmt: skip


def upper_escapes(text: str, upper: bool) -> str:
    """json.dumps writes `\\ud800`; JSON allows `\\uD800` as well."""
    return (
        re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), text) if upper else text
    )


def write(tmp_path: Path, name: str, records: list[dict], upper: bool) -> Path:
    if name in ("sendgrid", "event_log"):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(upper_escapes(json.dumps(r), upper) + "\n" for r in records))
        return path
    key = {"stripe": "data", "hubspot": "results", "zendesk": "tickets"}[name]
    path = tmp_path / f"{name}.json"
    path.write_text(
        upper_escapes(json.dumps({key: records, "end_time": 1741339800}, indent=1), upper)
    )
    return path


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.dictionaries(KEYS, VALUES, max_size=3), min_size=1, max_size=6), upper=st.booleans(),
       walked=st.booleans())  # fmt: skip
def test_any_records_read_the_same_with_the_gate(tmp_path, changes, upper, walked):
    for name, cls in READERS.items():
        records = [{**BASES[name](n), **change} for n, change in enumerate(changes)]
        path = write(tmp_path, name, records, upper)
        # walked: every document through the streaming checker, its text read 7 characters
        # at a time (an escape split over two reads)
        with patch.object(documents, "HOLD_CHARS", 0 if walked else documents.HOLD_CHARS), \
                patch.object(json_text, "READ_CHUNK", 7 if walked else json_text.READ_CHUNK):  # fmt: skip
            assert_same(cls, path)


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize("escape", ["\\ud800", "\\uDBFF", "\\udC00"])
def test_a_lone_surrogate_is_still_quarantined(tmp_path, name, escape):
    records = [BASES[name](1), BASES[name](2)]
    path = write(tmp_path, name, records, upper=False)
    text = path.read_text()
    # the second record's workflow / email / id text gets the escape
    field = {"stripe": '"re_2"', "hubspot": '"u2@example.com"', "zendesk": '"Refund"', "sendgrid": '"m1.x"',
             "event_log": '"ev_2"'}[name]  # fmt: skip
    where = text.rindex(field)
    path.write_text(text[: where + 1] + escape + text[where + 1 :])
    assert surrogate_escape(path.read_bytes())
    bad = assert_same(READERS[name], path)
    assert [r["source_record"] for r in bad if "lone surrogate" in r["reason"]] == [2]
    # walked, read in pieces of every length up to the escape's: one of them splits it
    with patch.object(documents, "HOLD_CHARS", 0):
        for chunk in range(1, len(escape) + 2):
            with patch.object(json_text, "READ_CHUNK", chunk):
                assert assert_same(READERS[name], path) == bad


def test_the_gate_reads_escapes_of_surrogates_only():
    assert (
        surrogate_escape("\\ud800")
        and surrogate_escape(b"\\uDFFF")
        and surrogate_escape('"\\uDa00"')
    )
    assert (
        not surrogate_escape("\\ud7ff")
        and not surrogate_escape("\\ue000")
        and not surrogate_escape("\ud800")
    )
    assert not surrogate_escape(json.dumps("\U0001f600", ensure_ascii=False))
