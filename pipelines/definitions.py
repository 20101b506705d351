"""`defs`: what `dagster dev -w workspace.yaml` / `dg dev` loads.

The asset graph follows the workspace's reckon.yaml ($RECKON_WORKSPACE, else ./workspace);
before a workspace exists it follows the demo configuration, so the graph is always visible.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.assets import build_assets
from pipelines.automation import hourly_schedule, landing_sensor
from pipelines.buckets import bucket_jobs, phases_sensor
from pipelines.checks import build_checks
from pipelines.resources import ReckonWorkspace, default_root
from pipelines.steps import audit_steps
from reckon.config import CONFIG_FILE, Config, load_config
from reckon.locking import DEFAULT_TIMEOUT

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "simulator"
AUDIT_JOB = "audit"


def _config(root: Path) -> Config:
    return load_config(root if (root / CONFIG_FILE).exists() else DEMO_CONFIG)


def build_definitions(root: str | None = None, lock_timeout: float = DEFAULT_TIMEOUT) -> dg.Definitions:
    """The definitions for the workspace at `root`; a run waits up to `lock_timeout` seconds
    for another audit's workspace lock."""
    root = root or default_root()
    config = _config(Path(root))
    workspace = ReckonWorkspace(root=str(Path(root).resolve()), lock_timeout_seconds=lock_timeout)
    common = {
        "assets": build_assets(config),
        "asset_checks": build_checks(config),
        "resources": {"workspace": workspace, "bucket_workspace": workspace.model_copy(update={"lock": False})},
        # Every job, `dagster asset materialize` included, runs its steps in one process, one
        # after another: they share one DuckDB file, and a process per step costs seconds each.
        # The passes of an audit in buckets are the exception (pipelines/buckets.py).
        "executor": dg.in_process_executor,
    }
    if config.policies.buckets > 1:
        steps, buckets = audit_steps(config, config.policies.buckets), config.policies.buckets
        start, *rest = bucket_jobs(steps)
        busy = tuple(job.name for job in rest)
        return dg.Definitions(
            **common, jobs=[start, *rest], schedules=[hourly_schedule(start, busy)],
            sensors=[landing_sensor(start, str(Path(root).resolve()), busy), phases_sensor(steps, buckets, rest)])
    job = dg.define_asset_job(
        AUDIT_JOB,
        selection=dg.AssetSelection.all(),
        description="Snapshot every source, then audit: models, findings, repair plan, metrics.",
    )
    return dg.Definitions(
        **common,
        jobs=[job],
        schedules=[hourly_schedule(job)],
        sensors=[landing_sensor(job, str(Path(root).resolve()))],
    )


def bucket_job(root: str, name: str) -> dg.JobDefinition:
    """A job of the workspace at `root`, rebuilt wherever a run's steps execute (a Dask
    worker): `dg.build_reconstructable_job("pipelines.definitions", "bucket_job", ...)`."""
    return build_definitions(root).resolve_job_def(name)


defs = build_definitions()
