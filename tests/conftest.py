"""Shared fixtures: simulated workspaces, audited once per test session and seed."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

from pipelines.runner import run_audit
from reckon.database import search_internal
from reckon.workspace import Workspace
from simulator import Conventions, SimulationResult, simulate

# `make test` (CI) is deterministic: every property test draws the same cases on every run,
# so a failing case fails every time; `make fuzz` explores new ones (tests/fuzz/conftest.py).
settings.register_profile("deterministic", derandomize=True)
settings.load_profile("deterministic")


@dataclass
class Audited:
    sim: SimulationResult
    ws: Workspace
    audit: dict

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.ws.database), read_only=True) as con:
            search_internal(con)
            return con.execute(sql, params or []).fetchall()

    def labels(self) -> set[tuple[str, str, str]]:
        lines = self.sim.labels_path.read_text().splitlines()
        return {(d["subject_kind"], d["subject_id"], d["mismatch_type"]) for d in map(json.loads, lines)}

    def scenarios(self) -> list[dict]:
        return [json.loads(line) for line in self.sim.scenarios_path.read_text().splitlines()]


def simulate_and_audit(root: Path, runs: int, seed: int, conventions: Conventions | None = None) -> Audited:
    sim = simulate(root, runs=runs, seed=seed, conventions=conventions)
    ws = Workspace.open(root)
    return Audited(sim, ws, run_audit(ws))


@pytest.fixture(scope="session")
def audited(tmp_path_factory):
    """`audited(seed, runs)`: a simulated workspace after one audit (cached per session)."""
    cache: dict[tuple[int, int], Audited] = {}

    def get(seed: int, runs: int = 120) -> Audited:
        if (seed, runs) not in cache:
            root = tmp_path_factory.mktemp(f"seed{seed}-runs{runs}") / "ws"
            cache[(seed, runs)] = simulate_and_audit(root, runs, seed)
        return cache[(seed, runs)]

    return get


@pytest.fixture
def fresh_copy(tmp_path):
    """Copy a workspace's config, landing files and operator files (decisions, flags: inputs
    of the audit too), not its snapshots, into a new folder."""

    def copy(src: Workspace, name: str = "copy") -> Workspace:
        dst = tmp_path / name
        dst.mkdir()
        shutil.copy2(src.root / "reckon.yaml", dst / "reckon.yaml")
        shutil.copytree(src.landing, dst / "landing")
        for folder in ("decisions", "flags"):
            if (src.root / folder).is_dir():
                shutil.copytree(src.root / folder, dst / folder)
        return Workspace.open(dst)

    return copy
