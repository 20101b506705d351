"""One audit per workspace at a time: an advisory file lock with a timeout.

A second audit on the same workspace waits up to `timeout` seconds for the first to
finish, then gives up with a message naming the lock file; neither touches the other's
files. The lock is released by the kernel if its holder dies, so a killed audit never
leaves the workspace locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".reckon.lock"
DEFAULT_TIMEOUT = 600.0


class WorkspaceBusy(RuntimeError):
    """Another audit holds the workspace."""


class WorkspaceLock:
    def __init__(self, root: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = root / LOCK_FILE
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise WorkspaceBusy(
                        f"another audit (pid {holder}) holds {self.path}; waited {self.timeout:.0f} s"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextmanager
def workspace_lock(root: Path, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    lock = WorkspaceLock(root, timeout)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
