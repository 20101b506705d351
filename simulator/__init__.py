"""Seeded, reproducible demo workspaces with ground-truth labels.

`simulate(workspace, runs, seed)` writes `reckon.yaml` and `landing/` exports (workflow
log, Stripe, SendGrid, HubSpot, Zendesk) into the workspace, and the expected
findings beside it: `<name>.labels.jsonl` (one line per finding) and
`<name>.scenarios.jsonl` (one line per run: its scenario, and why it must enter
reconciliation with the verdict it must get). Operators' flags go to `flags/`. The same (runs, seed) gives
byte-identical files: one `random.Random(seed)`, no wall clock, sorted keys, and
every file's mtime set to the simulated export time.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulator.conventions import Conventions
from simulator.events import write_events
from simulator.flags import write_flags
from simulator.hubspot import write_hubspot
from simulator.output import Output, jsonl_bytes
from simulator.runs import CONFIG_PATH
from simulator.scenarios import SCENARIOS, allocate, background, label_suspicious
from simulator.sendgrid import write_sendgrid
from simulator.stripe import write_stripe
from simulator.world import World
from simulator.zendesk import write_zendesk

BASE_EXPORT_TIME = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
WRITERS = (write_events, write_stripe, write_sendgrid, write_hubspot, write_zendesk, write_flags)


@dataclass(frozen=True)
class SimulationResult:
    workspace: Path
    labels_path: Path
    scenarios_path: Path
    runs: dict[str, int]  # scenario -> count (F19, the orphan effects, is not a run)
    export_time: datetime
    files: tuple[Path, ...]  # every file written, labels included

    @property
    def run_count(self) -> int:
        return sum(n for name, n in self.runs.items() if name != "F19")

    def summary(self) -> str:
        """A few lines for a command line to print."""
        faulty = sum(n for name, n in self.runs.items() if name.startswith("F") and name != "F19")
        mix = ", ".join(f"{name}:{n}" for name, n in self.runs.items())
        return "\n".join(
            [
                f"workspace   {self.workspace}",
                f"exported at {self.export_time.strftime('%Y-%m-%dT%H:%M:%SZ')}",
                f"runs        {self.run_count} ({faulty} with faults, plus orphan effects: "
                f"{'yes' if 'F19' in self.runs else 'no'})",
                f"scenarios   {mix}",
                f"labels      {self.labels_path}",
            ]
        )


def labels_paths(workspace: Path) -> tuple[Path, Path]:
    """Where the labels and the scenario list of a workspace go: beside it, not inside."""
    workspace = Path(workspace).resolve()
    return (
        workspace.parent / f"{workspace.name}.labels.jsonl",
        workspace.parent / f"{workspace.name}.scenarios.jsonl",
    )


def simulate(workspace: Path, runs: int, seed: int, conventions: Conventions | None = None) -> SimulationResult:
    """Write a demo workspace of `runs` runs (plus the F19 orphans) for `seed`, its runtime
    and vendors following `conventions` (the labels do not depend on them)."""
    if runs < 0:
        raise ValueError(f"runs must be >= 0, got {runs}")
    conventions = conventions or Conventions()
    workspace = Path(workspace).resolve()
    rng = random.Random(seed)
    export_time = BASE_EXPORT_TIME + timedelta(days=rng.randrange(10))
    world = World(rng, export_time, conventions)
    order = allocate(runs, rng)
    background(world, runs)
    for name in order:
        SCENARIOS[name](world, name)
    label_suspicious(world)

    out = Output(workspace)
    out.clear()
    out.write("reckon.yaml", conventions.config(CONFIG_PATH.read_text(encoding="utf-8")).encode())
    for writer in WRITERS:
        writer(world, out)
    labels_path, scenarios_path = labels_paths(workspace)
    out.write(labels_path, jsonl_bytes(world.labels))
    out.write(scenarios_path, jsonl_bytes(world.runs))
    out.stamp(export_time)

    counts = Counter(order)
    return SimulationResult(
        workspace=workspace,
        labels_path=labels_path,
        scenarios_path=scenarios_path,
        runs={name: counts[name] for name in SCENARIOS if name in counts},
        export_time=export_time,
        files=tuple(out.files),
    )


__all__ = ["Conventions", "SimulationResult", "labels_paths", "simulate"]
