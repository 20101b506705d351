"""Crash-safety harness: kill real audits with SIGKILL at seeded points, then rerun them.

Each audit runs in its own process (`tests/crash/probe.py`: the unchanged
`run_audit`, with step markers printed to stdout). The harness

1. audits a copy of a simulated workspace's `reckon.yaml` + `landing/` to completion:
   the reference, and the measured duration of every step;
2. kills audits with SIGKILL, on fresh copies of the same inputs and as a sequence of
   kills on one workspace, after seeded random delays drawn across the measured audit,
   then at seeded offsets inside any phase the random delays missed (snapshot writes,
   DuckDB writes, plan export, history append);
3. after every kill, before anything reruns, checks what a reader could see: every
   snapshot folder is complete (manifest + Parquet files that read), every visible
   export is a whole plan (the JSONL parses, its Parquet twin reads), and the DuckDB
   files open read-only;
4. reruns the audit to completion and compares it with the reference: findings,
   repair actions, plan files byte for byte, snapshot ids, one audit in the history.

The phase a kill hit is read from the step markers printed before the kill; the
`state` column is what was found on disk.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from simulator import simulate

PROBE = Path(__file__).with_name("probe.py")
PHASES = ("snapshot writes", "DuckDB writes", "plan export", "history append")
# The probe's markers (tests/crash/probe.py): a step group, or a step's own name.
DUCKDB_STEPS = ("models", "findings", "reconciliation_metrics")
STEP_PHASE = {
    "snapshots": "snapshot writes",
    **dict.fromkeys(DUCKDB_STEPS, "DuckDB writes"),
    "plan_exports": "plan export",
    "analyst_database": "history append",
    "read_copy": "read copy",
}
# Phase to aim at -> the marker that starts it. `snapshots` picks one source at random.
TARGETS = {
    "snapshot writes": "snapshots",
    "DuckDB writes": DUCKDB_STEPS,
    "plan export": "plan_exports",
    "history append": "analyst_database",
}

FINDINGS = ("SELECT finding_id, mismatch_type, subject_kind, subject_id FROM findings "
            "ORDER BY finding_id")
ACTIONS = ("SELECT action_id, idempotency_key, preconditions FROM repair_actions "
           "ORDER BY action_id")


class CrashSafetyError(AssertionError):
    """An invariant a reader relies on did not hold after a kill or a rerun."""


# --- running one audit ------------------------------------------------------------


@dataclass
class Event:
    t: float
    kind: str  # ready | start | end | replace | done
    step: str = ""
    arg: str = ""


@dataclass
class Run:
    events: list[Event]
    killed: bool
    kill_at: float | None  # monotonic time the signal was sent
    returncode: int
    stderr: str

    @property
    def ready(self) -> float:
        return next(e.t for e in self.events if e.kind == "ready")

    @property
    def done(self) -> float | None:
        return next((e.t for e in self.events if e.kind == "done"), None)

    def steps(self) -> list[tuple[str, str, float, float]]:
        """(step, arg, start, end) of every step that finished."""
        out, open_ = [], {}
        for e in self.events:
            if e.kind == "start":
                open_[(e.step, e.arg)] = e.t
            elif e.kind == "end" and (e.step, e.arg) in open_:
                out.append((e.step, e.arg, open_.pop((e.step, e.arg)), e.t))
        return out

    def position(self, n_sources: int) -> tuple[str, str]:
        """(phase, step) the process was in when it was killed, from its last marker."""
        if not self.killed:
            return "completed", "-"
        before = [e for e in self.events if e.t <= self.kill_at]
        if not before:
            return "startup", "imports"
        last = before[-1]
        if last.kind == "ready":
            return "startup", "lock"
        if last.kind == "done":
            return "finished", "exit"
        if last.kind == "replace":
            last = next(e for e in reversed(before) if e.kind == "start")
            return STEP_PHASE.get(last.step, last.step), f"{last.step} (after a rename)"
        if last.kind == "start":
            return STEP_PHASE.get(last.step, last.step), " ".join(filter(None, (last.step, last.arg)))
        # between two steps: what runs there is the next step's work, or a DuckDB open/close
        ingests = sum(1 for e in before if e.kind == "end" and e.step == "snapshots")
        if last.step == "snapshots" and ingests < n_sources:
            return "snapshot writes", "between sources"
        if last.step == "read_copy":
            return "finished", "unlock"
        if last.step == "plan_exports":
            return "DuckDB writes", "after export"
        if last.step == "analyst_database":
            return "DuckDB writes", "close + checkpoint"
        if last.step == "snapshots":
            return "DuckDB writes", "open database"
        return "DuckDB writes", f"after {last.step}"


@dataclass(frozen=True)
class KillAt:
    """Kill `delay` seconds after the marker `(kind, step)` (its `occurrence`-th match;
    `arg` narrows it). The default marker is `ready`: the audit has started."""

    delay: float
    kind: str = "ready"
    step: str = ""
    arg: str = ""
    occurrence: int = 1

    def describe(self) -> str:
        if self.kind == "ready":
            return f"{self.delay * 1000:6.1f} ms"
        where = " ".join(filter(None, (self.step, self.arg))) if self.kind == "start" else "1st rename"
        return f"{where} +{self.delay * 1000:.1f} ms"

    def matches(self, event: Event) -> bool:
        return (event.kind == self.kind and (not self.step or event.step == self.step)
                and (not self.arg or event.arg == self.arg))


def _parse(line: str) -> Event:
    parts = line.split()
    return Event(float(parts[0]), parts[1], *(parts[2:4]))


def run_audit_process(root: Path, kill: KillAt | None = None, timeout: float = 120.0) -> Run:
    """Run one audit in a subprocess; with `kill`, SIGKILL it at that point."""
    with (root.parent / f"{root.name}.stderr").open("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, str(PROBE), str(root)],
            stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
        )
        events: list[Event] = []
        kill_at = None
        try:
            if kill is not None:
                seen = 0
                for line in proc.stdout:
                    events.append(_parse(line))
                    if kill.matches(events[-1]):
                        seen += 1
                        if seen == kill.occurrence:
                            break
                else:  # the marker never came: the audit ended first
                    kill = None
            if kill is not None:
                deadline = events[-1].t + kill.delay
                while time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    kill_at = time.monotonic()
            rest, _ = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        events += [_parse(line) for line in rest.splitlines() if line.strip()]
        err.seek(0)
        stderr = err.read()
    killed = kill_at is not None and proc.returncode == -signal.SIGKILL
    if not killed and proc.returncode != 0:
        raise CrashSafetyError(f"audit of {root} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    return Run(events, killed, kill_at if killed else None, proc.returncode, stderr)


# --- what a reader sees -------------------------------------------------------------


def copy_inputs(src: Path, dst: Path) -> Path:
    """A new workspace with the same reckon.yaml and landing files (mtimes kept)."""
    dst.mkdir(parents=True)
    shutil.copy2(src / "reckon.yaml", dst / "reckon.yaml")
    shutil.copytree(src / "landing", dst / "landing")
    return dst


def snapshot_ids(root: Path) -> list[str]:
    return sorted(p.name.removeprefix("snapshot_id=")
                  for p in (root / "snapshots").glob("source=*/observed_date=*/snapshot_id=*"))


def inspect(root: Path, reference_snapshots: set[str]) -> str:
    """Check what a reader can see after a kill; return a one-line account of the state.

    Raises CrashSafetyError when a partial snapshot or export is visible, a snapshot
    is not one the clean run makes, or a database file does not open.
    """
    problems = []
    complete = 0
    for folder in sorted((root / "snapshots").glob("source=*/observed_date=*/snapshot_id=*")):
        manifest = folder / "_manifest.json"
        if not manifest.exists():
            problems.append(f"snapshot without manifest: {folder}")
            continue
        meta = json.loads(manifest.read_text())
        try:
            rows = pq.ParquetFile(folder / "data.parquet").read().num_rows
            pq.ParquetFile(folder / "quarantine.parquet").read()
        except Exception as exc:
            problems.append(f"snapshot {folder.name} does not read: {exc}")
            continue
        if rows != meta["rows"]:
            problems.append(f"snapshot {folder.name}: {rows} rows, manifest says {meta['rows']}")
        if meta["snapshot_id"] not in reference_snapshots:
            problems.append(f"snapshot {meta['snapshot_id']} is not one the clean run makes")
        complete += 1
    staging = list((root / "snapshots" / ".staging").glob("*"))

    exports = root / "exports"
    plans, tmp = [], []
    for path in sorted(exports.glob("*")) if exports.exists() else []:
        if path.name.startswith("."):
            tmp.append(path.name)  # hidden temp files are never read by executors
            continue
        if path.suffix == ".jsonl":
            if not path.with_suffix(".parquet").exists():
                problems.append(f"export {path.name} is visible without its Parquet twin: the pair must "
                                "appear whole (write both, rename the Parquet file first, the JSONL last)")
                continue
            try:
                lines = [json.loads(line) for line in path.read_text().splitlines()]
                twin = pq.ParquetFile(path.with_suffix(".parquet")).read().num_rows
            except Exception as exc:
                problems.append(f"export {path.name} is not a whole plan: {exc}")
                continue
            if twin != len(lines):
                problems.append(f"export {path.name}: {len(lines)} lines, Parquet twin {twin} rows")
            plans.append("jsonl")
        elif path.suffix == ".parquet":
            try:
                pq.ParquetFile(path).read()
            except Exception as exc:
                problems.append(f"export {path.name} does not read: {exc}")
            plans.append("parquet")
        elif path.name.startswith("operator-queue-") and path.suffix == ".csv":
            text = path.read_bytes().decode("utf-8-sig")  # keep the \r\n line ends
            rows = list(csv.reader(io.StringIO(text, newline="")))
            if not rows or rows[0][:1] != ["finding_id"] or not text.endswith("\r\n") \
                    or any(len(r) != len(rows[0]) for r in rows):
                problems.append(f"export {path.name} is not a whole CSV")
            plans.append("csv")
        elif path.name.startswith("report-") and path.suffix == ".html":
            if not path.read_text(encoding="utf-8").rstrip().endswith("</html>"):
                problems.append(f"export {path.name} is not a whole report")
            plans.append("html")
        else:
            problems.append(f"unexpected file in exports/: {path.name}")

    db = "-"
    history = "-"
    database = root / "reckon.duckdb"
    if database.exists():
        try:
            with duckdb.connect(str(database), read_only=True) as con:
                tables = {r[0] for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
                db = f"{len(tables)} tables"
                if "findings_history" in tables:
                    n, audits = con.execute(
                        "SELECT count(*), count(DISTINCT audit_id) FROM findings_history").fetchone()
                    history = f"{n} rows/{audits} audits"
        except duckdb.Error as exc:
            problems.append(f"reckon.duckdb does not open: {exc}")
            db = "BROKEN"
        if (root / "reckon.duckdb.wal").exists():
            db += "+wal"
    read_copy = root / "reckon-read.duckdb"
    if read_copy.exists():
        try:
            with duckdb.connect(str(read_copy), read_only=True) as con:
                con.execute("SELECT count(*) FROM audits").fetchone()
        except duckdb.Error as exc:
            problems.append(f"reckon-read.duckdb does not open: {exc}")
    if problems:
        raise CrashSafetyError("\n".join(problems))
    export_state = "+".join(sorted(plans)) or "-"
    if tmp:
        export_state += f" tmp{len(tmp)}"
    return (f"snaps {complete}/{len(reference_snapshots)}"
            + (f" staging{len(staging)}" if staging else "")
            + f" | db {db} | hist {history} | exports {export_state}"
            + (" | read copy" if read_copy.exists() else ""))


@dataclass
class Result:
    findings: list[tuple]
    actions: list[tuple]
    findings_full: list[tuple]
    actions_full: list[tuple]
    plan_files: dict[str, bytes]
    snapshot_ids: list[str]
    history: tuple  # (rows, distinct audits, distinct finding ids)
    audits: int
    leftovers: list[str]


def collect(root: Path) -> Result:
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        findings = con.execute(FINDINGS).fetchall()
        actions = con.execute(ACTIONS).fetchall()
        findings_full = con.execute("SELECT * FROM findings ORDER BY finding_id").fetchall()
        actions_full = con.execute("SELECT * FROM repair_actions ORDER BY action_id").fetchall()
        history = con.execute(
            "SELECT count(*), count(DISTINCT audit_id), count(DISTINCT finding_id) FROM findings_history"
        ).fetchone()
        audits = con.execute("SELECT count(*) FROM audits").fetchone()[0]
    plan_files = {p.name: p.read_bytes() for p in sorted((root / "exports").glob("*")) if p.is_file()}
    leftovers = [str(p.relative_to(root)) for p in
                 [*(root / "snapshots" / ".staging").glob("*"), *root.glob(".reckon-read.duckdb.*.tmp")]]
    return Result(findings, actions, findings_full, actions_full, plan_files, snapshot_ids(root),
                  history, audits, leftovers)


def compare(got: Result, ref: Result) -> list[str]:
    """Differences between a rerun and the clean run (empty: identical)."""
    diffs = []
    if got.findings != ref.findings:
        diffs.append(f"findings differ ({len(got.findings)} vs {len(ref.findings)})")
    if got.actions != ref.actions:
        diffs.append(f"repair actions differ ({len(got.actions)} vs {len(ref.actions)})")
    if got.findings_full != ref.findings_full:
        diffs.append("findings rows (all columns) differ")
    if got.actions_full != ref.actions_full:
        diffs.append("repair action rows (all columns) differ")
    if got.plan_files != ref.plan_files:
        diffs.append(f"plan files differ: {sorted(got.plan_files)} vs {sorted(ref.plan_files)} "
                     f"(bytes equal: {[got.plan_files.get(k) == v for k, v in ref.plan_files.items()]})")
    if got.snapshot_ids != ref.snapshot_ids:
        diffs.append(f"snapshot ids differ: {got.snapshot_ids} vs {ref.snapshot_ids}")
    if got.history != (len(ref.findings), 1, len(ref.findings)):
        diffs.append(f"findings_history holds {got.history}, expected one audit of {len(ref.findings)}")
    if got.audits != 1:
        diffs.append(f"audits holds {got.audits} rows")
    if got.leftovers:
        diffs.append(f"leftovers after a completed rerun: {got.leftovers}")
    return diffs


# --- the harness --------------------------------------------------------------------


@dataclass
class Kill:
    number: int
    scenario: str  # "fresh" (own copy of the inputs) or "reuse" (one workspace, in sequence)
    at: str
    phase: str
    step: str
    state: str


@dataclass
class Report:
    seed: int
    runs: int
    reference_seconds: float
    kills: list[Kill] = field(default_factory=list)
    completed_before_kill: int = 0
    reruns: int = 0
    reruns_identical: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def phase_counts(self) -> Counter:
        return Counter(k.phase for k in self.kills)

    def table(self) -> str:
        lines = [f"crash harness: seed {self.seed}, {self.runs} simulated runs, clean audit "
                 f"{self.reference_seconds * 1000:.0f} ms",
                 f"{'#':>3}  {'where':8} {'kill at':34} {'phase':16} {'step':28} state found"]
        lines += [f"{k.number:>3}  {k.scenario:8} {k.at:34} {k.phase:16} {k.step[:28]:28} {k.state}"
                  for k in self.kills]
        counts = ", ".join(f"{p}: {self.phase_counts().get(p, 0)}" for p in PHASES)
        other = {p: n for p, n in self.phase_counts().items() if p not in PHASES}
        lines.append(f"kills {len(self.kills)} ({counts}; other {dict(other) or 0}); "
                     f"runs that finished before their kill {self.completed_before_kill}; "
                     f"reruns identical to the clean run {self.reruns_identical}/{self.reruns}; "
                     f"{self.seconds:.1f} s")
        return "\n".join(lines)


class Harness:
    def __init__(self, base: Path, seed: int, runs: int = 250, sim_seed: int = 7) -> None:
        self.base = base
        self.rng = random.Random(seed)
        self.inputs = simulate(base / "inputs", runs=runs, seed=sim_seed).workspace
        self.n_sources = 0
        self.count = 0
        self.report = Report(seed, runs, 0.0)
        started = time.monotonic()
        reference_root = copy_inputs(self.inputs, base / "reference")
        self.reference_run = run_audit_process(reference_root)
        self.reference = collect(reference_root)
        self.reference_snapshots = set(self.reference.snapshot_ids)
        self.report.reference_seconds = self.reference_run.done - self.reference_run.ready
        self.durations = {}  # (step, arg) -> seconds, from the clean run
        for step, arg, start, end in self.reference_run.steps():
            self.durations[(step, arg)] = end - start
        self.sources = [arg for step, arg in self.durations if step == "snapshots"]
        self.n_sources = len(self.sources)
        self.started = started

    # one kill ----------------------------------------------------------------------

    def _kill(self, root: Path, scenario: str, at: KillAt) -> Kill | None:
        before = set(snapshot_ids(root))
        run = run_audit_process(root, at)
        if not run.killed:
            self.report.completed_before_kill += 1
            return None
        phase, step = run.position(self.n_sources)
        if phase == "snapshot writes" and before >= self.reference_snapshots:
            phase, step = "snapshot scan", f"{step} (all snapshots exist)"
        try:
            state = inspect(root, self.reference_snapshots)
        except CrashSafetyError as exc:
            self.report.failures.append(f"kill #{self.count + 1} ({scenario}, {at.describe()}, {phase}): {exc}")
            state = "INVARIANT BROKEN"
        self.count += 1
        kill = Kill(self.count, scenario, at.describe(), phase, step, state)
        self.report.kills.append(kill)
        return kill

    def _rerun_and_compare(self, root: Path, label: str) -> None:
        run_audit_process(root)
        self.report.reruns += 1
        diffs = compare(collect(root), self.reference)
        if diffs:
            self.report.failures.append(f"rerun after {label}: " + "; ".join(diffs))
        else:
            self.report.reruns_identical += 1

    def random_point(self, span: float) -> KillAt:
        return KillAt(delay=self.rng.uniform(0.0, span))

    def aimed_point(self, phase: str, shrink: float = 1.0) -> KillAt:
        """A seeded point inside `phase`: after its starting marker, within the clean
        run's duration of that step (scaled by `shrink` to land earlier on retries)."""
        target = TARGETS[phase]
        if target == "snapshots":
            arg = self.rng.choice(self.sources)
            step = "snapshots"
        else:
            step = self.rng.choice(target) if isinstance(target, tuple) else target
            arg = self.rng.choice([a for s, a in self.durations if s == step])
        duration = self.durations[(step, arg)]
        return KillAt(delay=self.rng.uniform(0.0, 0.8 * duration * shrink), kind="start", step=step, arg=arg)

    # scenarios ---------------------------------------------------------------------

    def fresh_kills(self, n: int, span: float) -> None:
        """`n` kills, each on its own copy of the inputs, each followed by a rerun."""
        killed = attempts = 0
        while killed < n and attempts < 2 * n:
            attempts += 1
            root = copy_inputs(self.inputs, self.base / f"fresh-{self.count + 1:02d}-{self.rng.randrange(10**6)}")
            if self._kill(root, "fresh", self.random_point(span)) is not None:
                killed += 1
                self._rerun_and_compare(root, f"kill #{self.count}")
            shutil.rmtree(root)

    def reused_kills(self, n: int, span: float) -> None:
        """`n` kills in sequence on one workspace (audits that finish in between are kept),
        then one rerun to completion."""
        root = copy_inputs(self.inputs, self.base / "reused")
        killed = attempts = 0
        while killed < n and attempts < 3 * n:
            attempts += 1
            if self._kill(root, "reuse", self.random_point(span)) is not None:
                killed += 1
        self._rerun_and_compare(root, f"{killed} kills on one workspace")
        shutil.rmtree(root)

    def aimed_kill(self, at: KillAt) -> Kill | None:
        """One kill at `at` on a fresh copy, then a rerun."""
        root = copy_inputs(self.inputs, self.base / f"aimed-{self.count + 1:02d}-{self.rng.randrange(10**6)}")
        kill = self._kill(root, "aimed", at)
        if kill is not None:
            self._rerun_and_compare(root, f"kill #{self.count}")
        shutil.rmtree(root)
        return kill

    def cover_phases(self, attempts: int = 6) -> None:
        """Aim kills (fresh copies) at the moment the plan files are renamed into place,
        one after the other, then at each phase the random delays missed."""
        self.aimed_kill(KillAt(delay=0.0, kind="replace"))
        for phase in PHASES:
            for attempt in range(attempts):
                if self.report.phase_counts().get(phase):
                    break
                self.aimed_kill(self.aimed_point(phase, shrink=1.0 / (attempt + 1)))

    def run(self, fresh: int = 12, reused: int = 10) -> Report:
        span = self.report.reference_seconds
        self.fresh_kills(fresh, span)
        self.reused_kills(reused, span)
        self.cover_phases()
        self.report.seconds = time.monotonic() - self.started
        return self.report


def main() -> None:  # pragma: no cover - for running the harness by hand
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--runs", type=int, default=250)
    parser.add_argument("--fresh", type=int, default=12)
    parser.add_argument("--reused", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Harness(Path(tmp), args.seed, args.runs).run(args.fresh, args.reused)
    print(report.table())
    for failure in report.failures:
        print("FAIL", failure)
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
