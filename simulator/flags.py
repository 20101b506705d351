"""Operators' flag files (`flags/`, read by reckon.flags): runs someone says look wrong."""

from __future__ import annotations

import csv
import io

from simulator.output import Output
from simulator.world import World

COLUMNS = ("run_id", "operator", "reason", "flagged_at")


def write_flags(world: World, out: Output) -> None:
    """The day's flags as one CSV file, `flags/simulated-day<N>.csv` (none without flags)."""
    if not world.flags:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(world.flags, key=lambda f: (f["flagged_at"], f["run_id"])))
    out.write(f"flags/simulated-day{out.day}.csv", buffer.getvalue().encode())
