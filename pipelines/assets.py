"""The audit's assets: one per step of `pipelines.steps`, generated from that list. State
passes through the workspace's DuckDB file, so the assets run one after another in one
process (no lock waits). The snapshot steps are the exception: their assets (one per
source) share one op, which runs them side by side when that pays (`run_steps`). No
`from __future__ import annotations`: Dagster reads the `context` annotation."""

import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.resources import ReckonWorkspace
from pipelines.steps import AuditRun, Markdown, Step, Table, audit_steps, run_step, run_steps
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


def snapshot_assets(steps: list[Step], buckets: int = 1) -> dg.AssetsDefinition:
    """The snapshot steps' assets, one per source, in one op: the in-process executor runs
    one op at a time, and the sources' snapshots are worth running at once. Any subset of
    them can be materialized; a source that fails fails the op once the others are in."""

    @dg.multi_asset(name="snapshots", can_subset=True, specs=[
        dg.AssetSpec(step.name, group_name=step.group, description=step.description, kinds=set(step.kinds),
                     skippable=True) for step in steps])  # fmt: skip
    def _assets(context: dg.AssetExecutionContext, workspace: ReckonWorkspace) -> Iterator[dg.MaterializeResult]:
        chosen = [step for step in steps if dg.AssetKey(step.name) in context.selected_asset_keys]
        run = AuditRun(workspace.open(), started_at=_run_start(context), buckets=buckets)
        try:
            for step, metadata in run_steps(chosen, run):
                yield dg.MaterializeResult(asset_key=step.name, metadata=dagster_metadata(metadata))
        finally:
            run.close()

    return _assets


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
    steps = audit_steps(config, buckets)
    snapshots = [step for step in steps if step.source]
    return [snapshot_assets(snapshots, buckets), *(step_asset(step, buckets) for step in steps if not step.source)]
