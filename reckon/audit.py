"""One whole audit in-process, in the same order as the Dagster job's assets.

The CLI runs the Dagster job; tests and the benchmark call `run_audit` to exercise
exactly the same step functions without the orchestrator around them (all but the HTML
report, which only the job's `audit_report` asset writes: `reckon report` writes it too).
"""

from __future__ import annotations

from datetime import UTC, datetime

from reckon import engine
from reckon.locking import DEFAULT_TIMEOUT, workspace_lock
from reckon.workspace import Workspace
from reports.operator_csv import export_operator_queue_csv
from reports.plan_export import export_plan


def run_audit(ws: Workspace, lock_timeout: float = DEFAULT_TIMEOUT, buckets: int = 1) -> dict:
    """Snapshot every source, build the layers, detect, plan, measure, publish.

    `buckets` > 1 builds a full audit's layers one bucket of runs at a time (needs
    `policies.incremental: false`); the results are those of one pass."""
    started = datetime.now(UTC)
    with workspace_lock(ws.root, lock_timeout):
        for source in ws.config.sources:
            engine.ingest(ws, source.name)
        with engine.connect(ws) as con:
            engine.prepare(con, ws)
            engine.build_layers(con, buckets)
            engine.detect_findings(con)
            engine.plan_repairs(con)
            export_plan(con, ws.exports)
            export_operator_queue_csv(con, ws.exports)
            engine.compute_metrics(con)
            audit = engine.publish(con, started)
        engine.publish_read_copy(ws)
    return audit
