"""The input gate: what the snapshots no published audit has read yet bring, per source.

A new drop is judged by itself, never diluted by the history: when a source's new
snapshots (at least `GATE_MIN_RECORDS` records) quarantined more than
`policies.quarantine_max_share` of them, or kept records of a file that lack a field
every record should have (schema drift), the audit stops before its models, findings and
plan (`pipelines.steps` runs the gate; the Dagster checks mirror it).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from reckon import database
from reckon.snapshots import Snapshot, list_snapshots
from reckon.workspace import Workspace

BLOCKED_ADVICE = ("Nothing was published. Fix the export, remove the landing file and its snapshot, or change "
                  "the policy; then audit again (docs/cli.md)")


# Fewer new records of a source than this say little (one bad record of nine is not a bad
# drop): below it the gate lets the audit run, and the checks only warn.
GATE_MIN_RECORDS = 100


class AuditBlocked(RuntimeError):
    """A blocking check failed: the audit stops before its models, findings and plan."""


@dataclass(frozen=True)
class SourceGate:
    """What the snapshots of one source that no published audit has read yet bring: the
    gate judges a new drop by itself, never diluted by the history."""

    source: str
    snapshot_ids: list[str]
    rows: int
    quarantined: int
    fields_added: list[str]
    fields_missing: list[str]
    # Missing from kept records: from snapshots none of whose files was wholly quarantined
    # (a field missing there is the quarantine's story, which the share judges).
    fields_missing_kept: list[str]
    max_share: float

    @property
    def share(self) -> float:
        return self.quarantined / (self.rows + self.quarantined) if self.rows + self.quarantined else 0.0

    def quarantine_problem(self) -> str | None:
        if self.share <= self.max_share:
            return None
        return (f"source '{self.source}': {self.quarantined:,} of {self.rows + self.quarantined:,} new records quarantined "
                f"({self.share:.1%}, more than policies.quarantine_max_share {self.max_share:.1%})")

    def drift_problem(self) -> str | None:
        if not self.fields_missing_kept:
            return None
        return (f"source '{self.source}': schema drift: no record of a new file has "
                f"{', '.join(self.fields_missing_kept)}, and its records were kept")

    @property
    def blocks(self) -> bool:
        return self.rows + self.quarantined >= GATE_MIN_RECORDS and bool(self.problems())

    def problems(self) -> list[str]:
        return [p for p in (self.quarantine_problem(), self.drift_problem()) if p]


def audited_snapshots(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every snapshot some published audit read."""
    if not database.table_exists(con, "audits"):
        return set()
    return {row[0] for row in con.execute("SELECT DISTINCT unnest(snapshot_ids) FROM audits").fetchall()}


def source_gates(ws: Workspace, audited: set[str], source: str | None = None) -> list[SourceGate]:
    """One `SourceGate` per source (or only `source`) that has snapshots new to the audits."""
    new: dict[str, list[Snapshot]] = {}
    for snap in list_snapshots(ws, source):
        if snap.snapshot_id not in audited:
            new.setdefault(snap.source, []).append(snap)
    return [SourceGate(
        source=name, snapshot_ids=[s.snapshot_id for s in snaps], rows=sum(s.rows for s in snaps),
        quarantined=sum(s.quarantined for s in snaps), fields_added=sorted({f for s in snaps for f in s.fields_added}),
        fields_missing=sorted({f for s in snaps for f in s.fields_missing}),
        fields_missing_kept=sorted({f for s in snaps if not any(e.quarantined and not e.rows for e in s.files)
                                    for f in s.fields_missing}),
        max_share=ws.config.policies.quarantine_max_share,
    ) for name, snaps in sorted(new.items())]


def check_new_snapshots(ws: Workspace, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Raise AuditBlocked when a source's new snapshots block the audit; else what they bring."""
    gates = source_gates(ws, audited_snapshots(con))
    problems = [problem for g in gates if g.blocks for problem in g.problems()]
    if problems:
        raise AuditBlocked(f"{'; '.join(problems)}. {BLOCKED_ADVICE}")
    return {"new_snapshots": sum(len(g.snapshot_ids) for g in gates),
            "new_records": sum(g.rows + g.quarantined for g in gates)}
