"""Snapshots are immutable, atomic, incremental by file and never duplicated."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq

from pipelines.runner import run_audit
from reckon.engine import ingest
from reckon.snapshots import list_snapshots
from reckon.workspace import Workspace
from simulator import simulate


def test_snapshot_layout_and_rerun(tmp_path):
    sim = simulate(tmp_path / "ws", runs=10, seed=3)
    ws = Workspace.open(sim.workspace)
    snap = ingest(ws, "stripe_refunds")
    assert snap is not None and snap.rows > 0
    rel = snap.folder.relative_to(ws.snapshots).parts
    assert rel[0] == "source=stripe_refunds" and rel[1].startswith("observed_date=") and rel[2] == f"snapshot_id={snap.snapshot_id}"
    table = pq.ParquetFile(snap.data_file).read()
    assert set(table.column("snapshot_id").to_pylist()) == {snap.snapshot_id}
    assert set(table.column("observed_at").to_pylist()) == {sim.export_time}  # the file mtime, not the wall clock
    manifest = json.loads((snap.folder / "_manifest.json").read_text())
    assert manifest["rows"] == table.num_rows and manifest["files"]

    assert ingest(ws, "stripe_refunds") is None  # unchanged files: no new snapshot
    assert len(list_snapshots(ws, "stripe_refunds")) == 1
    assert not list((ws.snapshots / ".staging").glob("*"))


def test_only_new_files_enter_the_next_snapshot(tmp_path):
    sim = simulate(tmp_path / "ws", runs=10, seed=3)
    ws = Workspace.open(sim.workspace)
    first = ingest(ws, "sendgrid_events")
    extra = ws.landing / "sendgrid" / "batch-9999.json"
    extra.write_text(json.dumps([{"email": "a@example.com", "timestamp": 1763700000, "event": "delivered",
                                  "sg_event_id": "new-1", "sg_message_id": "abc.filter1", "reckon_intent_id": "int_x"}]))
    later = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    os.utime(extra, (later, later))
    second = ingest(ws, "sendgrid_events")
    assert [f.path for f in second.files] == ["landing/sendgrid/batch-9999.json"]
    assert second.rows == 1 and second.snapshot_id != first.snapshot_id
    assert second.observed_at.startswith("2026-12-01")


def test_fixed_observed_at_from_config(tmp_path):
    sim = simulate(tmp_path / "ws", runs=5, seed=4)
    cfg = (sim.workspace / "reckon.yaml").read_text()
    cfg = cfg.replace("    system: stripe\n    paths:", "    system: stripe\n    observed_at: \"2026-11-30T08:00:00Z\"\n    paths:", 1)
    (sim.workspace / "reckon.yaml").write_text(cfg)
    ws = Workspace.open(sim.workspace)
    snap = ingest(ws, "stripe_refunds")
    assert snap.observed_at == "2026-11-30T08:00:00+00:00"


def test_schema_drift_is_recorded_not_dropped(tmp_path):
    sim = simulate(tmp_path / "ws", runs=5, seed=3)
    ws = Workspace.open(sim.workspace)
    line = {"event_id": "ev_drift", "ts": "2026-11-20T10:00:00Z", "type": "run.started", "run_id": "run_x",
            "workflow": "refund_order", "trace_id": "4bf92f3577b34da6"}
    log = ws.landing / "events" / "drift.jsonl"
    log.write_text(json.dumps(line) + "\n")
    refunds = ws.landing / "stripe" / "renamed.json"
    refunds.write_text(json.dumps({"object": "list", "data": [{"refund_id": "re_1", "object": "refund",
                                                                 "status": "succeeded", "amount": 1}]}))
    events = ingest(ws, "workflow_log")
    stripe = ingest(ws, "stripe_refunds")
    assert events.fields_added == ["trace_id"] and events.fields_missing == []
    assert "refund_id" in stripe.fields_added and "id" in stripe.fields_missing
    rows = pq.ParquetFile(events.data_file).read().to_pylist()
    assert json.loads(next(r for r in rows if r["event_id"] == "ev_drift")["extra"]) == {"trace_id": "4bf92f3577b34da6"}


def test_quick_check_skips_unchanged_files_by_size_and_mtime(tmp_path):
    sim = simulate(tmp_path / "ws", runs=10, seed=3)
    ws = Workspace.open(sim.workspace)
    first = ingest(ws, "stripe_refunds")
    page = ws.landing / "stripe" / "refunds-list.json"
    stat = page.stat()
    # Same size and mtime: taken as unchanged without reading it (as rsync's quick check).
    page.write_bytes(page.read_bytes().replace(b"succeeded", b"SUCCEEDED"))
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ingest(ws, "stripe_refunds") is None
    # A newer mtime makes it a new export: read, hashed and snapshotted again.
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = ingest(ws, "stripe_refunds")
    assert second is not None and second.snapshot_id != first.snapshot_id
    assert [f.path for f in second.files] == ["landing/stripe/refunds-list.json"]
    assert second.files[0].sha256 != next(f.sha256 for f in first.files if f.path == second.files[0].path)


def test_touching_an_unchanged_file_does_not_quarantine_its_bad_lines_twice(tmp_path):
    sim = simulate(tmp_path / "ws", runs=10, seed=3)
    log = next((sim.workspace / "landing" / "events").glob("*.jsonl"))
    with log.open("a", encoding="utf-8") as f:
        f.write('{"event_id": "ev_cut", "ts": \n')
    ws = Workspace.open(sim.workspace)
    first = run_audit(ws)
    assert first["quarantined"] >= 1
    stat = log.stat()
    os.utime(log, ns=(stat.st_atime_ns, stat.st_mtime_ns + 3600 * 10**9))  # touched, same bytes
    second = run_audit(ws)
    assert second["quarantined"] == first["quarantined"]
    with duckdb.connect(str(ws.database), read_only=True) as con:
        rows = con.execute("SELECT source_file, source_record, count(*) FROM quarantine GROUP BY ALL HAVING count(*) > 1").fetchall()
    assert rows == []
    assert len(list_snapshots(ws, "workflow_log")) == 1


def test_landing_links_out_of_the_workspace_or_in_a_loop_are_quarantined_once(tmp_path):
    sim = simulate(tmp_path / "ws", runs=10, seed=3)
    folder = sim.workspace / "landing" / "sendgrid"
    outside = tmp_path / "outside.json"  # a real export, but not the workspace's to read
    outside.write_text(next(folder.glob("*.json")).read_text())
    (folder / "batch-out.json").symlink_to(outside)
    (folder / "batch-loop.json").symlink_to("batch-loop.json")  # ELOOP when opened
    (folder / "batch-a.json").symlink_to("batch-b.json")
    (folder / "batch-b.json").symlink_to("batch-a.json")
    ws = Workspace.open(sim.workspace)

    audit = run_audit(ws)

    with duckdb.connect(str(ws.database), read_only=True) as con:
        refused = con.execute("SELECT source_file, source_record, reason FROM quarantine "
                              "WHERE source_file LIKE '%batch-%' ORDER BY 1").fetchall()  # fmt: skip
        total = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    loop = "landing path not read: Too many levels of symbolic links"
    assert refused == [
        ("landing/sendgrid/batch-a.json", 0, loop), ("landing/sendgrid/batch-b.json", 0, loop),
        ("landing/sendgrid/batch-loop.json", 0, loop),
        ("landing/sendgrid/batch-out.json", 0, "landing path not read: a symbolic link leading out of the workspace"),
    ]  # fmt: skip
    assert audit["quarantined"] == total
    assert run_audit(ws)["quarantined"] == total  # reported once, not again by every audit
