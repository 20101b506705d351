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
PASSES = [passes_job("bucket_claims"), passes_job("bucket_unclaimed"), passes_job("bucket_matches")]


@pytest.fixture
def cluster():
    """Two worker processes, on 127.0.0.1 only, closed in teardown; each within a bound."""
    with within(60):
        local = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                             dashboard_address=None)
    try:
        yield local
    finally:
        with within(60):
            local.close()


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
    sensor = defs.resolve_sensor_def("bucket_phases")
    workers, requested = set(), []
    with within(120), dg.instance_for_test() as instance:
        assert sensor(dg.build_sensor_context(instance=instance)).skip_message  # nothing started yet
        assert defs.resolve_job_def(START_JOB).execute_in_process(instance=instance).success
        # The sensor runs each phase once the one before is whole, then the finish.
        while not isinstance(requests := sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason):
            requests = requests if isinstance(requests, list) else [requests]
            requested.append({(r.job_name, r.partition_key) for r in requests})
            for request in requests:
                if request.job_name == FINISH_JOB:
                    assert defs.resolve_job_def(FINISH_JOB).execute_in_process(instance=instance).success
                    continue
                job = dg.build_reconstructable_job("pipelines.definitions", "bucket_job",
                                                   reconstructable_kwargs={"root": str(bucketed),
                                                                           "name": request.job_name})
                with dg.execute_job(job, instance=instance, tags={"dagster/partition": request.partition_key}) as result:
                    assert result.success
                    (event,) = result.get_asset_materialization_events()
                    workers.add(event.materialization.metadata["worker_pid"].value)
    assert requested == [{(name, str(b)) for b in range(BUCKETS)} for name in PASSES] + [{(FINISH_JOB, None)}]
    assert os.getpid() not in workers and workers  # the passes ran in Dask's worker processes
    assert_same(bucketed, one_pass)
