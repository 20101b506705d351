"""A workspace folder: reckon.yaml, landing/, snapshots/, reckon.duckdb, exports/."""

from __future__ import annotations

import errno
import os
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
        return self.scan_landing(patterns)[0]

    def scan_landing(self, patterns: list[str]) -> tuple[list[Path], list[Refused]]:
        """(files, refused paths): the files matching a source's glob patterns, resolved
        inside the workspace, sorted; and the matches that are not read, each with why
        (a link leading out of the workspace, a link loop, a dangling link), for the
        snapshot to quarantine rather than skip unseen."""
        found: set[Path] = set()
        refused: dict[Path, str] = {}
        for pattern in patterns:
            for path in self.root.glob(pattern):
                try:
                    resolved = path.resolve(strict=True)
                    is_file = resolved.is_file()
                except RuntimeError:  # a symlink loop, before Python 3.13
                    refused[path] = f"landing path not read: {os.strerror(errno.ELOOP)}"
                    continue
                except OSError as exc:  # a loop (ELOOP), a dangling link (ENOENT), ...: named without paths
                    refused[path] = f"landing path not read: {os.strerror(exc.errno) if exc.errno else type(exc).__name__}"
                    continue
                if not resolved.is_relative_to(self.root):
                    refused[path] = "landing path not read: a symbolic link leading out of the workspace"
                elif is_file:
                    found.add(resolved)
        return sorted(found), [Refused(path, reason) for path, reason in sorted(refused.items())]


@dataclass(frozen=True)
class Refused:
    """A landing path a source's patterns match but that is not read, and why."""

    path: Path  # as matched under the workspace, not resolved
    reason: str
