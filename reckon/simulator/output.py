"""Byte-stable file writing: sorted keys, fixed ordering, mtimes set to the export time."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

# The files the simulator owns under <workspace>/landing; stale ones are removed first
# (a smaller workspace must not keep a larger one's extra batches).
OWNED = {
    "events": ("log-*.jsonl", "log-*.jsonl.gz"),
    "stripe": ("refunds-list.json", "events-*.json"),
    "sendgrid": ("batch-*.json",),
    "hubspot": ("contacts-page-*.json",),
    "zendesk": ("tickets-page-*.json",),
}


def json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json_line(r) + "\n" for r in records).encode()


class Output:
    """Writes files under the workspace (or beside it) and remembers them for `stamp`."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.files: list[Path] = []

    def clear(self) -> None:
        for folder, patterns in OWNED.items():
            directory = self.workspace / "landing" / folder
            for pattern in patterns:
                for path in sorted(directory.glob(pattern)):
                    path.unlink()

    def write(self, path: str | Path, data: bytes) -> Path:
        """Write `data` to `path` (relative paths are inside the workspace)."""
        target = self.workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.files.append(target)
        return target

    def stamp(self, at: datetime) -> None:
        seconds = at.timestamp()
        for path in self.files:
            os.utime(path, (seconds, seconds))
