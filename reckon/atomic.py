"""Durable, all-or-nothing file writes: write beside the final name, fsync, rename, fsync
the folder. A reader sees the old file or the new one, never a half-written one."""

from __future__ import annotations

import os
from pathlib import Path


def fsync(path: Path) -> None:
    """Flush a file's or a folder's contents (a folder: its entries, e.g. after a rename)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def staging_path(final: Path) -> Path:
    """Where to write `final` first: hidden, beside it (same file system), per process."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def publish(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each staged file onto its final name, in order, durably."""
    for staging, _ in pairs:
        fsync(staging)
    for staging, final in pairs:
        os.replace(staging, final)
    for folder in {final.parent for _, final in pairs}:
        fsync(folder)


def remove_leftovers(folder: Path, pattern: str) -> None:
    """Delete staged files a killed run left behind (callers hold the workspace lock)."""
    for leftover in folder.glob(pattern):
        leftover.unlink(missing_ok=True)
