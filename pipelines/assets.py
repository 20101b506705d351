"""The audit's assets: one per step of `pipelines.steps`, generated from that list. State
passes through the workspace's DuckDB file, so the assets run one after another in one
process (no lock waits). No `from __future__ import annotations`: Dagster reads the
`context` annotation."""

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.resources import ReckonWorkspace
from pipelines.steps import AuditRun, Markdown, Step, Table, audit_steps, run_step
from reckon.config import Config


def snapshot_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"snapshot_{source}")


def step_asset(step: Step, buckets: int = 1) -> dg.AssetsDefinition:
    """The step's asset; a step with a `phase` is partitioned, one partition per bucket
    (pipelines/buckets.py)."""
    if step.phase:
        return bucket_asset(step, buckets)

    @dg.asset(name=step.name, group_name=step.group, deps=list(step.after), description=step.description,
              kinds=set(step.kinds))
    def _asset(context: dg.AssetExecutionContext, workspace: ReckonWorkspace) -> dg.MaterializeResult:
        run = AuditRun(workspace.open(), started_at=_run_start(context), buckets=buckets)
        try:
            metadata = run_step(step, run)
        finally:
            run.close()
        return dg.MaterializeResult(metadata=dagster_metadata(metadata))

    return _asset


def bucket_asset(step: Step, buckets: int) -> dg.AssetsDefinition:
    """One partition per bucket (`bucket_partitions`), each needing every partition of the
    phase before it. Its run opens no database and takes no workspace lock: the passes of
    a phase run side by side, on any Dask worker that mounts the workspace
    (pipelines/buckets.py)."""

    @dg.asset(name=step.name, group_name=step.group, description=step.description, kinds=set(step.kinds),
              partitions_def=bucket_partitions(buckets),
              deps=[dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping()) for name in step.after])
    def _asset(context: dg.AssetExecutionContext, bucket_workspace: ReckonWorkspace) -> dg.MaterializeResult:
        run = AuditRun(bucket_workspace.open(), buckets=buckets, bucket=int(context.partition_key))
        metadata = run_step(step, run)
        return dg.MaterializeResult(metadata=dagster_metadata({**metadata, "bucket": run.bucket,
                                                               "worker_pid": os.getpid()}))

    return _asset


def bucket_partitions(buckets: int) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([str(b) for b in range(buckets)])


def dagster_metadata(values: dict[str, Any]) -> dict[str, dg.MetadataValue]:
    """A step's metadata as Dagster shows it: numbers (plotted over materializations),
    paths, tables (sortable in the UI), Markdown and text; anything else, and undefined
    numbers, left out."""
    out: dict[str, dg.MetadataValue] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            out[name] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[name] = dg.MetadataValue.int(value)
        elif isinstance(value, float) and math.isfinite(value):
            out[name] = dg.MetadataValue.float(value)
        elif isinstance(value, Path):
            out[name] = dg.MetadataValue.path(str(value))
        elif isinstance(value, Table):
            out[name] = dg.MetadataValue.table(
                records=[dg.TableRecord(dict(zip([c for c, _ in value.columns], row, strict=True)))
                         for row in value.rows],
                schema=dg.TableSchema(columns=[dg.TableColumn(c, kind) for c, kind in value.columns]))
        elif isinstance(value, Markdown):
            out[name] = dg.MetadataValue.md(value)
        elif isinstance(value, str):
            out[name] = dg.MetadataValue.text(value)
    return out


def _run_start(context: dg.AssetExecutionContext) -> datetime:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    start = record.start_time if record else None
    return datetime.fromtimestamp(start, tz=UTC) if start else datetime.now(UTC)


def build_assets(config: Config) -> list[dg.AssetsDefinition]:
    buckets = config.policies.buckets
    return [step_asset(step, buckets) for step in audit_steps(config, buckets)]
