"""One measured phase of the benchmark, run in a child process of its own.

`python -m bench.child TASK ROOT OUT [JSON args]` runs TASK on the workspace ROOT and
writes its figures to OUT as JSON. A fresh process per phase keeps one phase's memory
(the generator's DuckDB, a connector's buffers) out of the next phase's peak RSS.

Tasks: generate, ingest, audit (full audit steps, then the floor), run_audit (the whole
`pipelines.runner.run_audit`, e.g. an incremental audit), dagster (the Dagster audit job
in-process, every engine step timed inside it), report (the HTML report: written, its size,
and its load in headless Chromium), bucket_steps and bucket_pass (an audit in buckets, one
pass per process: `bench/passes.py`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.probes import (
    Clock,
    children_peak_rss_bytes,
    cpu_seconds,
    peak_rss_bytes,
    reset_peak_rss,
    timing_steps,
)


def task_generate(root: Path, args: dict) -> dict:
    from bench.generate import generate

    result = generate(root, **args)
    out = result.to_json()
    out.pop("files", None)
    out["peak_rss"] = peak_rss_bytes()
    return out


def task_ingest(root: Path, args: dict) -> dict:
    """The snapshot steps, one source at a time, each with its bytes and peak RSS."""
    from pipelines.steps import AuditRun, audit_steps, run_step
    from reckon.workspace import Workspace

    ws = Workspace.open(root)
    run = AuditRun(ws)
    sources = []
    for step, source in zip((s for s in audit_steps(ws.config) if s.group == "snapshots"), ws.config.sources,
                            strict=True):
        files = ws.landing_files(source.paths)
        reset_peak_rss()
        wall, cpu = time.perf_counter(), cpu_seconds()
        snap = run_step(step, run)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        sources.append({
            "source": source.name, "connector": source.connector, "wall": wall, "cpu": cpu,
            "bytes": sum(p.stat().st_size for p in files), "files": len(files),
            "rows": snap["rows"], "quarantined": snap["quarantined"], "peak_rss": peak_rss_bytes(),
            # file-reading workers (reckon/file_reads.py): the largest of this source's and the earlier ones'
            "workers_peak_rss": children_peak_rss_bytes(),
        })  # fmt: skip
    return {"sources": sources}


def task_audit(root: Path, args: dict) -> dict:
    """The audit's steps after ingest (`pipelines.steps`, without the HTML report), each
    timed on one connection, as `run_audit` runs them; then the floor."""
    from bench.floor import run_floor
    from pipelines.steps import AuditRun, audit_steps, run_step
    from reckon.workspace import Workspace

    ws = Workspace.open(root)
    clock = Clock()
    reset_peak_rss()
    run = AuditRun(ws)
    wall, cpu = time.perf_counter(), cpu_seconds()
    with timing_steps(clock):
        try:
            for step in audit_steps(ws.config, report=False):
                if step.group != "snapshots":
                    run_step(step, run)
        finally:
            run.close()
    total = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
    audit, audit_peak = run.audit, clock.peak_rss()
    with read_database(ws.database) as db:
        findings = dict(db.execute(
            "SELECT subject_kind || ':' || mismatch_type, count(*) FROM findings GROUP BY ALL ORDER BY 1"
        ).fetchall())
        digest = findings_digest(db)
    reset_peak_rss()
    floor = run_floor(ws)
    floor["peak_rss"] = peak_rss_bytes()
    return {
        "steps": clock.to_json(), "total": total, "peak_rss": audit_peak, "findings": findings, "digest": digest,
        "audit": {k: audit[k] for k in ("audit_id", "runs", "intents", "observed_objects", "findings",
                                        "repair_actions", "quarantined")},
        "floor": floor,
    }  # fmt: skip


def read_database(path: Path):
    """The workspace database, read-only, its internal tables found by their bare names."""
    import duckdb

    from reckon.database import search_internal

    db = duckdb.connect(str(path), read_only=True)
    search_internal(db)
    return db


def findings_digest(db) -> str:
    """One hash of every finding's id and state: equal digests, equal findings."""
    return db.execute("SELECT md5(coalesce(string_agg(finding_id || state_hash, ',' ORDER BY finding_id), '')) "
                      "FROM findings").fetchone()[0]


def task_run_audit(root: Path, args: dict) -> dict:
    """`run_audit` timed (an incremental audit; with `buckets`, a full audit in buckets)."""
    from pipelines.runner import run_audit
    from reckon.database import READ_COPY
    from reckon.workspace import Workspace

    clock = Clock()
    reset_peak_rss()
    with timing_steps(clock):
        wall, cpu = time.perf_counter(), cpu_seconds()
        audit = run_audit(Workspace.open(root), buckets=args.get("buckets", 1))
        total = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
    with read_database(root / "reckon.duckdb") as db:
        scope = dict(zip(("scope_runs", "coupled_runs", "runs"), db.execute(
            "SELECT (SELECT count(*) FROM scope_runs), (SELECT count(*) FROM coupled_runs), "
            "(SELECT count(*) FROM run_state)").fetchone(), strict=True))
        digest = findings_digest(db)
    return {"steps": clock.to_json(), "total": total, "peak_rss": clock.peak_rss(), "scope": scope,
            "findings": audit["findings"], "intents": audit["intents"], "digest": digest,
            "read_copy_bytes": (root / READ_COPY).stat().st_size}  # fmt: skip


def task_dagster(root: Path, args: dict) -> dict:
    wall, cpu = time.perf_counter(), cpu_seconds()
    import dagster as dg

    from pipelines.definitions import AUDIT_JOB, build_definitions

    clock = Clock()
    with timing_steps(clock):
        job = build_definitions(str(root)).resolve_job_def(AUDIT_JOB)
        load = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
        reset_peak_rss()
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
        run = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
    return {"load": load, "run": run, "success": bool(result.success), "steps": clock.to_json(),
            "peak_rss": clock.peak_rss()}  # fmt: skip


def task_report(root: Path, args: dict) -> dict:
    """The HTML report of the newest audit: written (wall, CPU, peak RSS), its bytes, and the
    seconds headless Chromium takes to load it and run its script (None without chromium)."""
    import shutil

    from reckon.workspace import Workspace
    from reports.html import publish_report

    reset_peak_rss()
    wall, cpu = time.perf_counter(), cpu_seconds()
    report = publish_report(Workspace.open(root))
    out = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu, "peak_rss": peak_rss_bytes(),
           "bytes": report.path.stat().st_size, "queue_shown": len(report.data.queue),
           "queue_total": report.data.queue_total, "browser_load": None}  # fmt: skip
    chromium = shutil.which("chromium")
    if chromium:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            started = time.perf_counter()
            page.goto(report.path.as_uri(), wait_until="load")
            page.wait_for_function("document.getElementById('queue-count') === null || "
                                   "document.getElementById('queue-count').textContent.includes(' of ')")
            out["browser_load"] = time.perf_counter() - started
            browser.close()
    return out


def task_bucket_steps(root: Path, args: dict) -> dict:
    """An audit in buckets' steps before its passes (`part: before`, the ingest done) or
    after them (`after`: the merge to the read copy, then the findings' digest)."""
    from pipelines.buckets import split_steps
    from pipelines.steps import AuditRun, audit_steps, run_step
    from reckon.workspace import Workspace

    ws, buckets = Workspace.open(root), args["buckets"]
    before, _, after = split_steps(audit_steps(ws.config, buckets, report=False))
    steps = [s for s in before if s.group != "snapshots"] if args["part"] == "before" else after
    reset_peak_rss()
    run = AuditRun(ws, buckets=buckets)
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        for step in steps:
            run_step(step, run)
    finally:
        run.close()
    out = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu, "peak_rss": peak_rss_bytes()}
    if args["part"] == "after":
        with read_database(ws.database) as db:
            out["digest"] = findings_digest(db)
    return out


def task_bucket_pass(root: Path, args: dict) -> dict:
    """One bucket's pass of one phase, alone in this process, as on a Dask worker."""
    from reckon import buckets
    from reckon.workspace import Workspace

    ws = Workspace.open(root)
    base = buckets.current(ws)
    reset_peak_rss()
    wall, cpu = time.perf_counter(), cpu_seconds()
    rows = buckets.run_pass(ws, base, args["phase"], args["buckets"], args["bucket"])
    written = sum(p.stat().st_size for p in (base / args["phase"]).glob(f"*/{args['bucket']}.parquet"))
    return {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu, "peak_rss": peak_rss_bytes(),
            "rows": rows, "bytes_written": written,
            "input_bytes": sum(p.stat().st_size for p in (base / "inputs").glob("*.parquet"))}  # fmt: skip


TASKS = {"generate": task_generate, "ingest": task_ingest, "audit": task_audit,
         "run_audit": task_run_audit, "dagster": task_dagster, "report": task_report,
         "bucket_steps": task_bucket_steps, "bucket_pass": task_bucket_pass}  # fmt: skip


def main(argv: list[str]) -> int:
    task, root, out = argv[0], Path(argv[1]), Path(argv[2])
    args = json.loads(argv[3]) if len(argv) > 3 else {}
    result = TASKS[task](root, args)
    out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
