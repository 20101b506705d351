"""The workflow log: two files (plain and gzipped), slightly out of order (or shuffled
across both, by the conventions), ~3% repeated lines (at-least-once delivery), and two
malformed lines that belong to no run."""

from __future__ import annotations

import gzip
from datetime import timedelta

from simulator.model import rfc3339
from simulator.output import Output, json_line
from simulator.world import World

SWAP_SHARE = 0.1  # adjacent lines swapped: out of order by ts
REPEAT_SHARE = 0.03  # lines written again a little later, verbatim


def write_events(world: World, out: Output) -> None:
    rng = world.rng
    lines = [json_line(e) for e in sorted(world.events, key=lambda e: e["ts"])]
    for i in range(len(lines) - 1):
        if rng.random() < SWAP_SHARE:
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
    if world.conventions.log_order == "shuffled":
        # Any event in any file, in any order (several workers appending to their own files).
        rng.shuffle(lines)
    repeats = [(i, line) for i, line in enumerate(lines) if rng.random() < REPEAT_SHARE]
    for i, line in reversed(repeats):
        lines.insert(min(len(lines), i + rng.randint(1, 30)), line)

    half = len(lines) // 2
    first, second = lines[:half], lines[half:]
    for bad in malformed(world):
        first.insert(rng.randint(0, len(first)), bad)
    out.landing("events", "log-0001.jsonl", "".join(f"{line}\n" for line in first).encode())
    data = "".join(f"{line}\n" for line in second).encode()
    out.landing("events", "log-0002.jsonl.gz", gzip.compress(data, compresslevel=9, mtime=0))


def malformed(world: World) -> list[str]:
    """A truncated line and a line without run_id, for the quarantine."""
    ids = world.ids
    at = rfc3339(world.export_time - world.seconds(3600, 12 * 3600))
    cut = json_line(
        {"event_id": ids.hex("ev_", 16), "ts": at, "type": "run.started",
         "run_id": ids.hex("run_", 10), "workflow": "refund_order", "status": "running"}
    )  # fmt: skip
    orphan = {"event_id": ids.hex("ev_", 16), "ts": rfc3339(world.export_time - timedelta(hours=2)),
              "type": "run.completed", "workflow": "refund_order", "status": "completed"}  # fmt: skip
    return [cut[: len(cut) // 2], json_line(orphan)]
