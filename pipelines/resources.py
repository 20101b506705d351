"""The workspace an audit runs on, as a Dagster resource."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from reckon.workspace import DEFAULT_WORKSPACE, Workspace

WORKSPACE_ENV = "RECKON_WORKSPACE"


def default_root() -> str:
    """`$RECKON_WORKSPACE`, else ./workspace."""
    return os.environ.get(WORKSPACE_ENV, str(DEFAULT_WORKSPACE))


class ReckonWorkspace(dg.ConfigurableResource):
    """Points the audit at a workspace folder (reckon.yaml, landing/, snapshots/, ...)."""

    root: str

    def open(self) -> Workspace:
        return Workspace.open(Path(self.root))
