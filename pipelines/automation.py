"""When audits run: every hour, and as soon as new files land, never two at once.

Neither trigger starts an audit while another audit run of the job is queued or in
progress (the run itself also holds the workspace lock, see resources.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from reckon.workspace import Workspace

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def audit_in_progress(instance: dg.DagsterInstance, *job_names: str) -> bool:
    return any(instance.get_run_records(dg.RunsFilter(job_name=name, statuses=ACTIVE), limit=1) for name in job_names)


def hourly_schedule(job: dg.JobDefinition, busy: tuple[str, ...] = ()) -> dg.ScheduleDefinition:
    """`busy`: the other jobs of an audit (an audit in buckets' passes and finish)."""

    @dg.schedule(name="hourly_audit", job=job, cron_schedule="0 * * * *",
                 default_status=dg.DefaultScheduleStatus.STOPPED)
    def _hourly(context):
        if audit_in_progress(context.instance, job.name, *busy):
            return dg.SkipReason("an audit of this workspace is still running")
        return dg.RunRequest()

    return _hourly


def landing_fingerprint(ws: Workspace) -> str:
    """Changes whenever a landing file of any source is added, replaced or touched."""
    h = hashlib.sha256()
    for source in ws.config.sources:
        for path in ws.landing_files(source.paths):
            stat = path.stat()
            h.update(f"{path.relative_to(ws.root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def landing_sensor(job: dg.JobDefinition, root: str, busy: tuple[str, ...] = ()) -> dg.SensorDefinition:
    @dg.sensor(name="new_landing_files", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts an audit when files land (one run per distinct landing state).")
    def _sensor(context):
        if audit_in_progress(context.instance, job.name, *busy):
            return dg.SkipReason("an audit of this workspace is still running")
        fingerprint = landing_fingerprint(Workspace.open(Path(root)))
        if fingerprint == context.cursor:
            return dg.SkipReason("no new or changed landing files")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=f"landing-{fingerprint}")

    return _sensor
