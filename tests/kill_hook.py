"""`reckon` for the executor's kill test: `python -m tests.kill_hook execute ... --apply` runs the
real command line, and SIGKILLs itself right after its K-th durable write (a ledger
transition or a feedback event), K from $RECKON_TEST_KILL_AT. With $RECKON_TEST_KILL_TORN=1 it
dies in the middle of that write instead: half a ledger line reaches the file. Without
$RECKON_TEST_KILL_AT it only runs `reckon`. The writes themselves are the executor's own."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from executor import feedback, ledger
from pipelines import cli


def main() -> int:
    at = int(os.environ.get("RECKON_TEST_KILL_AT") or 0)
    torn = os.environ.get("RECKON_TEST_KILL_TORN") == "1"
    done = [0]

    def wrote() -> None:
        done[0] += 1
        if done[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    record_many, append = ledger.Ledger.record_many, feedback.EventFile.append

    def recording(
        self: ledger.Ledger, actions: list[dict[str, Any]], state: str, *args: Any, **kwargs: Any
    ) -> None:
        if torn and done[0] + 1 == at and actions and self._fd is not None:
            os.write(self._fd, f'{{"action_id": "{actions[0]["action_id"]}", "sta'.encode())
            os.kill(os.getpid(), signal.SIGKILL)
        record_many(self, actions, state, *args, **kwargs)
        wrote()

    def appending(self: feedback.EventFile, event: dict[str, Any]) -> None:
        append(self, event)
        wrote()

    if at:
        ledger.Ledger.record_many = recording  # type: ignore[method-assign]
        feedback.EventFile.append = appending  # type: ignore[method-assign]
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
