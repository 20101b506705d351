"""A time bound for a block of test code: a reader or a regex that hangs fails the test
instead of hanging the suite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class TooSlow(Exception):
    """The block ran past its bound."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` with TooSlow. Python checks for signals between
    bytecodes and while `re` backtracks, so the alarm stops a loop or a match that would
    never finish."""

    def expire(*_: object) -> None:
        raise TooSlow(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
