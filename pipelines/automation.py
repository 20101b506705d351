"""When audits run: every hour, and as soon as new files land."""


from __future__ import annotations

import hashlib

import dagster as dg

from pipelines.resources import ReckonWorkspace
from reckon.workspace import Workspace


def hourly_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(name="hourly_audit", job=job, cron_schedule="0 * * * *",
                                 default_status=dg.DefaultScheduleStatus.STOPPED)


def landing_fingerprint(ws: Workspace) -> str:
    """Changes whenever a landing file of any source is added, replaced or touched."""
    h = hashlib.sha256()
    for source in ws.config.sources:
        for path in ws.landing_files(source.paths):
            stat = path.stat()
            h.update(f"{path.relative_to(ws.root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def landing_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(name="new_landing_files", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts an audit when files land (one run per distinct landing state).")
    def _sensor(context, workspace: ReckonWorkspace):
        fingerprint = landing_fingerprint(workspace.open())
        if fingerprint == context.cursor:
            return dg.SkipReason("no new or changed landing files")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=f"landing-{fingerprint}")

    return _sensor
