"""A workspace folder: reckon.yaml, landing/, snapshots/, reckon.duckdb, exports/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reckon.config import Config, load_config

DEFAULT_WORKSPACE = Path("workspace")


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: Config

    @classmethod
    def open(cls, root: Path | str) -> Workspace:
        root = Path(root).resolve()
        return cls(root, load_config(root))

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def database(self) -> Path:
        return self.root / "reckon.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    def landing_files(self, patterns: list[str]) -> list[Path]:
        """Files matching a source's glob patterns, resolved inside the workspace, sorted."""
        found: set[Path] = set()
        for pattern in patterns:
            for path in self.root.glob(pattern):
                resolved = path.resolve()
                if resolved.is_file() and resolved.is_relative_to(self.root):
                    found.add(resolved)
        return sorted(found)
