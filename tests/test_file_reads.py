"""A snapshot's files read by worker processes (reckon/file_reads.py) give the snapshot a
single reader gives: the same rows in the same order, the same quarantine, the same counts;
and so do sources snapshotted side by side (`pipelines.steps.run_steps`)."""

from __future__ import annotations

import gc
import gzip
import itertools
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import CONNECTORS
from connectors.base import QuarantineSink
from connectors.files import JsonDocument
from pipelines.steps import AuditRun, add_hook, audit_steps, run_step, run_steps
from reckon import file_reads
from reckon.engine import ingest
from reckon.file_reads import FileReads
from reckon.snapshots import MissingSourceError, list_snapshots, source_options, unread_bytes
from reckon.workspace import Workspace
from simulator import simulate

REPO = Path(__file__).resolve().parents[1]


def _hostile_workspace(root: Path) -> Path:
    """A simulated workspace whose files also hold what each reader must reject, repeat or note."""
    sim = simulate(root, runs=60, seed=11)
    events = root / "landing" / "events"
    with (events / "log-0001.jsonl").open("a") as log:
        log.write('{"event_id": "broken\n')  # malformed JSON
        log.write(json.dumps({"event_id": "ev_odd", "ts": "2026-11-01T00:00:00Z", "type": "run.started",
                              "run_id": "run_odd", "workflow": "refund_order", "surprise": 1}) + "\n")  # an unknown field
    whole = gzip.compress(b"".join(json.dumps({"event_id": f"ev_gz{i}", "ts": "2026-11-01T00:00:01Z",
                                                "type": "run.started", "run_id": f"run_gz{i}",
                                                "workflow": "refund_order"}).encode() + b"\n" for i in range(50)))
    (events / "log-0003.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # a gzip stream cut short
    batch = root / "landing" / "sendgrid" / "batch-0002.json"
    records = json.loads(batch.read_text())
    batch.write_text(json.dumps(records + records[:3] + ["not an event"]))  # webhook retries, a bad record
    return sim.workspace


def _snapshot_tables(ws: Workspace) -> dict[str, tuple]:
    """Each source's snapshot (taken now, or the one taken already) as tables and manifest."""
    out = {}
    for source in ws.config.sources:
        snap = ingest(ws, source.name) or list_snapshots(ws, source.name)[-1]
        manifest = json.loads((snap.folder / "_manifest.json").read_text())
        out[source.name] = (pq.read_table(snap.data_file), pq.read_table(snap.quarantine_file), manifest)
    return out


def test_a_snapshot_read_by_workers_equals_one_read_by_one_reader(tmp_path, monkeypatch):
    one = _hostile_workspace(tmp_path / "one")
    many = tmp_path / "many"
    shutil.copytree(one, many, symlinks=True)
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 1 << 62)
    alone = _snapshot_tables(Workspace.open(one))
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 0)
    assert Workspace.open(many).config.policies.threads >= 2  # so the snapshot below starts workers
    together = _snapshot_tables(Workspace.open(many))

    assert alone.keys() == together.keys()
    for name, (rows, quarantine, manifest) in alone.items():
        other_rows, other_quarantine, other_manifest = together[name]
        assert rows.num_rows > 0 and rows.equals(other_rows), name
        assert quarantine.equals(other_quarantine), name
        assert manifest == other_manifest, name
    # what the workers noted reached the snapshot
    assert alone["workflow_log"][2]["quarantined"] >= 2 and "surprise" in alone["workflow_log"][2]["fields_added"]
    assert alone["sendgrid_events"][2]["repeats_dropped"] >= 3 and alone["sendgrid_events"][2]["quarantined"] >= 1
    assert not list(many.glob("snapshots/**/*.arrow"))  # the workers' files are gone


def test_workers_start_only_for_several_files_and_hand_them_back_in_order(tmp_path, monkeypatch):
    ws = Workspace.open(_hostile_workspace(tmp_path / "ws"))
    source = next(s for s in ws.config.sources if s.name == "hubspot_contacts")
    reader_cls = CONNECTORS[source.connector]
    paths = sorted((ws.landing / "hubspot").glob("*.json"))
    assert len(paths) >= 2
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 0)

    def read(workers: int, order: list[Path]) -> tuple[list, int]:
        reader, sink = reader_cls(source_options(ws, source)), QuarantineSink(source.name)
        with FileReads(reader, sink, order, sum(p.stat().st_size for p in order), tmp_path, workers) as reads:
            started = len(reads.workers)
            ids = [i for path in order for batch in reads.batches(path) for i in batch.column("external_id").to_pylist()]
        return ids, started

    serial, none = read(1, paths)
    parallel, two = read(2, paths)
    assert (none, two) == (0, 2) and serial == parallel and len(serial) > 0
    assert read(4, paths[:1])[1] == 0  # one file: read here
    reads = FileReads(reader_cls(source_options(ws, source)), QuarantineSink("x"), paths, 1, tmp_path, 2)
    with reads, pytest.raises(ValueError, match="out of order"):
        list(reads.batches(paths[1]))


def test_a_script_without_a_main_guard_reads_with_workers(tmp_path):
    """The workers are fresh interpreters: the caller's script is never run again in them."""
    root = _hostile_workspace(tmp_path / "ws")
    script = tmp_path / "ingest.py"
    script.write_text(
        "from reckon import file_reads\n"
        "from reckon.engine import ingest\n"
        "from reckon.workspace import Workspace\n"
        "file_reads.PARALLEL_MIN_BYTES = 0\n"
        f"snap = ingest(Workspace.open({str(root)!r}), 'sendgrid_events')\n"
        "print('rows', snap.rows)\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("rows") == 1 and int(done.stdout.split()[-1]) > 0


def test_a_zendesk_page_checked_for_its_export_time_goes_to_the_worker_parsed(tmp_path, monkeypatch):
    """The snapshot checks each page for its `end_time` before reading it; a worker takes
    that check's records (on disk) instead of parsing the page a second time."""
    ws = Workspace.open(_hostile_workspace(tmp_path / "ws"))
    source = next(s for s in ws.config.sources if s.connector == "zendesk")
    page = sorted((ws.landing / "zendesk").glob("*.json"))[0]
    zendesk = CONNECTORS["zendesk"]

    def rows(reader) -> pa.Table:
        return pa.Table.from_batches(list(reader.batches(page, QuarantineSink(source.name))), schema=zendesk.schema)

    expected = rows(zendesk(source_options(ws, source)))
    caller = zendesk(source_options(ws, source))
    caller.exported_at(page)  # the page checked (the simulator's pages have no `end_time`: None)
    kept = pickle.loads(pickle.dumps(caller.handoff(page)))  # as FileReads sends it
    assert caller.handoff(page) is None  # it left the caller
    spill = Path(kept[1].records.disk["path"])

    def parsed_again(*args, **kwargs):
        raise AssertionError("the page was parsed again")

    monkeypatch.setattr(JsonDocument, "check", parsed_again)
    worker = zendesk(source_options(ws, source))
    worker.take(page, kept)
    assert expected.num_rows > 0 and rows(worker).equals(expected)
    del kept, worker
    gc.collect()
    assert not spill.exists()  # the worker's copy removed the records once read


def _run_snapshot_steps(ws: Workspace) -> tuple[list[tuple[str, dict]], dict[str, tuple[str, float, float]], float]:
    """The snapshot steps through `run_steps`, as an audit runs them: what each returned, the
    thread each ran in with its start and end, and the CPU seconds of waited child processes."""
    seen: dict[str, tuple[str, float, float]] = {}

    @contextmanager
    def where(step, run, metadata):
        start = time.perf_counter()
        yield
        seen[step.name] = (threading.current_thread().name, start, time.perf_counter())

    steps = [step for step in audit_steps(ws.config) if step.source]
    before = os.times()
    undo = add_hook(where)
    try:
        done = [(step.name, metadata) for step, metadata in run_steps(steps, AuditRun(ws))]
    finally:
        undo()
    after = os.times()
    return done, seen, round(after.children_user + after.children_system - before.children_user - before.children_system, 3)


def test_sources_snapshotted_side_by_side_equal_one_after_another(tmp_path, monkeypatch):
    one = _hostile_workspace(tmp_path / "one")
    many = tmp_path / "many"
    shutil.copytree(one, many, symlinks=True)
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 1 << 62)  # no source large enough: one after another
    in_turn, turn_threads, turn_children = _run_snapshot_steps(Workspace.open(one))
    # The larger half of the sources large enough for a worker of their own, the others read in their threads.
    unread = {source.name: unread_bytes(Workspace.open(many), source) for source in Workspace.open(many).config.sources}
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", sorted(unread.values())[len(unread) // 2])
    side, side_threads, side_children = _run_snapshot_steps(Workspace.open(many))

    assert [name for name, _ in side] == [name for name, _ in in_turn]  # metadata in the list's order
    assert {thread for thread, _, _ in turn_threads.values()} == {"MainThread"} and turn_children == 0
    assert not any(metadata["parsed_in_worker"] for _, metadata in in_turn)
    assert all(thread.startswith("snapshot") for thread, _, _ in side_threads.values())
    spans = sorted((start, end) for _, start, end in side_threads.values())
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))  # some ran at once
    in_worker = {name.removeprefix("snapshot_"): metadata["parsed_in_worker"] for name, metadata in side}
    assert in_worker == {name: n >= file_reads.PARALLEL_MIN_BYTES for name, n in unread.items()}
    assert any(in_worker.values()) and not all(in_worker.values()) and side_children > 0
    assert [m["snapshot_id"] for _, m in side] == [m["snapshot_id"] for _, m in in_turn]
    alone, together = _snapshot_tables(Workspace.open(one)), _snapshot_tables(Workspace.open(many))
    for name, (rows, quarantine, manifest) in alone.items():
        assert rows.num_rows > 0 and rows.equals(together[name][0]), name
        assert quarantine.equals(together[name][1]) and manifest == together[name][2], name
    assert alone["workflow_log"][2]["quarantined"] >= 2 and alone["sendgrid_events"][2]["repeats_dropped"] >= 3
    assert not list(many.glob("snapshots/**/*.arrow")) and not list(many.glob("snapshots/.staging/*"))


def test_a_source_offloaded_is_parsed_by_a_worker_process(tmp_path, monkeypatch):
    """A snapshot step whose source the run offloads sends even small files to a worker
    process: the same snapshot, its parsing done by a child."""
    here = Workspace.open(_hostile_workspace(tmp_path / "here"))
    shutil.copytree(here.root, tmp_path / "there", symlinks=True)
    there = Workspace.open(tmp_path / "there")
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 1 << 62)  # no workers of the source's own
    steps = {step.source: step for step in audit_steps(here.config) if step.source}
    for name in ("stripe_refunds", "workflow_log"):
        children = []
        for ws, offload in ((here, frozenset()), (there, frozenset({name}))):
            before = os.times()
            metadata = run_step(steps[name], AuditRun(ws, offload=offload))
            after = os.times()
            children.append(round(after.children_user + after.children_system
                                  - before.children_user - before.children_system, 3))
            assert metadata["rows"] > 0 and metadata["parsed_in_worker"] == bool(offload)
        assert children[0] == 0 and children[1] > 0, name
        assert list_snapshots(here, name)[-1].snapshot_id == list_snapshots(there, name)[-1].snapshot_id
        assert pq.read_table(list_snapshots(here, name)[-1].data_file).equals(
            pq.read_table(list_snapshots(there, name)[-1].data_file))


def test_a_source_failing_side_by_side_leaves_the_others_snapshotted(tmp_path, monkeypatch):
    ws = Workspace.open(_hostile_workspace(tmp_path / "ws"))
    for path in (ws.landing / "stripe").iterdir():
        path.unlink()  # a required source with no file: its snapshot raises
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 0)
    steps = [step for step in audit_steps(ws.config) if step.source]
    done = []
    with pytest.raises(MissingSourceError, match="stripe_refunds"):
        for step, _ in run_steps(steps, AuditRun(ws)):
            done.append(step.source)
    others = [s.name for s in ws.config.sources if s.name != "stripe_refunds"]
    assert done == others
    assert all(list_snapshots(ws, name) for name in others) and not list_snapshots(ws, "stripe_refunds")
