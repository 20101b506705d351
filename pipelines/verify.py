"""`reckon verify`: re-read the open findings' objects through the vendors' APIs
(reckon/verify.py stores them as live snapshots), then re-audit at once (the incremental
audit recomputes the runs whose objects changed) and say what became of each finding."""

from __future__ import annotations

import sys
from typing import Any

from connectors.live import Clock
from pipelines.runner import run_audit
from reckon import database
from reckon.locking import DEFAULT_TIMEOUT
from reckon.verify import Verification, verify
from reckon.workspace import Workspace


def verify_and_audit(
    ws: Workspace,
    finding_id: str | None = None,
    run_id: str | None = None,
    clock: Clock | None = None,
    lock_timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Verification, dict]:
    """The live read, then the audit that folds it in; returns both (the audit's `audits` row,
    or the last published one when nothing new was read)."""
    result = verify(ws, finding_id, run_id, clock, lock_timeout)
    audit = run_audit(ws, lock_timeout) if result.snapshots else {}
    return result, audit


def outcomes(ws: Workspace, audit_id: str, findings: list[str]) -> list[tuple[Any, ...]]:
    """(finding, type, subject, status, resolution) in the given audit: each verified finding,
    and every finding that audit opened (a live read can turn one type into another)."""
    with database.connect_read_copy(ws) as con:
        return con.execute(
            "SELECT finding_id, mismatch_type, subject_id, status, resolution FROM lifecycle_events "
            "WHERE audit_id = ? AND (list_contains(?, finding_id) OR status IN ('new', 'regressed')) "
            "ORDER BY status, finding_id",
            [audit_id, findings],
        ).fetchall()


def report(ws: Workspace, result: Verification, audit: dict) -> int:
    """Print what was read and what the re-audit concluded; the exit code (1 when a read failed)."""
    for system, reason in sorted(result.skipped.items()):
        print(f"reckon: {system} not verified: {reason}", file=sys.stderr)
    for error in result.errors:
        print(f"reckon: live read failed: {error}", file=sys.stderr)
    for system, read in sorted(result.systems.items()):
        snap = read.snapshot
        where = (
            f"live snapshot {snap.snapshot_id} ({snap.rows} rows, observed at {snap.observed_at})"
            if snap
            else "nothing found, nothing stored"
        )
        print(f"{system}: {read.lookups} reads, {len(read.records)} objects -> {where}")
    if not audit:
        print(f"{len(result.findings)} findings verified; no live record to audit")
        return 1 if result.errors else 0
    rows = outcomes(ws, audit["audit_id"], result.findings)
    print(
        f"\n# re-audit {audit['audit_id']} (as of {audit['as_of']:%Y-%m-%d %H:%M:%S} UTC): "
        f"{audit['findings']} findings"
    )
    for finding_id, mismatch, subject, status, resolution in rows:
        print(
            f"  {status:<9} {finding_id} {mismatch} {subject}"
            + (f" ({resolution})" if resolution else "")
        )
    counts = {
        status: sum(1 for r in rows if r[3] == status)
        for status in ("resolved", "ongoing", "new", "regressed")
    }
    print(
        f"{len(result.findings)} findings verified: {counts['resolved']} resolved, {counts['ongoing']} still open; "
        f"{counts['new'] + counts['regressed']} opened"
    )
    return 1 if result.errors else 0
