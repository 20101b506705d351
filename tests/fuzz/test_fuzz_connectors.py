"""Fuzz target: every connector in the registry, on generated files (records of known
kinds, maybe gzipped, cut short or broken: `tests/connectors/hostile.py`) and on
mutated ones (valid records with a part replaced by arbitrary JSON or removed; a file's
bytes edited). Reading never raises and ends within READ_SECONDS; every record is in
the rows or in quarantine with its file and a reason. The only records in neither are
those a format gives no rows by design (a span that is not agent work, a workflow task,
a webhook retry, a Stripe event about something else), which `no_rows_by_design` tells
from the record itself. Case counts come from the active profile (tests/fuzz/conftest.py).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from connectors import CONNECTORS
from connectors.base import Reader
from connectors.otel import RUN_OPERATIONS, TOOL_OPERATION, OtelReader, attributes
from connectors.stripe import REFUND_EVENTS
from connectors.temporal import (
    ACTIVITY_OUTCOMES,
    RUN_STATUS,
    TemporalReader,
    attributes_key,
    event_type,
    int64,
)
from connectors.values import BadRecord, dig
from tests.connectors.hostile import GOOD, Format, check, damages, fuzzed, records, write
from tests.connectors.readers import Result, read_with
from tests.connectors.test_hostile import FORMATS, first_duplicate_is_kept
from tests.deadline import within
from tests.fuzz.conftest import FUZZ

READ_SECONDS = 10  # a file here holds at most a dozen records (one may be 200 kB)

# The hostile formats of each connector in the registry (a connector added without one fails below).
CASES = [key for name in sorted(CONNECTORS) for key in sorted(FORMATS) if FORMATS[key].reader is CONNECTORS[name]]


def test_every_connector_in_the_registry_is_fuzzed():
    assert {FORMATS[key].reader.name for key in CASES} == set(CONNECTORS)


def timed_read(fmt: Format, path: Path, root: Path) -> Result:
    with within(READ_SECONDS):
        return read_with(fmt.reader, path, fmt.options, fmt.correlation_paths, root=root)


# --- records a format gives no rows by design -------------------------------------------


def _otel_line(reader: OtelReader, line: Any) -> bool:
    """A TracesData whose every level is well formed and none of whose spans is agent
    work (`OtelReader.span_rows` gives such spans no rows)."""
    resource_spans = line.get("resourceSpans") if isinstance(line, dict) else None
    if not isinstance(resource_spans, list):
        return False
    for rs in resource_spans:
        if not isinstance(rs, dict) or not isinstance(rs.get("resource", {}) or {}, dict):
            return False
        scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans"))
        for scope in [] if scopes is None else scopes if isinstance(scopes, list) else [None]:
            spans = scope.get("spans") if isinstance(scope, dict) else None
            if not isinstance(spans, list):
                return False
            for span in spans:
                if not isinstance(span, dict):
                    return False
                try:
                    attrs = attributes(span.get("attributes"))
                except BadRecord:
                    return False
                operation = reader.operation(span, attrs)
                tool = reader.first(attrs, reader.tool_names)
                if operation in RUN_OPERATIONS or (operation == TOOL_OPERATION and isinstance(tool, str)
                                                   and tool in reader.tools):
                    return False
    return True


def _temporal(reader: TemporalReader, numbered: dict[int, Any]) -> set[int]:
    """Events that are neither the run's nor a mapped activity's (workflow tasks, timers,
    an activity not under `activities` and its outcomes)."""
    silent: set[int] = set()
    unmapped: set[int] = set()  # eventIds of ActivityTaskScheduled for activities not mapped
    for number, event in sorted(numbered.items()):
        try:
            kind = event_type(event.get("eventType")) if isinstance(event, dict) else None
            event_id = int64(event.get("eventId"), "eventId") if kind else None
        except BadRecord:
            continue
        if kind is None or kind == "WorkflowExecutionStarted" or kind in RUN_STATUS:
            continue
        attrs = event.get(attributes_key(kind))
        if kind == "ActivityTaskScheduled":
            name = dig(attrs, "activityType.name")
            if isinstance(name, str) and name and name not in reader.activities:
                unmapped.add(event_id)
                silent.add(number)
        elif kind in ACTIVITY_OUTCOMES:
            try:
                if int64(dig(attrs, "scheduledEventId"), "scheduledEventId") in unmapped:
                    silent.add(number)
            except BadRecord:
                pass
        else:
            silent.add(number)
    return silent


def no_rows_by_design(fmt: Format, reader: Reader, numbered: dict[int, Any]) -> set[int]:
    """The record numbers the format may accept without rows."""
    if isinstance(reader, OtelReader):
        return {n for n, line in numbered.items() if _otel_line(reader, line)}
    if isinstance(reader, TemporalReader):
        return _temporal(reader, numbered)
    if reader.name == "sendgrid":  # an identical copy of an earlier event: a webhook retry
        seen: set[str] = set()
        silent = set()
        for number, event in sorted(numbered.items()):
            if not isinstance(event, dict):
                continue
            text = json.dumps(event, sort_keys=True)
            if text in seen:
                silent.add(number)
            seen.add(text)
        return silent
    if reader.name == "stripe":  # events about something other than refunds
        return {n for n, record in numbered.items() if isinstance(record, dict) and record.get("object") == "event"
                and record.get("type") not in REFUND_EVENTS
                and not (record.get("type") == "charge.refunded" and dig(record, "data.object.refunds.data"))}
    return set()


def assert_accounted(fmt: Format, result: Result, path: Path, numbered: dict[int, Any]) -> None:
    """Every record of `numbered` (number -> record as written) is kept, quarantined, or
    one the format gives no rows by design; every quarantine row has the file and a reason."""
    kept = {row["source_record"] for row in result.rows}
    rejected = {r["source_record"] for r in result.rejected}
    assert all(r["reason"] and r["source_file"] == path.name for r in result.rejected), result.rejected
    assert all(row["source_file"] == path.name for row in result.rows)
    assert rejected <= set(numbered) | {0}, (sorted(numbered), result.rejected)
    assert kept <= set(numbered), (sorted(kept), sorted(numbered))
    if fmt.whole_file and 0 in rejected:
        assert not kept  # the document is rejected whole: every record with it
        return
    if not fmt.many_per_record:  # an OTLP line holds many spans, each kept or rejected
        assert not kept & rejected, (kept, result.rejected)
    lost = set(numbered) - kept - rejected - no_rows_by_design(fmt, result.reader, numbered)
    assert not lost, {n: numbered[n] for n in sorted(lost)}


# --- the targets --------------------------------------------------------------------------


def in_folder(run: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder))


@pytest.mark.parametrize("name", CASES)
@FUZZ
@given(data=st.data())
def test_generated_files_never_crash_and_every_record_is_kept_or_quarantined(name, data):
    fmt = FORMATS[name]
    items = first_duplicate_is_kept(fmt, data.draw(records(fmt)))
    damage, cut = data.draw(damages(fmt)), data.draw(st.floats(0.0, 0.99))
    blanks = data.draw(st.lists(st.booleans(), max_size=10))

    def run(root: Path) -> None:
        written = write(fmt, root, items, damage, cut, blanks)
        with within(READ_SECONDS):
            check(fmt, written, root)  # kept, quarantined once, or silent by kind; the counts add up

    in_folder(run)


@pytest.mark.parametrize("name", CASES)
@FUZZ
@given(data=st.data())
def test_mutated_records_are_kept_or_quarantined_never_lost(name, data):
    fmt = FORMATS[name]
    values = data.draw(fuzzed(fmt))
    if fmt.container == "csv":  # a value with a line break moves the numbers of the records after it
        assume(not any("\n" in cell for value in values for cell in value))
    damage = data.draw(st.sampled_from(["plain", "gzip"]))
    blanks = data.draw(st.lists(st.booleans(), max_size=8)) if fmt.container != "array" else []

    def run(root: Path) -> None:
        written = write(fmt, root, [(GOOD, value) for value in values], damage, 0.0, blanks)
        numbered = dict(zip(sorted(written.kinds), values, strict=True))
        assert_accounted(fmt, timed_read(fmt, written.path, root), written.path, numbered)

    in_folder(run)


EDITS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(["flip", "insert", "delete"]),
                           st.integers(0, 255)), min_size=1, max_size=4)  # fmt: skip


def edited(text: bytes, edits: list[tuple[float, str, int]]) -> bytes:
    for where, how, byte in edits:
        at = int(where * len(text))
        if how == "insert" or not text:
            text = text[:at] + bytes([byte]) + text[at:]
        elif how == "flip":
            text = text[:at] + bytes([text[at] ^ (byte or 1)]) + text[at + 1 :]
        else:
            text = text[:at] + text[at + 1 :]
    return text


def parsed(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return line


@pytest.mark.parametrize("name", CASES)
@FUZZ
@given(data=st.data())
def test_files_with_edited_bytes_never_crash_and_lose_no_line(name, data):
    fmt = FORMATS[name]
    items = data.draw(records(fmt))
    edits = data.draw(EDITS)

    def run(root: Path) -> None:
        written = write(fmt, root, items, "plain", 0.0, [])
        written.path.write_bytes(edited(written.path.read_bytes(), edits))
        result = timed_read(fmt, written.path, root)
        assert all(r["reason"] and r["source_file"] == written.path.name for r in result.rejected), result.rejected
        if fmt.container == "lines":  # each line is a record whatever the edits did: none is lost
            lines = written.path.read_bytes().split(b"\n")
            numbered = {n: parsed(line) for n, line in enumerate(lines, start=1) if line.strip()}
            assert_accounted(fmt, result, written.path, numbered)
        elif fmt.container == "array" and (result.rows or result.rejected) == []:
            # nothing kept and nothing rejected: only an empty document may say that
            assert parsed(written.path.read_bytes()) in ([], {fmt.list_key: []}), written.path.read_bytes()[:200]

    in_folder(run)
