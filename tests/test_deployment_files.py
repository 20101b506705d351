"""deploy/: the compose file runs what docs/deployment.md says, with the names the code reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.buckets import DASK_SCHEDULER_ENV
from pipelines.resources import WORKSPACE_ENV

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_compose_runs_dagster_and_dask_over_one_shared_workspace():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"dagster-webserver", "dagster-daemon", "dask-scheduler", "dask-worker"}
    scheduler = f"tcp://dask-scheduler:{services['dask-scheduler']['command'].split('--port ')[1].split()[0]}"
    for name, service in services.items():
        env = service["environment"]
        assert env[DASK_SCHEDULER_ENV] == scheduler, name
        # Every service sees the workspace at the same path: the passes' Parquet and the database.
        assert f"workspace:{env[WORKSPACE_ENV]}" in service["volumes"], name
    assert services["dask-worker"]["command"].startswith(f"dask worker {scheduler}")
    for command in (services["dagster-webserver"]["command"], services["dagster-daemon"]["command"]):
        workspace = command.split("-w ")[1].split()[0]
        assert workspace == "/opt/reckon/deploy/workspace.yaml" and (DEPLOY / "workspace.yaml").exists()
    loaded = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert loaded["module_name"] == "pipelines.definitions"
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert instance["run_coordinator"]["config"]["max_concurrent_runs"] > 1  # partitions side by side
