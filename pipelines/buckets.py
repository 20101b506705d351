"""An audit in buckets on Dagster: the three phases' steps (`Step.phase`) as assets with one
partition per bucket, run on Dask.

    audit_start: snapshots .. bucket_inputs        (one run, in process)
    bucket_claims_passes[0..B-1]                   (a run per partition, its step on Dask)
    bucket_unclaimed_passes[0..B-1]                (a run per partition, once every claim is in)
    bucket_matches_passes[0..B-1]                  (a run per partition, once every slice is in)
    audit_finish: model_tables .. read_copy        (one run, in process: merge and publish)

A partition's step opens no database: it reads the Parquet the start wrote into the
workspace folder and writes its bucket's rows beside it (reckon/buckets.py), so any Dask
worker that mounts the workspace can run it. No `from __future__ import annotations`:
Dagster reads the `context` annotation.
"""

import os
from typing import Any

import dagster as dg

from pipelines.steps import BUCKET_INPUTS, MODEL_TABLES, Step

DASK_SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"  # e.g. tcp://dask-scheduler:8786
START_JOB, FINISH_JOB = "audit_start", "audit_finish"


def split_steps(steps: list[Step]) -> tuple[list[Step], list[Step], list[Step]]:
    """An audit in buckets' steps: before its passes, the phases' (`Step.phase`), after."""
    phases = [s for s in steps if s.phase]
    first, last = steps.index(phases[0]), steps.index(phases[-1])
    return steps[:first], phases, steps[last + 1:]


def bucket_jobs(steps: list[Step]) -> list[Any]:
    """The start, one partitioned job per phase (`Step.phase`), the finish (asset jobs)."""
    before, phases, after = split_steps(steps)
    return [
        dg.define_asset_job(START_JOB, selection=dg.AssetSelection.assets(*[s.name for s in before]),
                            description="An audit in buckets, before its passes: snapshots, inputs, the passes' Parquet."),
        *[dg.define_asset_job(passes_job(s.name), selection=dg.AssetSelection.assets(s.name), executor_def=executor(),
                              description=f"One bucket's pass of {s.name}, per partition.") for s in phases],
        dg.define_asset_job(FINISH_JOB, selection=dg.AssetSelection.assets(*[s.name for s in after]),
                            description="An audit in buckets, after its passes: merge, findings, plan, publish."),
    ]  # fmt: skip


def phases_sensor(steps: list[Step], buckets: int, jobs: list[Any]) -> dg.SensorDefinition:
    """Runs an audit in buckets' next phase once the one before is whole: after a start
    (a `bucket_inputs` materialization), every bucket's claims pass; once every claim is
    in, every unclaimed pass; then every matches pass; then the finish. A run key (the start's run, the phase, the
    bucket) requests each run once per audit: a failed pass is re-executed by hand, and
    the sensor goes on when it succeeds."""
    phases = [s.name for s in steps if s.phase]
    partitions = [str(b) for b in range(buckets)]

    @dg.sensor(name="bucket_phases", jobs=jobs, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED, description=phases_sensor.__doc__.split("\n\n")[0])
    def _sensor(context: dg.SensorEvaluationContext) -> Any:
        started = context.instance.fetch_materializations(dg.AssetKey(BUCKET_INPUTS), limit=1).records
        if not started:
            return dg.SkipReason("no audit in buckets has started")
        start = started[0]
        for phase in phases:
            done = _materialized(context.instance, phase, start.timestamp)
            missing = [p for p in partitions if p not in done]
            if missing:
                return [dg.RunRequest(job_name=passes_job(phase), partition_key=p, run_key=f"{start.run_id}:{phase}:{p}")
                        for p in missing]  # fmt: skip
        if _materialized(context.instance, MODEL_TABLES, start.timestamp):
            return dg.SkipReason("the last audit in buckets is merged")
        return dg.RunRequest(job_name=FINISH_JOB, run_key=f"{start.run_id}:finish")

    return _sensor


def _materialized(instance: dg.DagsterInstance, asset: str, after: float) -> set[str | None]:
    """The partitions of `asset` materialized after `after` (None: the asset, unpartitioned)."""
    found: set[str | None] = set()
    cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(dg.AssetKey(asset), after_timestamp=after),
                                               limit=1000, cursor=cursor)
        found |= {record.partition_key for record in page.records}
        if not page.has_more:
            return found
        cursor = page.cursor


def audit_runs(steps: list[Step], buckets: int) -> list[tuple[str, str | None]]:
    """An audit in buckets' runs, in order, as `reckon audit` runs them in its own process:
    (job, partition)."""
    passes = [(passes_job(s.name), str(b)) for s in steps if s.phase for b in range(buckets)]
    return [(START_JOB, None), *passes, (FINISH_JOB, None)]


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
