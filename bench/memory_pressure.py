"""A large audit under a low DuckDB memory limit: does it spill and complete?

    .venv/bin/python -m bench.memory_pressure --runs 200000 --memory-limit 1GB

Simulates a workspace (`simulator`, in a child process so its memory does not
count), sets `policies.duckdb.memory_limit` / `threads` in its reckon.yaml, runs
`pipelines.runner.run_audit` in this process and prints:

- wall time of the audit (and of the simulation);
- peak RSS of this process (`VmHWM` in /proc/self/status: Python + DuckDB);
- temp bytes: the most DuckDB held in its temp directory (`<workspace>/.duckdb_tmp`),
  both as DuckDB reports it (`duckdb_temporary_files()` and `duckdb_memory()`, read
  after every step of the audit, a `pipelines.steps` hook) and as a thread polling the
  folder sees it;
- the audit's row counts.

With `--workspace DIR` an existing simulated workspace is reused (its snapshots and
database are removed first, so every run audits from scratch).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from pipelines.runner import run_audit
from pipelines.steps import add_hook
from reckon import database, read_copy
from reckon.workspace import Workspace


def vm_hwm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def folder_bytes(folder: Path) -> int:
    try:
        return sum(e.stat().st_size for e in os.scandir(folder) if e.is_file())
    except (FileNotFoundError, OSError):
        return 0


class TempWatch:
    """Peak temp-directory use, from DuckDB's own tables and from the file system."""

    def __init__(self, folder: Path, every: float = 0.05) -> None:
        self.folder = folder
        self.every = every
        self.polled = 0
        self.reported_files = 0
        self.reported_spill = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            self.polled = max(self.polled, folder_bytes(self.folder))

    def after_step(self, con) -> None:
        files = con.execute("SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()").fetchone()[0]
        spill = con.execute("SELECT coalesce(sum(temporary_storage_bytes), 0) FROM duckdb_memory()").fetchone()[0]
        self.reported_files = max(self.reported_files, int(files))
        self.reported_spill = max(self.reported_spill, int(spill))

    @contextmanager
    def hook(self, step, run, metadata) -> Iterator[None]:
        """A step hook: DuckDB's own figures, read after every step that ran on the database."""
        yield
        if step.database == "open":
            self.after_step(run.con)

    def __enter__(self) -> TempWatch:
        self._undo = add_hook(self.hook)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._undo()

    @property
    def peak(self) -> int:
        return max(self.polled, self.reported_files, self.reported_spill)


def simulate_in_child(root: Path, runs: int, seed: int) -> float:
    started = time.perf_counter()
    code = ("import sys; from simulator import simulate; "
            "simulate(sys.argv[1], runs=int(sys.argv[2]), seed=int(sys.argv[3]))")
    subprocess.run([sys.executable, "-c", code, str(root), str(runs), str(seed)], check=True)
    return time.perf_counter() - started


def set_policies(root: Path, memory_limit: str, threads: int) -> None:
    path = root / "reckon.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.setdefault("policies", {})["duckdb"] = {"memory_limit": memory_limit, "threads": threads}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def reset(root: Path) -> None:
    """Remove what an audit writes, keeping reckon.yaml and landing/."""
    for name in ("snapshots", "exports", ".duckdb_tmp"):
        shutil.rmtree(root / name, ignore_errors=True)
    copies = read_copy.files(root / database.READ_COPY)
    for path in (root / "reckon.duckdb", root / "reckon.duckdb.wal", *copies, *map(read_copy.digests_path, copies[1:])):
        path.unlink(missing_ok=True)


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workspace", type=Path, help="reuse (or create) this simulated workspace")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    scratch = None
    if args.workspace is None:
        scratch = tempfile.TemporaryDirectory(prefix="reckon-mem-")
        root = Path(scratch.name) / "ws"
    else:
        root = args.workspace.resolve()
    try:
        simulated = 0.0
        if not (root / "reckon.yaml").exists():
            simulated = simulate_in_child(root, args.runs, args.seed)
        reset(root)
        set_policies(root, args.memory_limit, args.threads)
        landing = sum(p.stat().st_size for p in (root / "landing").rglob("*") if p.is_file())

        ws = Workspace.open(root)
        started = time.perf_counter()
        error = None
        audit: dict = {}
        with TempWatch(root / ".duckdb_tmp") as watch:
            try:
                audit = run_audit(ws)
            except Exception as exc:  # report, do not hide: the point is whether it completes
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        wall = time.perf_counter() - started
        figures = {
            "runs": args.runs,
            "memory_limit": args.memory_limit,
            "threads": args.threads,
            "landing_bytes": landing,
            "simulate_seconds": round(simulated, 1),
            "audit_seconds": round(wall, 1),
            "completed": error is None,
            "error": error,
            "peak_rss_bytes": vm_hwm_bytes(),
            "temp_bytes_peak": watch.peak,
            "temp_bytes_polled": watch.polled,
            "temp_files_reported": watch.reported_files,
            "spill_reported": watch.reported_spill,
            "database_bytes": ws.database.stat().st_size if ws.database.exists() else 0,
            **{k: audit.get(k) for k in ("runs", "intents", "observed_objects", "findings", "repair_actions",
                                         "quarantined")},
        }
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"audit of {args.runs:,} simulated runs ({mib(landing)} of landing files), "
                  f"memory_limit {args.memory_limit}, threads {args.threads}")
            print(f"  completed       {'yes' if error is None else 'NO: ' + error}")
            print(f"  wall time       {wall:,.1f} s (simulation {simulated:,.1f} s)")
            print(f"  peak RSS        {mib(figures['peak_rss_bytes'])} (VmHWM)")
            print(f"  temp bytes      {mib(watch.peak)} peak (polled {mib(watch.polled)}, "
                  f"duckdb_temporary_files {mib(watch.reported_files)}, duckdb_memory {mib(watch.reported_spill)})")
            print(f"  database        {mib(figures['database_bytes'])}")
            if audit:
                print(f"  rows            {audit['runs']:,} runs, {audit['intents']:,} intents, "
                      f"{audit['observed_objects']:,} objects, {audit['findings']:,} findings, "
                      f"{audit['repair_actions']:,} actions, {audit['quarantined']:,} quarantined")
        return 0 if error is None else 1
    finally:
        if scratch is not None:
            scratch.cleanup()


if __name__ == "__main__":
    sys.exit(main())
