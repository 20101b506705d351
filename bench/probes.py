"""Clocks and memory probes for the benchmark: wall and CPU time per step, peak RSS.

CPU time (user + system of the whole process, all DuckDB threads included) is
reported beside wall time because a shared machine stretches wall time; peak RSS is
the kernel's high-water mark (VmHWM), which can be reset between phases.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path


def cpu_seconds() -> float:
    """CPU of this process and of its children that have ended (a snapshot's file-reading
    workers, reckon/file_reads.py): a difference of two readings is a step's CPU."""
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def children_peak_rss_bytes() -> int:
    """The largest peak resident set of any child that has ended so far (0: none)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """The process's peak resident set (VmHWM), else ru_maxrss."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: `5` into clear_refs); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Step:
    name: str
    wall: float
    cpu: float
    rows: int | None = None
    peak_rss: int | None = None  # the process's peak resident set during the step
    written_bytes: int | None = None  # the analyst copy's: the bytes written of it (reckon/read_copy.py)
    compared_by: str | None = None  # and how its blocks were compared: digests, bytes, none (whole)
    start: float | None = None  # perf_counter at its start: steps run side by side overlap (the snapshots)


@dataclass
class Clock:
    """Timed steps, in the order they ran."""

    steps: list[Step] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        measured = reset_peak_rss()
        wall, cpu = time.perf_counter(), cpu_seconds()
        entry = Step(name, 0.0, 0.0, start=wall)
        try:
            yield entry
        finally:
            entry.wall = time.perf_counter() - wall
            entry.cpu = cpu_seconds() - cpu
            entry.peak_rss = peak_rss_bytes() if measured else None
            self.steps.append(entry)

    def total(self, prefix: str = "") -> tuple[float, float]:
        chosen = [s for s in self.steps if s.name.startswith(prefix)]
        return sum(s.wall for s in chosen), sum(s.cpu for s in chosen)

    def peak_rss(self) -> int:
        """The peak resident set since the clock's first step (each step resets the
        kernel's high-water mark, so it is the largest of theirs and the one since)."""
        return max([peak_rss_bytes()] + [s.peak_rss for s in self.steps if s.peak_rss is not None])

    def to_json(self) -> list[dict]:
        return [asdict(s) for s in self.steps]


@contextmanager
def timing_steps(clock: Clock) -> Iterator[None]:
    """Time every step any runner runs (`pipelines.steps` hooks) as `<group>:<name>`, with
    its row count, while inside."""
    from pipelines.steps import add_hook

    @contextmanager
    def hook(step, run, metadata: dict) -> Iterator[None]:
        with clock.step(f"{step.group}:{step.name}") as entry:
            yield
            rows, written, compared = (metadata.get(k) for k in ("rows", "written_bytes", "compared_by"))
            entry.rows = rows if isinstance(rows, int) else None
            entry.written_bytes = written if isinstance(written, int) else None
            entry.compared_by = compared if isinstance(compared, str) else None

    undo = add_hook(hook)
    try:
        yield
    finally:
        undo()


def hardware() -> dict:
    mem_kb = None
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb

    return {
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "cpu": model,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load": [round(x, 2) for x in os.getloadavg()],
    }
