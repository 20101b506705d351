"""Run one real audit and print when each of its steps starts and ends (test harness only).

    python tests/crash/probe.py WORKSPACE

The audit is `pipelines.runner.run_audit`, unchanged: the probe adds a step hook
(`pipelines.steps.add_hook`) that prints `<monotonic time> start|end <marker> <arg>` lines
(flushed at once), and wraps `os.replace` to print `<time> replace <file name>`. The
marker is the step's group for snapshots, models and findings (the arg names the source or
the step) and the step's own name for the rest. The crash harness reads these lines to
know which phase a SIGKILL interrupted, and to aim kills at short phases. Production code
has no sleeps or kill hooks.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

GROUPED = ("snapshots", "models", "findings")


def emit(*parts: object) -> None:
    sys.stdout.write(" ".join([f"{time.monotonic():.6f}", *map(str, parts)]) + "\n")
    sys.stdout.flush()


@contextmanager
def marked(step, run, metadata):
    marker, arg = (step.group, step.name.removeprefix("snapshot_")) if step.group in GROUPED else (step.name, "")
    emit("start", marker, arg)
    yield
    emit("end", marker, arg)


def main(root: str) -> None:
    from pipelines.runner import run_audit
    from pipelines.steps import add_hook
    from reckon.workspace import Workspace

    add_hook(marked)
    replace = os.replace

    def probed_replace(src, dst, *args, **kwargs):
        result = replace(src, dst, *args, **kwargs)
        emit("replace", Path(dst).name)
        return result

    os.replace = probed_replace
    emit("ready")
    run_audit(Workspace.open(root))
    emit("done")


if __name__ == "__main__":
    main(sys.argv[1])
