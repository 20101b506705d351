"""One audit per workspace at a time: an advisory file lock with a timeout. (The repair
executor holds a lock of its own the same way, `<workspace>/executor/.reckon.lock`: one
executor at a time, while audits go on.)

A second audit on the same workspace waits up to `timeout` seconds for the first to
finish, then gives up with a message naming the lock file; neither touches the other's
files. The holder writes its pid and since when it holds the lock into the file, so a
waiter can say whom it waits for (one line on stderr). The lock is released by the kernel
if its holder dies, so a killed audit never leaves the workspace locked.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".reckon.lock"
DEFAULT_TIMEOUT = 600.0


class WorkspaceBusy(RuntimeError):
    """Another audit holds the workspace."""


class WorkspaceLock:
    def __init__(self, root: Path, timeout: float = DEFAULT_TIMEOUT, holder: str = "audit") -> None:
        self.path = root / LOCK_FILE
        self.timeout = timeout
        self.holder = holder  # what holds it, in messages
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid, since = self._holder(fd)
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise WorkspaceBusy(f"another {self.holder} (pid {pid}) holds {self.path}; waited {self.timeout:g} s "
                                        f"(it has held the lock since {since})") from None
                if not waiting:
                    waiting = True
                    print(f"reckon: waiting up to {self.timeout:g} s for the workspace lock {self.path}: "
                          f"another {self.holder} (pid {pid}) has held it since {since}", file=sys.stderr, flush=True)
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n".encode(), 0)
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> tuple[str, str]:
        """The holder's pid and since when it holds the lock, as it wrote them right after
        locking (unknown only in that instant)."""
        lines = os.pread(fd, 200, 0).decode(errors="replace").splitlines()
        return (lines[0].strip() if lines else "unknown"), (lines[1].strip() if len(lines) > 1 else "an unknown time")

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextmanager
def workspace_lock(root: Path, timeout: float = DEFAULT_TIMEOUT, holder: str = "audit") -> Iterator[None]:
    lock = WorkspaceLock(root, timeout, holder)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
