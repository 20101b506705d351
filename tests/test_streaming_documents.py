"""The whole-document vendor readers (stripe, hubspot, zendesk, sendgrid) stream their
files, yet give exactly what reading the file whole with json.loads gives: the same rows
in the same order, the same quarantine (file, record, reason), the same field drift, and
nothing but a record-0 rejection for a document that breaks anywhere. And memory stays
bounded on a large page."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pyarrow as pa
import pytest

import connectors.files.documents as documents
import connectors.files.json_text as json_text
from bench.connectors import contact, refund, ticket
from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.files import iter_json_lines, numbered_rows, open_binary
from connectors.hubspot import HubSpotReader
from connectors.schema import OBSERVED_SCHEMA
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.values import BadRecord, parse_epoch_seconds
from connectors.zendesk import ZendeskReader

ROOT = Path(__file__).resolve().parent
VENDORS = ROOT / "fixtures" / "vendors"
PATHS = ["metadata.reckon_intent_id", "reckon_intent_id", "external_id", "properties.reckon_intent_id"]


def options(root: Path) -> SourceOptions:
    return SourceOptions(source="t", system="target", correlation_paths=PATHS, root=root, batch_rows=100)


# --- the reference: the file read whole, as the readers did before they streamed -------


def whole_document(path: Path, list_key: str | None, item_key: str | None) -> tuple[list[Any], tuple | None]:
    """(records, record-0 rejection) from json.loads of the whole file."""
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (EOFError, OSError, zlib.error) as exc:
        return [], (f"unreadable file: {exc}", None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], (f"invalid UTF-8: {exc.reason}", None)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [], (f"malformed JSON document: {exc}", None)
    if isinstance(document, list):
        return document, None
    if isinstance(document, dict):
        if list_key is not None and isinstance(document.get(list_key), list):
            return document[list_key], None
        if item_key is not None and item_key in document:
            return [document[item_key]], None
        return [document], None
    kind = "null" if document is None else type(document).__name__
    return [], (f"expected a JSON object or array, got {kind}", document)


def reference_rows(reader: Reader, path: Path, sink: QuarantineSink, source_file: str) -> list[dict[str, Any]]:
    keys = {"stripe": ("data", None), "hubspot": ("results", None), "zendesk": ("tickets", "ticket"),
            "sendgrid": (None, None)}[reader.name]  # fmt: skip
    records, rejection = whole_document(path, *keys)
    if rejection is not None:
        sink.reject(source_file, 0, *rejection)
    numbered = list(enumerate(records, start=1))
    # Records dated after the export are bad: a Zendesk page's end_time, else the file's mtime.
    latest = reader.latest_after(path, reference_exported_at(path) if isinstance(reader, ZendeskReader) else None)
    if isinstance(reader, SendGridReader):
        return sendgrid_two_passes(reader, numbered, sink, source_file, latest)
    build: Callable[[dict[str, Any]], list[dict[str, Any]]]
    if isinstance(reader, StripeReader):
        build = reader.record_rows
    elif isinstance(reader, HubSpotReader):
        build = reader.object_rows
    else:
        build = lambda record: [reader.ticket_row(record)]  # noqa: E731
    return list(numbered_rows(numbered, sink, source_file, reader.noting(source_file, build, latest)))


def sendgrid_two_passes(
    reader: SendGridReader, numbered: list[tuple[int, Any]], sink: QuarantineSink, source_file: str, latest: datetime
) -> list[dict[str, Any]]:
    """The SendGrid reader as it was: all events first, then ids for those without one."""
    events = list(reader._events(iter(numbered), lambda: True, sink, source_file, latest))
    messages: dict[tuple[str, str], set[str]] = {}
    for event in events:
        if event.row["external_id"] is not None and event.recipient:
            messages.setdefault(event.recipient, set()).add(event.row["external_id"])
    rows = []
    for event in events:
        if event.row["external_id"] is None:
            candidates = messages.get(event.recipient, set()) if event.recipient else set()
            if len(candidates) != 1:
                found = "no" if not candidates else f"{len(candidates)} different"
                sink.reject(source_file, event.number, f"field 'sg_message_id' is missing and {found} messages in "
                            "this file share the event's email and first correlation key", event.raw)  # fmt: skip
                continue
            event.row["external_id"] = next(iter(candidates))
        rows.append(event.row)
    return rows


def reference_exported_at(path: Path) -> datetime | None:
    """A Zendesk page's `end_time`, read from the whole document."""
    try:
        with open_binary(path) as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except (ValueError, RecursionError, EOFError, OSError, zlib.error):
        return None
    if not isinstance(document, dict) or document.get("end_time") is None:
        return None
    try:
        return parse_epoch_seconds(document["end_time"], "end_time")
    except BadRecord:
        return None


def read_both(cls: type[Reader], path: Path) -> tuple[tuple, tuple]:
    """(streamed, reference): rows, quarantine and field drift of each way of reading."""
    results = []
    for streamed in (True, False):
        reader, sink = cls(options(path.parent)), QuarantineSink("t")
        source_file = reader.options.relative(path)
        if streamed:
            exported = reader.exported_at(path)
            batches = list(reader.batches(path, sink))
            rows = pa.Table.from_batches(batches, schema=OBSERVED_SCHEMA).to_pylist()
        else:
            exported = reference_exported_at(path) if cls is ZendeskReader else None
            rows = pa.Table.from_pylist(reference_rows(reader, path, sink, source_file), schema=OBSERVED_SCHEMA)
            rows = rows.to_pylist()
        results.append((rows, sink.rows, reader.field_drift(), exported))
    return results[0], results[1]


# --- documents: fixtures, generated pages, and the same damaged ----------------------


def sendgrid_event(n: int) -> dict[str, Any]:
    event = {"email": f"u{n % 7}@example.com", "timestamp": 1741255200 + n, "event": "delivered",
             "sg_event_id": f"ev{n - (n % 10 == 5)}", "sg_message_id": f"M{n % 35}.filter0001", "reckon_intent_id": f"int_{n % 5}"}  # fmt: skip
    if n % 29 == 0:
        event["sg_message_id"] = f"X{n}.filter0001"  # a second send to the same recipient: ambiguous
    if n % 13 == 0:
        event.update(event="bounce")
        del event["sg_message_id"]  # an async bounce: attached by email and intent, or rejected
    if n % 17 == 0:
        event["event"] = "exploded"
    if n % 19 == 7:
        event["timestamp"] = FUTURE["timestamp"]
    return event


FUTURE = {"created": 32503680000, "updatedAt": "9999-12-31T00:00:00Z", "updated_at": "9999-12-31T00:00:00Z",
          "timestamp": 32503680000}  # each vendor's time field, in year 3000 or 9999


def bad(record: dict[str, Any], n: int) -> dict[str, Any]:
    """Every ninth record loses its id (a bad record), every 13th is dated after the export
    (a bad record too), every 31st gets an undocumented field."""
    record = dict(record)
    if n % 9 == 4:
        record.pop("id", None)
    if n % 13 == 6:
        record.update({key: value for key, value in FUTURE.items() if key in record})
    if n % 31 == 0:
        record["x_vendor_added"] = n
    return record


PAGES: dict[str, tuple[type[Reader], Callable[[int], Any]]] = {
    "stripe": (StripeReader, lambda n: {"object": "list", "data": [bad(refund(i), i) for i in range(n)], "has_more": False}),
    "hubspot": (HubSpotReader, lambda n: {"results": [bad(contact(i), i) for i in range(n)], "paging": {"next": {"after": "9"}}}),
    "zendesk": (ZendeskReader, lambda n: {"tickets": [bad(ticket(i), i) for i in range(n)], "end_time": 1741339800,
                                          "end_of_stream": False}),
    "sendgrid": (SendGridReader, lambda n: [sendgrid_event(i) for i in range(n)]),
}  # fmt: skip
FIXTURES = [(cls, path) for name, (cls, _) in PAGES.items() for path in sorted((VENDORS / name).glob("*.json"))]


def damaged(text: bytes) -> dict[str, bytes]:
    """The ways a whole document breaks: each must give one record-0 rejection, no rows."""
    middle = len(text) // 2
    return {
        "cut at the end": text[:-1],
        "cut in the middle": text[:middle],
        "cut after a comma": text[: text.index(b",", middle) + 1],
        "a bad byte late": text[:-3] + b"\xff" + text[-2:],
        "a bad token early": text[:40] + b"?" + text[41:],
        "a trailing comma": text[:-2] + b",]" + text[-1:],
        "extra data": text + b" []",
        "a BOM": b"\xef\xbb\xbf" + text,
        "empty": b"",
    }


@pytest.mark.parametrize(("cls", "path"), FIXTURES, ids=lambda value: getattr(value, "name", value))
def test_fixtures_read_as_when_parsed_whole(cls, path):
    streamed, reference = read_both(cls, path)
    assert streamed == reference
    assert streamed[0] or streamed[1]


@pytest.mark.parametrize("name", sorted(PAGES))
@pytest.mark.parametrize("chunk", [5, json_text.READ_CHUNK])
@pytest.mark.parametrize("hold", [0, documents.HOLD_CHARS])  # 0: checked, its records kept on disk
def test_generated_pages_read_as_when_parsed_whole(tmp_path, name, chunk, hold):
    cls, page = PAGES[name]
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page(400), indent=1 if chunk == 5 else None))
    with patch.object(json_text, "READ_CHUNK", chunk), patch.object(documents, "HOLD_CHARS", hold):
        streamed, reference = read_both(cls, path)
    assert streamed == reference
    rows, rejected, _, _ = streamed
    assert len(rows) > 200 and len(rejected) > 20


@pytest.mark.parametrize("name", sorted(PAGES))
def test_damaged_documents_are_rejected_whole_with_the_same_reason(tmp_path, name):
    cls, page = PAGES[name]
    text = json.dumps(page(60)).encode()
    cases = damaged(text)
    cases["a cut gzip stream"] = gzip.compress(text)[:-30]
    cases["bad bytes after bad JSON"] = text[:30] + b"?" + text[31:-3] + b"\xff" + text[-2:]
    for case, data in cases.items():
        path = tmp_path / ("page.json.gz" if "gzip" in case else "page.json")
        path.write_bytes(data)
        with patch.object(json_text, "READ_CHUNK", 64), patch.object(documents, "HOLD_CHARS", 0):
            streamed, reference = read_both(cls, path)
        assert streamed == reference, case
        rows, rejected, _, _ = streamed
        assert rows == [] and [r["source_record"] for r in rejected] == [0], case


def test_sendgrid_json_lines_keep_file_order_with_attached_bounces(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(sendgrid_event(n)) for n in range(300)) + "\n{broken\n")
    reader, sink = SendGridReader(options(tmp_path)), QuarantineSink("t")
    rows = pa.Table.from_batches(list(reader.batches(path, sink)), schema=OBSERVED_SCHEMA).to_pylist()
    lines = list(iter_json_lines(path, QuarantineSink("t"), "events.jsonl"))
    ref_sink = QuarantineSink("t")
    reference = sendgrid_two_passes(SendGridReader(options(tmp_path)), lines, ref_sink, "events.jsonl",
                                    Reader.latest_after(path, None))
    # the reference's rows are line numbers; its quarantine lacks the broken line, rejected while reading lines
    assert rows == pa.Table.from_pylist(reference, schema=OBSERVED_SCHEMA).to_pylist()
    assert [r for r in sink.rows if r["source_record"] != 301] == ref_sink.rows
    assert any(r["raw_status"] == "bounce" for r in rows)


def test_duplicate_list_keys_take_the_last_value_as_json_loads_does(tmp_path):
    page = json.dumps({"data": [refund(1)], "object": "list"})
    for tail in ('"data": [{"id": 7}]', '"data": []', '"data": 5'):
        path = tmp_path / "page.json"
        path.write_text(page[:-1] + ", " + tail + "}")
        streamed, reference = read_both(StripeReader, path)
        assert streamed == reference, tail


# --- memory -----------------------------------------------------------------------

MEASURE = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from connectors.base import QuarantineSink, SourceOptions
    from connectors.stripe import StripeReader
    path = Path(sys.argv[1])
    reader = StripeReader(SourceOptions(source="t", system="s", root=path.parent))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = sum(batch.num_rows for batch in reader.batches(path, QuarantineSink("t")))
    print(rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
""")


def test_memory_stays_bounded_on_a_large_page(tmp_path):
    """A 120 MB page (large refunds, so it reads fast) costs a small part of its size:
    json.loads of the whole file would need several times the file."""
    path = tmp_path / "refunds.json"
    count = 0
    with path.open("w") as out:
        out.write('{"object": "list", "data": [')
        while out.tell() < 120 << 20:
            record = refund(count)
            record["description"] = f"refund {count} " + "x" * 4000
            out.write(("," if count else "") + json.dumps(record))
            count += 1
        out.write('], "has_more": false}')
    size = path.stat().st_size
    child = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True,
                           cwd=ROOT.parent)  # fmt: skip
    rows, grown = map(int, child.stdout.split())
    assert rows == count
    assert grown < size / 3, f"peak grew by {grown / 2**20:.0f} MB reading a {size / 2**20:.0f} MB page"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_records_that_cannot_wait_on_disk_are_read_again(tmp_path, monkeypatch, name):
    """No temporary folder to keep a large document's records in (missing, or full): the
    document is read a second time, as it was before records were kept, never rejected."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    cls, page = PAGES[name]
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page(300)))
    with patch.object(documents, "HOLD_CHARS", 0):
        streamed, reference = read_both(cls, path)
    assert streamed == reference
    assert len(streamed[0]) > 150


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_record_nested_past_what_marshal_keeps_is_read_again(tmp_path, name):
    """Records past `hold` wait on disk in marshal's format, which refuses values nested
    2,000 deep; json goes as deep as the recursion limit lets it. Such a document is
    then read a second time rather than kept, and reads the same."""
    cls, page = PAGES[name]
    document = page(40)
    records = document if isinstance(document, list) else next(v for v in document.values() if isinstance(v, list))
    deep: list[Any] = []
    for _ in range(2_500):
        deep = [deep]
    records[3]["deep"] = deep
    keys = {"stripe": ("data",), "hubspot": ("results",), "zendesk": ("tickets", "ticket"), "sendgrid": ()}[name]
    path = tmp_path / "page.json"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        path.write_text(json.dumps(document))
        with patch.object(documents, "HOLD_CHARS", 0):
            checked = documents.JsonDocument.check(path, *keys)
            assert checked.rejection is None and checked.records is None  # not kept: streamed again
            streamed, reference = read_both(cls, path)
    finally:
        sys.setrecursionlimit(limit)
    assert streamed == reference
    assert len(streamed[0]) > 20


KILLED_WHILE_KEEPING = """
import os, signal, sys
from pathlib import Path
import connectors.files.documents as documents
documents.HOLD_CHARS = 0  # every document's records wait on disk
checked = documents.JsonDocument.check(Path(sys.argv[1]), "data")
assert checked.records is not None
os.kill(os.getpid(), signal.SIGKILL)  # killed before reading them: the file stays
"""


def test_records_left_by_a_killed_process_are_removed_by_the_next(tmp_path, monkeypatch):
    """A process killed while a page's records waited on disk leaves their file in the
    temporary folder; the next process to keep records removes it once it is hours old,
    but never a file whose writer still runs, nor a recent one."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    page = tmp_path / "refunds.json"
    page.write_text(json.dumps({"object": "list", "data": [refund(i) for i in range(2_500)], "has_more": False}))
    child = subprocess.run([sys.executable, "-c", KILLED_WHILE_KEEPING, str(page)], cwd=ROOT.parent,
                           env={**os.environ, "TMPDIR": str(folder)}, capture_output=True, text=True)  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    (left,) = folder.iterdir()
    assert left.name.startswith(documents.SPILL_PREFIX) and left.stat().st_size > 0
    recent = folder / f"{documents.SPILL_PREFIX}{_ended_pid()}-recent"
    recent.write_bytes(b"x")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            live = folder / f"{documents.SPILL_PREFIX}{alive.pid}-alive"
            live.write_bytes(b"x")
            hours_ago = time.time() - documents.ORPHAN_AFTER_SECONDS - 60
            for path in (left, live):
                os.utime(path, (hours_ago, hours_ago))
            monkeypatch.setattr(tempfile, "tempdir", str(folder))
            kept = documents._Spill.of([{"n": i} for i in range(2 * documents._Spill.CHUNK_RECORDS)]).written()
            assert kept is not None
            assert sorted(p.name for p in folder.iterdir()) == sorted(
                [Path(kept.disk["path"]).name, recent.name, live.name])
            assert list(kept) == [{"n": i} for i in range(2 * documents._Spill.CHUNK_RECORDS)]
        finally:
            alive.kill()


def _ended_pid() -> int:
    with subprocess.Popen([sys.executable, "-c", "pass"]) as ended:
        ended.wait()
    return ended.pid
