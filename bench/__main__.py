"""`python -m bench`: generate, ingest, audit, floor, Dagster and incremental figures per N.

    python -m bench --intents 1000000,3000000,10000000 [--workdir /tmp/reckon-bench]
                    [--days 30] [--skip-incremental] [--skip-dagster] [--buckets 4] [--memory-limit 4GB]
                    [--previous bench/baseline.json]
    python -m bench --quick          # one ~50k-intent run

For each N it generates a workspace of N intents spread over `--days` days (and, for
the incremental figures, two more days of N/days intents and a day of `QUIET_INTENTS`
held back), then, each phase in a child process of its own so that no phase's memory
counts in another's peak RSS:

1. ingest: every source's snapshot step (landing files -> snapshot);
2. the full audit's steps (`pipelines.steps`: inputs, models, findings, plan, exports, metrics, publish),
   each timed, and the audit's peak RSS; then, in the same child, the floor (one
   hand-written DuckDB pass over the same snapshots, `bench/floor.py`); then the HTML
   report: its write, its size and its load in headless Chromium;
3. the Dagster audit job re-run in-process on the same workspace, every engine step
   timed inside it, so the job's own overhead is the rest;
4. incremental: the first held-back day is moved into landing/ and audited (a warm-up:
   the first audit after a full one writes the analyst copy's second slot whole), then
   the second, whose `run_audit` is timed (ingest of the new files + audit), as a share
   of the full audit of step 2; then the quiet day of a few intents, timed the same way:
   what an audit costs whatever its day brings (it rewrites every open finding).

It prints one Markdown table per N, every figure of this run beside the same figure of
an earlier run (`--previous`, by default `bench/baseline.json`: copy a run's
results.json there to make it the comparison) and its target, and writes the raw
figures to `<workdir>/results.json`; `python -m bench.report` prints them again. Wall
seconds are printed with CPU seconds beside them: on a shared machine CPU time is the
steadier measure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench import report
from bench.probes import hardware

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = Path("/tmp/reckon-bench")
BASELINE = REPO / "bench" / "baseline.json"  # the figures a run is compared with: a results.json kept in git
QUICK_INTENTS = 50_000
TINY_INTENTS = 1_000
QUIET_INTENTS = 30  # the last held-back day: next to nothing new


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", default="1000000,3000000,10000000",
                        help="comma-separated N (intents per workspace); 1M, 3M, 10M by default")
    parser.add_argument("--quick", action="store_true", help=f"one run of {QUICK_INTENTS:,} intents")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--days", type=int, default=30, help="days of history per workspace")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-share", type=float, default=0.05)
    parser.add_argument("--memory-limit", help="DuckDB memory_limit for the audit (reckon.yaml's otherwise)")
    parser.add_argument("--threads", type=int, help="DuckDB threads for the audit (reckon.yaml's otherwise)")
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument("--skip-dagster", action="store_true", help="skip the at-scale Dagster job re-run")
    parser.add_argument("--buckets", type=int, default=4,
                        help="also rebuild the full audit in this many buckets of runs (0 or 1: skip)")
    parser.add_argument("--tiny-intents", type=int, default=TINY_INTENTS,
                        help="size of the fresh workspace the Dagster job's fixed cost is measured on (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep each N's workspace (else removed after)")
    parser.add_argument("--previous", type=Path, default=BASELINE if BASELINE.exists() else None,
                        help="an earlier run's results.json, printed beside this run's figures "
                             f"(default: {BASELINE.relative_to(REPO)}, when present)")
    args = parser.parse_args(argv)
    args.sizes = [QUICK_INTENTS] if args.quick else [_count(x) for x in args.intents.split(",") if x.strip()]
    return args


def _count(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def child(task: str, root: Path, logs: Path, **kwargs) -> dict:
    """Run one phase in a child process; its figures come back through a JSON file."""
    logs.mkdir(parents=True, exist_ok=True)
    out = logs / f"{task}-{root.name}.json"
    log = logs / f"{task}-{root.name}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "bench.child", task, str(root), str(out), json.dumps(kwargs)]
    with log.open("w") as handle:
        done = subprocess.run(cmd, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"bench child '{task}' on {root} failed ({done.returncode}):\n{tail}")
    return json.loads(out.read_text())


def configure(root: Path, memory_limit: str | None, threads: int | None) -> tuple[str, int]:
    """Apply --memory-limit / --threads to the workspace's reckon.yaml; the values in force."""
    path = root / "reckon.yaml"
    config = yaml.safe_load(path.read_text())
    duck = config.setdefault("policies", {}).setdefault("duckdb", {})
    if memory_limit:
        duck["memory_limit"] = memory_limit
    if threads:
        duck["threads"] = threads
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    from reckon.config import load_config

    pol = load_config(root).policies
    return pol.memory_limit, pol.threads


# Disk one N needs, per million intents (measured at 10M, 2026-12-05: 62 GB at the peak,
# in the audit in buckets): landing files 2.1 GB, snapshots 0.31 GB, the database 1.6 GB and
# its read copy 1.3 GB, `buckets/` 0.6 GB, exports 0.12 GB, plus DuckDB spill room.
DISK_PER_MILLION = 6.5e9


def bench_one(n: int, args: argparse.Namespace, say) -> dict:
    base = args.workdir / f"n{n}"
    shutil.rmtree(base, ignore_errors=True)
    need, free = DISK_PER_MILLION * n / 1e6, shutil.disk_usage(args.workdir).free
    if need > free:
        say(f"warning: N={n:,} needs about {need / 1e9:.0f} GB of disk, {free / 1e9:.0f} GB free in {args.workdir}")
    ws, logs = base / "ws", base / "logs"
    # Days held back and landed one at a time: a warm-up, the day measured, a quiet day.
    day = max(2, n // args.days)
    held_back = [("incremental_first", base / "next", day), ("incremental", base / "next2", day),
                 ("incremental_quiet", base / "quiet", QUIET_INTENTS)]
    result: dict = {"intents": n}
    gen_args = {"days": args.days, "seed": args.seed, "fault_share": args.fault_share}
    say(f"N={n:,}: generating {args.days} days")
    result["generate"] = child("generate", ws, logs, intents=n, **gen_args)
    if not args.skip_incremental:
        say(f"N={n:,}: generating days {args.days + 1} to {args.days + 3} (held back)")
        result["generate_next"] = [
            child("generate", folder, logs, intents=intents, days=1, seed=args.seed,
                  fault_share=args.fault_share, first_day=args.days + offset)
            for offset, (_, folder, intents) in enumerate(held_back, start=1)]
    result["memory_limit"], result["threads"] = configure(ws, args.memory_limit, args.threads)
    say(f"N={n:,}: ingest")
    result["ingest"] = child("ingest", ws, logs)
    say(f"N={n:,}: full audit + floor")
    result["audit"] = child("audit", ws, logs)
    say(f"N={n:,}: HTML report")
    result["report"] = child("report", ws, logs)
    if not args.skip_dagster:
        say(f"N={n:,}: Dagster job re-run")
        result["dagster"] = child("dagster", ws, logs)
    if not args.skip_incremental:
        # The first day after a full audit writes the analyst copy's second slot whole
        # (reckon/read_copy.py); from the next day on every audit runs as the measured one.
        for offset, (key, folder, _) in enumerate(held_back, start=1):
            land(folder, ws)
            say(f"N={n:,}: incremental audit (day {args.days + offset})")
            result[key] = child("run_audit", ws, logs)
    # Last: it rebuilds what the last audit built, so it is compared with that audit, and
    # if it fails (it may need more memory than one pass) the other figures still stand.
    if args.buckets > 1:
        say(f"N={n:,}: full audit in {args.buckets} buckets")
        try:
            result["buckets"] = buckets_audit(ws, logs, args.buckets)
        except RuntimeError as exc:
            lines = str(exc).splitlines()
            error = next((line for line in reversed(lines) if "Error" in line or "Exception" in line), lines[-1])
            result["buckets"] = {"buckets": args.buckets, "error": error}
            say(f"N={n:,}: the audit in buckets failed: {result['buckets']['error']}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return result


def land(day: Path, ws: Path) -> None:
    """Move a generated day's landing files into the workspace's landing folders."""
    for folder in (day / "landing").iterdir():
        (ws / "landing" / folder.name).mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            os.replace(path, ws / "landing" / folder.name / path.name)  # keeps the export's mtime


@contextmanager
def full_rebuild(ws: Path) -> Iterator[None]:
    """`policies.incremental` off while inside: the audit then drops every kept table and
    rebuilds them all (reckon/incremental.py, invariant 2)."""
    path = ws / "reckon.yaml"
    original = path.read_text()
    config = yaml.safe_load(original)
    config.setdefault("policies", {})["incremental"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        yield
    finally:
        path.write_text(original)


def buckets_audit(ws: Path, logs: Path, buckets: int) -> dict:
    """The same full audit rebuilt in buckets (a full rebuild needs policies.incremental off)."""
    with full_rebuild(ws):
        return {"buckets": buckets, **child("run_audit", ws, logs, buckets=buckets)}


def bench_tiny(args: argparse.Namespace, say) -> dict:
    """The Dagster job on a small fresh workspace: its fixed cost per run."""
    base = args.workdir / "tiny"
    shutil.rmtree(base, ignore_errors=True)
    ws, logs = base / "ws", base / "logs"
    say(f"Dagster job on a fresh {args.tiny_intents:,}-intent workspace")
    child("generate", ws, logs, intents=args.tiny_intents, days=1, seed=args.seed, fault_share=args.fault_share)
    configure(ws, args.memory_limit, args.threads)
    out = {"intents": args.tiny_intents, "dagster": child("dagster", ws, logs)}
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[bench {time.perf_counter() - started:7.1f}s] {text}", file=sys.stderr, flush=True)

    hw = hardware()
    results = [bench_one(n, args, say) for n in args.sizes]
    tiny = bench_tiny(args, say) if args.tiny_intents else None
    options = {"days": args.days, "seed": args.seed, "fault_share": args.fault_share,
               "memory_limit": results[0]["memory_limit"] if results else None,
               "threads": results[0]["threads"] if results else None,
               "load_end": [round(x, 2) for x in os.getloadavg()], "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    (args.workdir / "results.json").write_text(
        json.dumps({"hardware": hw, "options": options, "results": results, "tiny": tiny}, indent=2, default=str)
    )
    previous = report.load(args.previous) if args.previous else None
    print(report.render(results, tiny, hw, options, previous))
    say(f"done; raw figures in {args.workdir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
