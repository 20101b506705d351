"""One whole audit in this process, without the orchestrator: the steps of
`pipelines.steps`, in order, on one connection, the snapshots side by side when that pays
(`run_steps`; tests, the demo's earlier days and the benchmark use it; `reckon audit` runs
the same steps as the Dagster job)."""

from __future__ import annotations

from typing import Any

from pipelines.steps import AuditRun, audit_steps, run_steps
from reckon.locking import DEFAULT_TIMEOUT, workspace_lock
from reckon.workspace import Workspace


def run_audit(ws: Workspace, lock_timeout: float = DEFAULT_TIMEOUT, buckets: int | None = None,
              report: bool = False) -> dict[str, Any]:
    """Snapshot every source, build the models, detect, plan, measure, publish; returns the
    `audits` row. `buckets` (by default `policies.buckets`) > 1 builds a full audit's layers
    one bucket of runs at a time, each bucket's passes in this process (needs
    `policies.incremental: false`); the results are those of one pass. The HTML
    report is written only with `report` (`reckon report` writes it on demand)."""
    with workspace_lock(ws.root, lock_timeout):
        buckets = buckets or ws.config.policies.buckets
        run = AuditRun(ws, buckets=buckets)
        try:
            for _ in run_steps(audit_steps(ws.config, buckets, report), run):
                pass
        finally:
            run.close()
    return run.audit
