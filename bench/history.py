"""What a scheduled audit costs as its history grows: one workspace audited day after day.

    python -m bench.history [--intents-per-day 20000] [--audits 60] [--workdir DIR]

Generates the first day, audits it, then lands and audits one more generated day at a time
(`pipelines.runner.run_audit`, every step timed), and prints, for a selection of audits,
the steps that read the history tables (`findings`, `reconciliation_metrics`,
`analyst_database`) and the whole audit, each the median of the last `WINDOW` audits up
to it (one audit's figure moves by seconds when DuckDB checkpoints), how many rows
`findings_history` and `lifecycle_events` hold by then, and the database file's size.
Every day adds the same intents, and their open findings stay open, so the workspace, the
findings and the history all grow; compare two versions' figures at the same audit.
Benchmark, not test: it prints figures and checks nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from bench.__main__ import land
from bench.generate import generate
from bench.probes import Clock, cpu_seconds, timing_steps
from pipelines.runner import run_audit
from reckon.workspace import Workspace

HISTORY_STEPS = ("findings:findings", "reports:reconciliation_metrics", "reports:analyst_database")
WINDOW = 5


def audit_once(ws: Workspace) -> dict:
    """One audit of `ws`, each step's wall seconds, the total wall and CPU seconds."""
    clock = Clock()
    wall, cpu = time.perf_counter(), cpu_seconds()
    with timing_steps(clock):
        run_audit(ws)
    return {"steps": {s.name: s.wall for s in clock.steps}, "wall": time.perf_counter() - wall,
            "cpu": cpu_seconds() - cpu}


def history_rows(ws: Workspace) -> tuple[int, int]:
    with duckdb.connect(str(ws.database), read_only=True) as con:
        return con.execute("SELECT (SELECT count(*) FROM findings_history), "
                           "(SELECT count(*) FROM lifecycle_events)").fetchone()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents-per-day", type=int, default=20_000)
    parser.add_argument("--audits", type=int, default=60, help="audits in all, one generated day each (<= 127)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reckon-history-"))
    root = workdir / "ws"
    shutil.rmtree(root, ignore_errors=True)
    generate(root, args.intents_per_day, days=1, seed=args.seed)
    ws = Workspace.open(root)
    shown = sorted({1, 2, 5, 10, 20, 40, 60, 90, 120, args.audits} & set(range(1, args.audits + 1)))
    print(f"{args.intents_per_day:,} intents a day, {args.audits} audits, in {workdir}")
    print(f"median of the last {WINDOW} audits up to each one shown")
    print("| audit | " + " | ".join(s.split(":")[1] for s in HISTORY_STEPS)
          + " | whole audit (CPU) | findings_history rows | lifecycle_events rows | reckon.duckdb |")
    print("| ---: |" + " ---: |" * (len(HISTORY_STEPS) + 4))
    audits: list[dict] = []
    for audit in range(1, args.audits + 1):
        if audit > 1:
            day = workdir / f"day{audit}"
            generate(day, args.intents_per_day, days=1, seed=args.seed, first_day=audit)
            land(day, root)
            shutil.rmtree(day)
        audits.append(audit_once(ws))
        if audit in shown:
            window = audits[-WINDOW:]
            history, lifecycle = history_rows(ws)
            steps = " | ".join(f"{statistics.median(a['steps'].get(s, 0) for a in window):.2f} s" for s in HISTORY_STEPS)
            wall, cpu = (statistics.median(a[key] for a in window) for key in ("wall", "cpu"))
            size = ws.database.stat().st_size / 1e6
            print(f"| {audit} | {steps} | {wall:.1f} s ({cpu:.1f} s) | {history:,} | {lifecycle:,} | {size:,.0f} MB |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
