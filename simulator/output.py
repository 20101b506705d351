"""Byte-stable file writing: sorted keys, fixed ordering, mtimes set to the export time."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

# The files the simulator owns under <workspace>/landing; stale ones are removed first
# (a smaller workspace must not keep a larger one's extra batches).
# Later days' files (`simulator.timeline`) carry a `-dayN` tag and are owned too.
OWNED = {
    "events": ("log-*.jsonl", "log-*.jsonl.gz"),
    "stripe": ("refunds-list.json", "refunds-list-day*.json", "events-*.json"),
    "sendgrid": ("batch-*.json",),
    "hubspot": ("contacts-page-*.json", "contacts-day*-page-*.json"),
    "zendesk": ("tickets-page-*.json", "tickets-day*-page-*.json"),
}
# Operator decisions the timeline writes (`decisions/timeline-dayN.jsonl`); people's own
# decision files are never touched.
OWNED_DECISIONS = "timeline-day*.jsonl"
# Operators' flag files the simulator writes (`flags/simulated-dayN.csv`), one per day.
OWNED_FLAGS = "simulated-day*.csv"
_NUMBERED = re.compile(r"^(?P<head>.*?)-(?P<tail>\d+|page-\d+)$")


def json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json_line(r) + "\n" for r in records).encode()


def dated(name: str, day: int) -> str:
    """A landing file's name on simulated day `day`: unchanged on day 1, else tagged
    (`log-0001.jsonl` -> `log-day2-0001.jsonl`, `refunds-list.json` -> `refunds-list-day2.json`),
    so that a later day's export is a new file and never rewrites an earlier one."""
    if day == 1:
        return name
    stem, dot, suffix = name.partition(".")
    match = _NUMBERED.match(stem)
    tagged = f"{match['head']}-day{day}-{match['tail']}" if match else f"{stem}-day{day}"
    return tagged + dot + suffix


class Output:
    """Writes files under the workspace (or beside it) and remembers them for `stamp`."""

    def __init__(self, workspace: Path, day: int = 1) -> None:
        self.workspace = workspace
        self.day = day
        self.files: list[Path] = []

    def clear(self) -> None:
        for folder, patterns in OWNED.items():
            directory = self.workspace / "landing" / folder
            for pattern in patterns:
                for path in sorted(directory.glob(pattern)):
                    path.unlink()
        for folder, pattern in (("decisions", OWNED_DECISIONS), ("flags", OWNED_FLAGS)):
            for path in sorted((self.workspace / folder).glob(pattern)):
                path.unlink()

    def write(self, path: str | Path, data: bytes) -> Path:
        """Write `data` to `path` (relative paths are inside the workspace)."""
        target = self.workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.files.append(target)
        return target

    def landing(self, folder: str, name: str, data: bytes) -> Path:
        """Write one vendor export into `landing/<folder>/`, named for the output's day."""
        return self.write(f"landing/{folder}/{dated(name, self.day)}", data)

    def stamp(self, at: datetime) -> None:
        seconds = at.timestamp()
        for path in self.files:
            os.utime(path, (seconds, seconds))
