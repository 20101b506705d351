"""The workspace an audit runs on, as a Dagster resource."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from reckon.locking import DEFAULT_TIMEOUT, WorkspaceLock
from reckon.workspace import DEFAULT_WORKSPACE, Workspace

WORKSPACE_ENV = "RECKON_WORKSPACE"


def default_root() -> str:
    """`$RECKON_WORKSPACE`, else ./workspace."""
    return os.environ.get(WORKSPACE_ENV, str(DEFAULT_WORKSPACE))


class ReckonWorkspace(dg.ConfigurableResource):
    """Points the audit at a workspace folder (reckon.yaml, landing/, snapshots/, ...).

    A run holds the workspace lock from its first step to its last (the job runs in one
    process), so a second audit of the same workspace waits or gives up; it never
    interleaves its steps with this one's.
    """

    root: str
    lock_timeout_seconds: float = DEFAULT_TIMEOUT
    # False for a bucket's pass (pipelines/buckets.py): it never opens the database, and the
    # passes of one phase run side by side.
    lock: bool = True
    _lock: WorkspaceLock | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if not self.lock:
            return
        self._lock = WorkspaceLock(Path(self.root), self.lock_timeout_seconds)
        self._lock.acquire()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.release()

    def open(self) -> Workspace:
        return Workspace.open(Path(self.root))
