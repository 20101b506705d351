"""One measured phase of the benchmark, run in a child process of its own.

`python -m bench.child TASK ROOT OUT [JSON args]` runs TASK on the workspace ROOT and
writes its figures to OUT as JSON. A fresh process per phase keeps one phase's memory
(the generator's DuckDB, a connector's buffers) out of the next phase's peak RSS.

Tasks: generate, ingest, audit (full audit steps, then the floor), run_audit (the whole
`reckon.audit.run_audit`, e.g. an incremental audit), dagster (the Dagster audit job
in-process, every engine step timed inside it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.probes import Clock, cpu_seconds, instrument_engine, peak_rss_bytes, reset_peak_rss


def task_generate(root: Path, args: dict) -> dict:
    from bench.generate import generate

    result = generate(root, **args)
    out = result.to_json()
    out.pop("files", None)
    out["peak_rss"] = peak_rss_bytes()
    return out


def task_ingest(root: Path, args: dict) -> dict:
    from reckon import engine
    from reckon.workspace import Workspace

    ws = Workspace.open(root)
    sources = []
    for source in ws.config.sources:
        files = ws.landing_files(source.paths)
        reset_peak_rss()
        wall, cpu = time.perf_counter(), cpu_seconds()
        snap = engine.ingest(ws, source.name)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        sources.append({
            "source": source.name, "connector": source.connector, "wall": wall, "cpu": cpu,
            "bytes": sum(p.stat().st_size for p in files), "files": len(files),
            "rows": snap.rows if snap else 0, "quarantined": snap.quarantined if snap else 0,
            "peak_rss": peak_rss_bytes(),
        })  # fmt: skip
    return {"sources": sources}


def task_audit(root: Path, args: dict) -> dict:
    """The audit's steps after ingest, in `run_audit`'s order, each timed; then the floor."""
    from datetime import UTC, datetime

    import duckdb

    from bench.floor import run_floor
    from reckon import engine
    from reckon.workspace import Workspace
    from reports.plan_export import export_plan

    ws = Workspace.open(root)
    clock = Clock()
    reset_peak_rss()
    started = datetime.now(UTC)
    wall, cpu = time.perf_counter(), cpu_seconds()
    with clock.step("connect"):
        opened = engine.connect(ws)
        con = opened.__enter__()
    try:
        with clock.step("prepare"):
            engine.prepare(con, ws)
        for layer in engine.LAYERS:
            with clock.step(f"layer:{layer.name}") as step:
                step.rows = engine.build_layer(con, layer)
        with clock.step("layer:commit") as step:
            step.rows = engine.commit_layers(con)
        with clock.step("findings") as step:
            step.rows = engine.detect_findings(con)
        with clock.step("plan") as step:
            step.rows = engine.plan_repairs(con)
        with clock.step("export_plan"):
            export_plan(con, ws.exports)
        with clock.step("metrics") as step:
            step.rows = engine.compute_metrics(con)
        with clock.step("publish"):
            audit = engine.publish(con, started)
    finally:
        with clock.step("close"):
            opened.__exit__(None, None, None)
    with clock.step("publish_read_copy"):
        engine.publish_read_copy(ws)
    total = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
    audit_peak = peak_rss_bytes()
    with duckdb.connect(str(ws.database), read_only=True) as db:
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


def findings_digest(db) -> str:
    """One hash of every finding's id and state: equal digests, equal findings."""
    return db.execute("SELECT md5(coalesce(string_agg(finding_id || state_hash, ',' ORDER BY finding_id), '')) "
                      "FROM findings").fetchone()[0]


def task_run_audit(root: Path, args: dict) -> dict:
    """`run_audit` timed (an incremental audit; with `buckets`, a full audit in buckets)."""
    import duckdb

    from reckon.audit import run_audit
    from reckon.workspace import Workspace

    clock = Clock()
    undo = instrument_engine(clock)
    reset_peak_rss()
    try:
        wall, cpu = time.perf_counter(), cpu_seconds()
        audit = run_audit(Workspace.open(root), buckets=args.get("buckets", 1))
        total = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
    finally:
        undo()
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as db:
        scope = dict(zip(("scope_runs", "spill_runs", "runs"), db.execute(
            "SELECT (SELECT count(*) FROM scope_runs), (SELECT count(*) FROM spill_runs), "
            "(SELECT count(*) FROM run_state)").fetchone(), strict=True))
        digest = findings_digest(db)
    return {"steps": clock.to_json(), "total": total, "peak_rss": peak_rss_bytes(), "scope": scope,
            "findings": audit["findings"], "intents": audit["intents"], "digest": digest}  # fmt: skip


def task_dagster(root: Path, args: dict) -> dict:
    wall, cpu = time.perf_counter(), cpu_seconds()
    import dagster as dg

    from pipelines.definitions import AUDIT_JOB, build_definitions

    clock = Clock()
    undo = instrument_engine(clock)
    try:
        job = build_definitions(str(root)).resolve_job_def(AUDIT_JOB)
        load = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
        reset_peak_rss()
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
        run = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
    finally:
        undo()
    return {"load": load, "run": run, "success": bool(result.success), "steps": clock.to_json(),
            "peak_rss": peak_rss_bytes()}  # fmt: skip


TASKS = {"generate": task_generate, "ingest": task_ingest, "audit": task_audit,
         "run_audit": task_run_audit, "dagster": task_dagster}  # fmt: skip


def main(argv: list[str]) -> int:
    task, root, out = argv[0], Path(argv[1]), Path(argv[2])
    args = json.loads(argv[3]) if len(argv) > 3 else {}
    result = TASKS[task](root, args)
    out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
