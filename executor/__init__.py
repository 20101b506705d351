"""The repair executor: `reckon execute --workspace DIR --plan FILE [--apply]`.

It consumes an exported repair plan (docs/outputs.md section 3) like the reports consume
an audit: plan.py loads and checks it, approvals.py reads who approved what, run.py decides
and acts, ledger.py records every transition exactly once, feedback.py reports applied
actions to the workflow log, systems.py reads and writes the vendors through
connectors/live. Without `--apply` it is a dry run: it says what it would do and why, and
writes nothing. See docs/executor.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from executor.approvals import load_approvals
from executor.ledger import FOLDER as LOCK_FOLDER
from executor.plan import PlanError, in_order, load_plan, matcher
from executor.run import Executor, Outcome, Systems, UnreadFeedback
from reckon.locking import DEFAULT_TIMEOUT, workspace_lock
from reckon.workspace import Workspace

__all__ = ["PlanError", "Report", "UnreadFeedback", "execute"]


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(o.verdict for o in self.outcomes)

    @property
    def failed(self) -> bool:
        """An action failed, or its outcome is unknown until the next run."""
        counts = self.counts()
        return bool(counts["failed"] or counts["unknown"])


def execute(ws: Workspace, plan_path: Path, *, apply: bool = False, only: str | None = None,
            limit: int | None = None, systems: Systems | None = None, lock_timeout: float = DEFAULT_TIMEOUT,
            out: TextIO = sys.stdout, clock: Callable[[], datetime] | None = None) -> Report:  # fmt: skip
    """Dry-run or apply the plan; one line per action on `out` as it is decided. `clock`
    dates the feedback events (default: now; the demo's simulated world has its own)."""
    plan = load_plan(plan_path)
    selected = [a for a in in_order(plan) if matcher(only)(a)][:limit]
    approvals = load_approvals(ws.root)
    for bad in approvals.quarantined:
        print(
            f"reckon: ignored {bad['source_file']}:{bad['source_record']}: {bad['reason']}",
            file=sys.stderr,
        )
    if systems is None:
        from executor.systems import open_systems

        systems = open_systems(ws)
    report = Report()
    options = {"clock": clock} if clock else {}

    def show(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        print(outcome.line(), file=out, flush=True)

    if not apply:
        for outcome in Executor(ws, systems, approvals, **options).dry_run(selected, plan):
            show(outcome)
        return report
    with workspace_lock(ws.root / LOCK_FOLDER, lock_timeout, holder="executor"):
        # The executor reads the ledger under the lock.
        Executor(ws, systems, approvals, **options).apply(selected, plan, on_outcome=show)
    return report
