"""`python -m bench.stream --intents 20M --days 30 --buckets 8`: an audit larger than the
disk holds exports for.

Exports arrive one day at a time, as they would from a scheduled export job: each day is
generated, moved into `landing/`, snapshotted, and its raw files deleted before the next
day, so the disk holds one day of landing files, the snapshots (about a tenth of the raw
bytes) and the audit's tables. Then the full audit runs in buckets, every pass in a
process of its own as on a Dask worker (`bench.passes`). Each phase is a child of its
own (`bench.child`), so every figure has its own peak RSS.

It prints the days' generate and ingest range, the largest disk use seen, every
bucket phase's range (`bench.passes` table), and whether the findings are the ones the
generator put in; the raw figures go to `<workdir>/stream.json`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb

from bench import passes
from bench.__main__ import _count, child, configure, full_rebuild, land
from bench.generate import expected_findings
from bench.passes import folder_bytes
from bench.report import gb, secs


def day_sizes(intents: int, days: int) -> list[int]:
    """`intents` spread over `days`, the remainder on the first days."""
    share, extra = divmod(intents, days)
    return [share + (day < extra) for day in range(days)]


def stream_days(ws: Path, work: Path, logs: Path, args: argparse.Namespace, say) -> dict:
    """Generate, land, snapshot and delete each day in turn."""
    days, scenarios, peak_disk = [], Counter(), 0
    for day, intents in enumerate(day_sizes(args.intents, args.days), start=1):
        staging = work / "day"
        shutil.rmtree(staging, ignore_errors=True)
        generated = child("generate", staging, logs, intents=intents, days=1, seed=args.seed,
                          fault_share=args.fault_share, first_day=day)  # fmt: skip
        scenarios.update(generated["scenarios"])
        if day == 1:
            ws.mkdir(parents=True)
            shutil.copyfile(staging / "reckon.yaml", ws / "reckon.yaml")
            configure(ws, args.memory_limit, args.threads)
        land(staging, ws)
        shutil.rmtree(staging)
        landed = folder_bytes(ws / "landing")
        peak_disk = max(peak_disk, folder_bytes(ws))
        ingest = child("ingest", ws, logs)
        peak_disk = max(peak_disk, folder_bytes(ws))
        shutil.rmtree(ws / "landing")  # the raw day goes: its snapshot holds what the audit reads
        days.append({"day": day, "intents": intents, "generate": generated["seconds"], "bytes": landed,
                     "ingest": sum(s["wall"] for s in ingest["sources"]),
                     "ingest_rss": max(s["peak_rss"] for s in ingest["sources"])})  # fmt: skip
        say(f"day {day}: {intents:,} intents, {landed / 1e9:.2f} GB landed and snapshotted, "
            f"{folder_bytes(ws / 'snapshots') / 1e9:.2f} GB of snapshots")
    return {"days": days, "scenarios": dict(scenarios), "peak_disk_ingest": peak_disk}


def findings(ws: Path) -> dict[str, int]:
    with duckdb.connect(str(ws / "reckon.duckdb"), read_only=True) as db:
        return dict(db.execute(
            "SELECT subject_kind || ':' || mismatch_type, count(*) FROM findings GROUP BY ALL ORDER BY 1"
        ).fetchall())  # fmt: skip


def render(result: dict) -> str:
    days = result["days"]

    def span(key: str, show) -> str:
        return f"{show(min(d[key] for d in days))} to {show(max(d[key] for d in days))}"

    expected = expected_findings(result["scenarios"])
    lines = [
        f"N = {result['intents']:,} intents over {len(days)} days, streamed; audit in {result['buckets']} buckets, "
        f"memory_limit {result['memory_limit']}, threads {result['threads']}",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| raw exports, all days (never on disk together) | {gb(sum(d['bytes'] for d in days))} |",
        f"| a day: generate · landing bytes · ingest | {span('generate', secs)} · {span('bytes', gb)} · "
        f"{span('ingest', secs)} |",
        f"| a day's ingest peak RSS | {span('ingest_rss', gb)} |",
        f"| largest disk use while ingesting (one day's landing + snapshots + tables) | "
        f"{gb(result['peak_disk_ingest'])} |",
        f"| snapshots, all days | {gb(result['snapshot_bytes'])} |",
        f"| largest disk use during the audit (sampled after each pass) | {gb(result['peak_disk_audit'])} |",
        f"| analyst database · read copy | {gb(result['database_bytes'])} · {gb(result['read_copy_bytes'])} |",
        f"| audit in buckets, every pass in its own process (wall) | {secs(result['audit_wall'])} |",
        f"| findings | {'as generated' if result['findings'] == expected else 'DIFFERENT'}: {result['findings']} |",
        "",
        passes.table(result["passes"]),
    ]
    if result["findings"] != expected:
        lines.append(f"\nthe generator's labels: {expected}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=_count, default=_count("20M"))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-share", type=float, default=0.05)
    parser.add_argument("--memory-limit", help="DuckDB memory_limit (reckon.yaml's otherwise)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (reckon.yaml's otherwise)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reckon-bench-stream"))
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    args = parser.parse_args(argv)
    work = args.workdir.resolve() / f"n{args.intents}"
    shutil.rmtree(work, ignore_errors=True)
    ws, logs = work / "ws", work / "logs"
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[stream {time.perf_counter() - started:7.1f}s] {text}", file=sys.stderr, flush=True)

    result: dict = {"intents": args.intents, "buckets": args.buckets, **stream_days(ws, work, logs, args, say)}
    result["snapshot_bytes"] = folder_bytes(ws / "snapshots")
    say(f"audit in {args.buckets} buckets")
    wall = time.perf_counter()
    with full_rebuild(ws):  # an audit in buckets is a full one
        result["passes"] = passes.measure(ws, args.buckets, logs)
    result["audit_wall"] = time.perf_counter() - wall
    result["peak_disk_audit"] = max(result["passes"]["disk"])
    result["database_bytes"] = (ws / "reckon.duckdb").stat().st_size
    result["read_copy_bytes"] = (ws / "reckon-read.duckdb").stat().st_size
    result["memory_limit"], result["threads"] = configure(ws, None, None)
    result["findings"] = findings(ws)
    (args.workdir / "stream.json").write_text(json.dumps(result, indent=2, default=str))
    print(render(result))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
