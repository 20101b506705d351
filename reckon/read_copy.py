"""The analyst copy, `reckon-read.duckdb`, published without copying the whole database.

Two hidden slots sit beside the public name, `.reckon-read.a.duckdb` and
`.reckon-read.b.duckdb`; the public name is a hard link to one of them, so it stays a
plain file that readers open as before. Each audit brings the *other* slot up to date
and links the public name to it in one rename:

- The other slot was the analyst copy two audits ago. If no process has it open (DuckDB
  holds a POSIX read lock on every file it opens, so an exclusive lock tells), the audit
  writes into it only the blocks where `reckon.duckdb` differs. DuckDB rewrites only what
  an audit changed, so most blocks are equal.
- To tell which differ, the audit reads the database once and hashes each block (SHA-256).
  Beside each slot a digest file (`.reckon-read.a.duckdb.digests`) holds the hashes of
  what the slot holds, so the slot itself is not read: at scale, written two audits
  before, it is likely out of the page cache, and reading it from disk is slow. With no
  digest file that still describes the slot (missing, cut short, or the slot's file,
  size or modification time changed since), the audit compares the slot's bytes, as it
  did before digests.
- If a reader still has it open, the audit copies the database whole to a staging file
  and renames that onto the slot: the reader keeps its file, untouched. A slot written
  whole gets its digest file too.

A slot is never the public name's file while it is written, so a reader never sees a
half-written copy. Its digest file is deleted before the slot is written and written
again only once the slot is whole and flushed, so a run killed mid-way leaves a slot
with none: the next audit compares every byte again, so it mends it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reckon import atomic

SLOTS = ("a", "b")
CHUNK = 1 << 18  # DuckDB's storage block size: the unit an audit rewrites
SEGMENT = 64 * CHUNK  # what one worker reads at a time
DIGEST = "sha256"  # hashlib's, with the CPU's SHA instructions where it has them
DIGEST_SIZE = hashlib.new(DIGEST).digest_size


def slot_path(final: Path, slot: str) -> Path:
    """`.reckon-read.a.duckdb` for `reckon-read.duckdb`: hidden, beside it."""
    return final.with_name(f".{final.stem}.{slot}{final.suffix}")


def digests_path(slot: Path) -> Path:
    """`.reckon-read.a.duckdb.digests`: the hashes of a slot's blocks, beside it."""
    return slot.with_name(f"{slot.name}.digests")


def files(final: Path) -> list[Path]:
    """The public name and both slots: what the analyst copy keeps on disk."""
    return [final, *(slot_path(final, name) for name in SLOTS)]


def publish(database: Path, final: Path, workers: int = 2) -> dict:
    """Make `final` a whole, durable copy of `database` (closed and checkpointed), in one
    rename. Returns how: `{"written_bytes", "size_bytes", "whole_copy", "compared_by"}`
    (`compared_by`: "digests" or "bytes" when written in place, "none" when whole)."""
    staging = atomic.staging_path(final)  # for the whole copy, then for the new link
    atomic.remove_leftovers(final.parent, f".{final.name}.*.tmp")
    slot, workers = _other_slot(final), max(1, workers)
    updated = _update_in_place(database, slot, workers)
    if updated is None:
        digests_path(slot).unlink(missing_ok=True)  # it describes the file being replaced
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            written, digests = _write_blocks(database, fd, workers, known=b"")  # a new file: no block known
            os.fsync(fd)
        finally:
            os.close(fd)
        atomic.publish([(staging, slot)])
        _write_digests(digests_path(slot), slot.stat(), digests)
        compared_by = "none"
    else:
        written, compared_by = updated
    os.link(slot, staging)
    atomic.publish([(staging, final)])
    return {"written_bytes": written, "size_bytes": final.stat().st_size, "whole_copy": updated is None,
            "compared_by": compared_by}


def _other_slot(final: Path) -> Path:
    """The slot the public name does not link to (slot a when it links to neither)."""
    a, b = (slot_path(final, name) for name in SLOTS)
    linked_to_a = final.exists() and a.exists() and os.path.samestat(a.stat(), final.stat())
    return b if linked_to_a else a


def _update_in_place(database: Path, slot: Path, workers: int) -> tuple[int, str] | None:
    """Write into `slot` the blocks where it differs from `database`, under an exclusive
    lock; (the bytes written, how blocks were compared), or None when the slot is missing
    or a reader holds it."""
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
        known = _read_digests(digests_path(slot), os.fstat(fd))
        digests_path(slot).unlink(missing_ok=True)  # from here until rewritten, the slot is in flux
        atomic.fsync(slot.parent)
        written, digests = _write_blocks(database, fd, workers, known)
        os.fsync(fd)
        _write_digests(digests_path(slot), os.fstat(fd), digests)
        return written, "bytes" if known is None else "digests"
    finally:
        os.close(fd)  # also drops the lock


def _write_blocks(database: Path, fd: int, workers: int, known: bytes | None) -> tuple[int, bytes]:
    """Bring the file open as `fd` up to `database`, segment by segment on `workers`
    threads (reads and hashing release the GIL), writing only the blocks whose digest
    differs from the one `known` holds for it (none for a block it does not cover) or,
    when `known` is None, whose bytes differ. Returns the bytes written and the digest
    of every block of `database`."""
    size = database.stat().st_size
    with database.open("rb", buffering=0) as source:

        def segment(start: int) -> tuple[int, bytes]:
            data = os.pread(source.fileno(), min(SEGMENT, size - start), start)
            old = os.pread(fd, len(data), start) if known is None else None
            view, written, digests = memoryview(data), 0, []
            for at in range(0, len(data), CHUNK):
                block = view[at:at + CHUNK]  # no copy: hashed and written as it is
                digest = hashlib.new(DIGEST, block).digest()
                digests.append(digest)
                index = (start + at) // CHUNK
                if (known[index * DIGEST_SIZE:(index + 1) * DIGEST_SIZE] != digest if known is not None
                        else old[at:at + CHUNK] != data[at:at + CHUNK]):
                    os.pwrite(fd, block, start + at)
                    written += len(block)
            return written, b"".join(digests)

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(segment, range(0, size, SEGMENT)))
    os.ftruncate(fd, size)
    return sum(w for w, _ in parts), b"".join(d for _, d in parts)


def _read_digests(path: Path, slot: os.stat_result) -> bytes | None:
    """The digests in `path` if they describe the slot as it is now (the same file, size
    and modification time as when they were written) and are whole, else None."""
    try:
        header, _, digests = path.read_bytes().partition(b"\n")
        meta = json.loads(header)
    except (OSError, ValueError):
        return None
    return digests if meta == _header(slot, digests) else None


def _write_digests(path: Path, slot: os.stat_result, digests: bytes) -> None:
    """Written in place: a file cut short by a crash fails its own hash, so it is not used."""
    path.write_bytes(json.dumps(_header(slot, digests)).encode() + b"\n" + digests)
    atomic.fsync(path)


def _header(slot: os.stat_result, digests: bytes) -> dict:
    """What a digest file says it describes: the slot's file, size and modification time
    (a slot written since has another), the block size, and the hash of its digests."""
    return {"digest": DIGEST, "chunk": CHUNK, "inode": slot.st_ino, "size": slot.st_size,
            "mtime_ns": slot.st_mtime_ns, "digests": hashlib.new(DIGEST, digests).hexdigest()}
