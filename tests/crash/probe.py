"""Run one real audit and print when each of its steps starts and ends (test harness only).

    python tests/crash/probe.py WORKSPACE

The audit is `reckon.audit.run_audit`, unchanged: the probe only wraps the step
functions it calls, in this process, to print `<monotonic time> start|end <step> [arg]`
lines (flushed at once), and `os.replace` to print `<time> replace <file name>`. The
crash harness reads these lines to know which phase a SIGKILL interrupted, and to aim
kills at short phases. Production code has no sleeps or kill hooks.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

# Step functions of reckon.engine the audit calls, in order; a name the engine no longer
# has is skipped (the harness then sees fewer markers, never a different audit).
ENGINE_STEPS = (
    "ingest", "prepare", "build_layer", "detect_findings", "plan_repairs", "compute_metrics",
    "publish", "publish_read_copy",
)  # fmt: skip
AUDIT_STEPS = ("export_plan", "export_operator_queue_csv")


def emit(*parts: object) -> None:
    sys.stdout.write(" ".join([f"{time.monotonic():.6f}", *map(str, parts)]) + "\n")
    sys.stdout.flush()


def _label(args: tuple) -> str:
    """A short argument for the marker: the source name of `ingest`, the layer's name."""
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1]
    name = getattr(args[1], "name", None) if len(args) >= 2 else None
    return name if isinstance(name, str) else ""


def wrap(module: object, attr: str, step: str) -> None:
    original = getattr(module, attr, None)
    if original is None:
        return

    @functools.wraps(original)
    def probed(*args, **kwargs):
        label = _label(args)
        emit("start", step, label)
        result = original(*args, **kwargs)
        emit("end", step, label)
        return result

    setattr(module, attr, probed)


def main(root: str) -> None:
    from reckon import audit, engine
    from reckon.workspace import Workspace

    for name in ENGINE_STEPS:
        wrap(engine, name, name)
    for name in AUDIT_STEPS:  # imported into reckon.audit by name
        wrap(audit, name, name)
    replace = os.replace

    def probed_replace(src, dst, *args, **kwargs):
        result = replace(src, dst, *args, **kwargs)
        emit("replace", Path(dst).name)
        return result

    os.replace = probed_replace
    emit("ready")
    audit.run_audit(Workspace.open(root))
    emit("done")


if __name__ == "__main__":
    main(sys.argv[1])
