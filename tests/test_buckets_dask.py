"""An audit in buckets on Dagster partitions whose steps run on Dask worker processes
(a LocalCluster on loopback) merges into exactly what one pass gives."""

from __future__ import annotations

import os
import shutil

import dagster as dg
import pytest
import yaml
from dask.distributed import LocalCluster

from pipelines.buckets import DASK_SCHEDULER_ENV, FINISH_JOB, START_JOB, passes_job
from pipelines.definitions import build_definitions
from pipelines.runner import run_audit
from reckon.workspace import Workspace
from simulator import simulate
from tests.deadline import within
from tests.test_incremental import always_full, assert_same

BUCKETS = 3
PASSES = [passes_job("bucket_claims"), passes_job("bucket_matches")]


@pytest.fixture
def cluster():
    """Two worker processes, on 127.0.0.1 only, closed in teardown."""
    with within(60), LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as local:  # fmt: skip
        yield local


def test_bucket_partitions_on_dask_equal_one_pass(tmp_path, cluster, monkeypatch):
    one_pass, bucketed = tmp_path / "one" / "ws", tmp_path / "buckets" / "ws"
    simulate(one_pass, 120, 5)
    always_full(one_pass)
    shutil.copytree(one_pass, bucketed)
    path = bucketed / "reckon.yaml"
    config = yaml.safe_load(path.read_text())
    config["policies"]["buckets"] = BUCKETS
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    run_audit(Workspace.open(one_pass))

    monkeypatch.setenv(DASK_SCHEDULER_ENV, cluster.scheduler_address)
    defs = build_definitions(str(bucketed))
    assert {job.name for job in defs.resolve_all_job_defs()} >= {START_JOB, FINISH_JOB, *PASSES}
    workers = set()
    with within(120), dg.instance_for_test() as instance:
        assert defs.resolve_job_def(START_JOB).execute_in_process(instance=instance).success
        for name in PASSES:
            job = dg.build_reconstructable_job("pipelines.definitions", "bucket_job",
                                               reconstructable_kwargs={"root": str(bucketed), "name": name})
            for bucket in range(BUCKETS):
                with dg.execute_job(job, instance=instance, tags={"dagster/partition": str(bucket)}) as result:
                    assert result.success
                    (event,) = result.get_asset_materialization_events()
                    workers.add(event.materialization.metadata["worker_pid"].value)
        assert defs.resolve_job_def(FINISH_JOB).execute_in_process(instance=instance).success
    assert os.getpid() not in workers and len(workers) >= 1  # the passes ran in Dask's worker processes
    assert_same(bucketed, one_pass)
