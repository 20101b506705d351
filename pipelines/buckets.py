"""An audit in buckets on Dagster: the two phases' steps (`Step.phase`) as assets with one
partition per bucket, run on Dask.

    audit_start: snapshots .. bucket_inputs        (one run, in process)
    bucket_claims_passes[0..B-1]                   (a run per partition, its step on Dask)
    bucket_matches_passes[0..B-1]                  (a run per partition, once every claim is in)
    audit_finish: model_tables .. read_copy        (one run, in process: merge and publish)

A partition's step opens no database: it reads the Parquet the start wrote into the
workspace folder and writes its bucket's rows beside it (reckon/buckets.py), so any Dask
worker that mounts the workspace can run it. No `from __future__ import annotations`:
Dagster reads the `context` annotation.
"""

import os
from typing import Any

import dagster as dg

from pipelines.steps import Step

DASK_SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"  # e.g. tcp://dask-scheduler:8786
START_JOB, FINISH_JOB = "audit_start", "audit_finish"


def bucket_jobs(steps: list[Step], buckets: int) -> list[Any]:
    """The start, one partitioned job per phase (`Step.phase`), the finish (asset jobs)."""
    names = [s.name for s in steps]
    phases = [s.name for s in steps if s.phase]
    first, last = names.index(phases[0]), names.index(phases[-1])
    return [
        dg.define_asset_job(START_JOB, selection=dg.AssetSelection.assets(*names[:first]),
                            description="An audit in buckets, before its passes: snapshots, inputs, the passes' Parquet."),
        *[dg.define_asset_job(passes_job(name), selection=dg.AssetSelection.assets(name), executor_def=executor(),
                              description=f"One bucket's pass of {name}, per partition.")
          for name in phases],
        dg.define_asset_job(FINISH_JOB, selection=dg.AssetSelection.assets(*names[last + 1:]),
                            description="An audit in buckets, after its passes: merge, findings, plan, publish."),
    ]  # fmt: skip


def passes_job(step: str) -> str:
    """The partitioned job of a phase's step (a job may not share an asset's name)."""
    return f"{step}_passes"


def executor() -> dg.ExecutorDefinition:
    """The partitions' executor: Dask, on the scheduler `$DASK_SCHEDULER_ADDRESS` names;
    without it, in process (one machine)."""
    if not os.environ.get(DASK_SCHEDULER_ENV):
        return dg.in_process_executor
    from dagster_dask import dask_executor

    config: dict[str, Any] = {"cluster": {"existing": {"address": {"env": DASK_SCHEDULER_ENV}}}}
    return dask_executor.configured(config)
