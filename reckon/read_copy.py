"""The analyst copy, `reckon-read.duckdb`, published without copying the whole database.

Two hidden slots sit beside the public name, `.reckon-read.a.duckdb` and
`.reckon-read.b.duckdb`; the public name is a hard link to one of them, so it stays a
plain file that readers open as before. Each audit brings the *other* slot up to date
and links the public name to it in one rename:

- The other slot was the analyst copy two audits ago. If no process has it open (DuckDB
  holds a POSIX read lock on every file it opens, so an exclusive lock tells), the audit
  compares it with `reckon.duckdb` block by block and writes only the blocks that
  differ. DuckDB rewrites only what an audit changed, so most blocks are equal.
- If a reader still has it open, the audit copies the database whole to a staging file
  and renames that onto the slot: the reader keeps its file, untouched.

A slot is never the public name's file while it is written, so a reader never sees a
half-written copy. A run killed mid-way leaves the other slot in some mixed state; the
next audit compares every block again, so it mends it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

from reckon import atomic

SLOTS = ("a", "b")
CHUNK = 1 << 18  # DuckDB's storage block size: the unit an audit rewrites


def slot_path(final: Path, slot: str) -> Path:
    """`.reckon-read.a.duckdb` for `reckon-read.duckdb`: hidden, beside it."""
    return final.with_name(f".{final.stem}.{slot}{final.suffix}")


def files(final: Path) -> list[Path]:
    """The public name and both slots: what the analyst copy keeps on disk."""
    return [final, *(slot_path(final, name) for name in SLOTS)]


def publish(database: Path, final: Path) -> dict:
    """Make `final` a whole, durable copy of `database` (closed and checkpointed), in one
    rename. Returns how: `{"written_bytes", "size_bytes", "whole_copy"}`."""
    staging = atomic.staging_path(final)  # for the whole copy, then for the new link
    atomic.remove_leftovers(final.parent, f".{final.name}.*.tmp")
    slot = _other_slot(final)
    written = _update_in_place(database, slot)
    whole = written is None
    if whole:
        shutil.copyfile(database, staging)
        atomic.publish([(staging, slot)])
        written = slot.stat().st_size
    os.link(slot, staging)
    atomic.publish([(staging, final)])
    return {"written_bytes": written, "size_bytes": final.stat().st_size, "whole_copy": whole}


def _other_slot(final: Path) -> Path:
    """The slot the public name does not link to (slot a when it links to neither)."""
    a, b = (slot_path(final, name) for name in SLOTS)
    linked_to_a = final.exists() and a.exists() and os.path.samestat(a.stat(), final.stat())
    return b if linked_to_a else a


def _update_in_place(database: Path, slot: Path) -> int | None:
    """Write into `slot` the blocks where it differs from `database`, under an exclusive
    lock; the bytes written, or None when the slot is missing or a reader holds it."""
    try:
        fd = os.open(slot, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return None
            raise
        written = _write_changed_blocks(database, fd)
        os.fsync(fd)
        return written
    finally:
        os.close(fd)  # also drops the lock


def _write_changed_blocks(database: Path, fd: int) -> int:
    source_block, slot_block = bytearray(CHUNK), bytearray(CHUNK)
    written = offset = 0
    with database.open("rb", buffering=0) as source:
        while n := source.readinto(source_block):
            got = os.preadv(fd, [slot_block], offset)
            same = got == n and (source_block == slot_block if n == CHUNK else source_block[:n] == slot_block[:n])
            if not same:
                os.pwrite(fd, memoryview(source_block)[:n], offset)
                written += n
            offset += n
    os.ftruncate(fd, offset)
    return written
