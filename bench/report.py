"""The benchmark's printed figures: one Markdown table per N, this run's figures with an
earlier run's (`bench/baseline.json` by default) and the targets beside them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.generate import expected_findings
from reckon.config import size_bytes

# Targets from the performance issue.
FLOOR_RATIO_MAX = 3.0  # at 10M, the report, plan and metrics steps included
PEAK_RSS_MAX = 6e9
STEP_RSS_MARGIN = 1e9  # over DuckDB's memory_limit: Python, Arrow buffers, the process itself
INGEST_MBPS_MIN = 200.0
INCREMENTAL_SHARE_MAX = 0.10
DAGSTER_OVERHEAD_MAX = 10.0
REPORT_BYTES_MAX = 10e6
REPORT_LOAD_MAX = 5.0

REPORT_STEP = "reports:audit_report"  # steps are timed as `<group>:<name>` (pipelines.steps)


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def secs(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f} s" if x >= 10 else f"{x:,.2f} s"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else (" ✅" if ok else " ❌")


def single_pass(r: dict) -> dict:
    """The last single-pass audit of the workspace, which the audit in buckets rebuilds."""
    return r.get("incremental_quiet") or r.get("incremental") or r["audit"]


def span(steps: list[dict]) -> float:
    """The wall time these steps took together: first start to last end, since steps run
    side by side overlap (the snapshots); the sum of their times in results without starts."""
    if not steps or any(s.get("start") is None for s in steps):
        return sum(s["wall"] for s in steps)
    return max(s["start"] + s["wall"] for s in steps) - min(s["start"] for s in steps)


def job_seconds(steps: list[dict]) -> tuple[float, float]:
    """A Dagster job's time in our steps (the snapshots' span and every other step but the
    report) and in the report."""
    snapshots = [s for s in steps if s["name"].startswith("snapshots:")]
    rest = [s for s in steps if s not in snapshots]
    return (span(snapshots) + sum(s["wall"] for s in rest if s["name"] != REPORT_STEP),
            sum(s["wall"] for s in rest if s["name"] == REPORT_STEP))


def derive(r: dict) -> dict:
    """Figures computed from one N's raw results (also stored in results.json)."""
    d: dict = {}
    audit = r["audit"]
    steps = {s["name"]: s for s in audit["steps"]}
    d["audit_wall"], d["audit_cpu"] = audit["total"]["wall"], audit["total"]["cpu"]
    d["floor_wall"], d["floor_cpu"] = audit["floor"]["wall"], audit["floor"]["cpu"]
    d["ratio_wall"] = d["audit_wall"] / d["floor_wall"] if d["floor_wall"] else None
    d["ratio_cpu"] = d["audit_cpu"] / d["floor_cpu"] if d["floor_cpu"] else None
    d["models_wall"] = sum(s["wall"] for n, s in steps.items() if n.startswith("models:"))
    ingest = r["ingest"]["sources"]
    d["ingest_wall"] = sum(s["wall"] for s in ingest)
    d["ingest_bytes"] = sum(s["bytes"] for s in ingest)
    d["ingest_min_mbps"] = min((s["bytes"] / 1e6 / s["wall"] for s in ingest if s["wall"]), default=None)
    if r.get("dagster"):
        dag = r["dagster"]
        engine, report = job_seconds(dag["steps"])
        d["dagster_engine"] = engine
        d["dagster_report"] = report
        d["dagster_overhead"] = dag["run"]["wall"] - engine - report
    if r.get("incremental"):
        inc = r["incremental"]
        d["inc_wall"] = inc["total"]["wall"]
        d["inc_ingest"] = span([s for s in inc["steps"] if s["name"].startswith("snapshots:")])
        d["inc_share"] = d["inc_wall"] / d["audit_wall"]
        d["inc_share_full"] = d["inc_wall"] / (d["audit_wall"] + d["ingest_wall"])
    if r.get("incremental_quiet"):
        d["quiet_wall"] = r["incremental_quiet"]["total"]["wall"]
        d["quiet_share"] = d["quiet_wall"] / d["audit_wall"]
    return d


Figure = tuple[str, str, str]  # label, this run's cell, target (with its verdict)


def figures(r: dict, options: dict) -> list[Figure]:
    """Every figure of one N, in print order."""
    d = derive(r)
    out: list[Figure] = []

    def row(label: str, cell: str, target: str = "") -> None:
        out.append((label, cell, target))

    row("runs / observed objects", f"{r['generate']['runs']:,} / {r['audit']['audit']['observed_objects']:,}")
    row("generate (vectorized)", f"{secs(r['generate']['seconds'])} ({secs(r['generate'].get('cpu_seconds'))}) · "
                                 f"{gb(sum(r['generate']['bytes'].values()))}")
    for s in r["ingest"]["sources"]:
        rate = s["bytes"] / 1e6 / s["wall"] if s["wall"] else 0
        row(f"ingest {s['source']} ({s['connector']})",
            f"{secs(s['wall'])} ({secs(s['cpu'])}) · {mb(s['bytes'])} · **{rate:,.1f} MB/s** · "
            f"{s['rows'] / s['wall'] if s['wall'] else 0:,.0f} rows/s · RSS {mb(s['peak_rss'])}"
            + (f" (largest file-reading worker so far {mb(s['workers_peak_rss'])})" if s.get("workers_peak_rss") else ""),
            f"≥ {INGEST_MBPS_MIN:.0f} MB/s{verdict(rate >= INGEST_MBPS_MIN)}")
    row("ingest, all sources", f"{secs(d['ingest_wall'])} · {d['ingest_bytes'] / 1e6 / d['ingest_wall']:,.1f} MB/s")
    bound = size_bytes(r["memory_limit"]) + STEP_RSS_MARGIN
    for s in r["audit"]["steps"]:
        share = s["wall"] / r["audit"]["total"]["wall"] * 100
        rows = f" · {s['rows']:,} rows" if s.get("rows") is not None else ""
        rss = f" · RSS {gb(s['peak_rss'])}" if s.get("peak_rss") else ""
        target = f"RSS ≤ {gb(bound)}{verdict(s['peak_rss'] <= bound)}" if s.get("peak_rss") else ""
        row(f"audit: {s['name']}", f"{secs(s['wall'])} ({secs(s['cpu'])}) · {share:.0f}%{rows}{rss}", target)
    # No step may hold a table in Python: each stays within DuckDB's memory_limit + 1 GB.
    largest = max((s.get("peak_rss") or 0 for s in r["audit"]["steps"]), default=0)
    row("audit: largest step peak RSS", gb(largest), f"≤ memory_limit + 1 GB{verdict(largest <= bound)}")
    row("**full audit** (snapshots → analyst database)", f"**{secs(d['audit_wall'])}** ({secs(d['audit_cpu'])})")
    peak = r["audit"]["peak_rss"]
    row("audit peak RSS (child process)", gb(peak), f"≤ {gb(PEAK_RSS_MAX)}{verdict(peak <= PEAK_RSS_MAX)}")
    row("floor (one hand-written DuckDB pass)",
        f"{secs(d['floor_wall'])} ({secs(d['floor_cpu'])}) · RSS {gb(r['audit']['floor']['peak_rss'])}")
    ok = d["ratio_wall"] is not None and d["ratio_wall"] <= FLOOR_RATIO_MAX
    row("**audit / floor**", f"**{d['ratio_wall']:.1f}x** (CPU {d['ratio_cpu']:.1f}x)",
        f"≤ {FLOOR_RATIO_MAX:.0f}x{verdict(ok)}")
    if r.get("report"):
        x = r["report"]
        row("HTML report: write", f"{secs(x['wall'])} ({secs(x['cpu'])}) · RSS {mb(x['peak_rss'])}")
        row("HTML report: size (queue items shown / all)",
            f"{x['bytes'] / 1e6:.2f} MB ({x['queue_shown']:,} / {x['queue_total']:,})",
            f"≤ {REPORT_BYTES_MAX / 1e6:.0f} MB{verdict(x['bytes'] <= REPORT_BYTES_MAX)}")
        load = x["browser_load"]
        row("HTML report: load in headless Chromium", "no chromium" if load is None else secs(load),
            f"≤ {REPORT_LOAD_MAX:.0f} s{verdict(None if load is None else load <= REPORT_LOAD_MAX)}")
        total = d["audit_wall"] + x["wall"]
        row("**audit + report / floor**", f"**{total / d['floor_wall']:.1f}x**" if d["floor_wall"] else "-",
            f"≤ {FLOOR_RATIO_MAX:.0f}x{verdict(bool(d['floor_wall']) and total / d['floor_wall'] <= FLOOR_RATIO_MAX)}")
    if r.get("dagster"):
        row("Dagster: load definitions", secs(r["dagster"]["load"]["wall"]))
        row("Dagster: audit job run (re-run, snapshots unchanged)",
            f"{secs(r['dagster']['run']['wall'])} ({secs(r['dagster']['run']['cpu'])})")
        row("Dagster: engine steps inside the job", secs(d["dagster_engine"]))
        row("Dagster: HTML report asset", secs(d["dagster_report"]))
        row("**Dagster overhead** (job - engine steps - report)", f"**{secs(d['dagster_overhead'])}**",
            f"≤ {DAGSTER_OVERHEAD_MAX:.0f} s{verdict(d['dagster_overhead'] <= DAGSTER_OVERHEAD_MAX)}")
    if r.get("buckets"):
        b = r["buckets"]
        failed = "error" in b
        row(f"full audit in {b['buckets']} buckets of runs (`run_audit`, ingest done)",
            f"failed: {b['error']}" if failed else
            f"{secs(b['total']['wall'])} ({secs(b['total']['cpu'])}) · RSS {gb(b['peak_rss'])}")
        if not failed:
            row("buckets: every bucket's claims passes · unclaimed passes · matches passes (one process)",
                " · ".join(secs(next(s["wall"] for s in b["steps"] if s["name"] == f"models:bucket_{phase}"))
                           for phase in ("claims", "unclaimed", "matches")))
            same = b["digest"] == single_pass(r)["digest"]
            row("buckets: findings equal the single pass (md5 of ids + state hashes)", "yes" if same else "**NO**",
                f"equal{verdict(same)}")
    if r.get("incremental"):
        inc = r["incremental"]
        if r.get("incremental_first"):
            first = r["incremental_first"]["total"]
            row(f"incremental: day {options.get('days', 30) + 1} added (warm-up: the analyst copy's second slot "
                "is written whole)", f"{secs(first['wall'])} ({secs(first['cpu'])})")
        day = options.get("days", 30) + (2 if r.get("incremental_first") else 1)
        row(f"incremental: day {day} added, `run_audit`", f"{secs(d['inc_wall'])} ({secs(inc['total']['cpu'])})")
        row("incremental: of which ingest (the new day; files read before are skipped)", secs(d["inc_ingest"]))
        row("incremental: runs recomputed (of which coupled by natural keys) / all runs",
            f"{inc['scope']['scope_runs']:,} ({inc['scope']['coupled_runs']:,}) / {inc['scope']['runs']:,}")
        for s in inc["steps"]:
            written = (f" · wrote {mb(s['written_bytes'])} of {mb(inc['read_copy_bytes'])}"
                       f"{', compared by ' + s['compared_by'] if s.get('compared_by') else ''}"
                       if s.get("written_bytes") is not None and inc.get("read_copy_bytes") else "")
            row(f"incremental: {s['name']}", f"{secs(s['wall'])} ({secs(s['cpu'])}){written}")
        row("**incremental / full audit**",
            f"**{d['inc_share'] * 100:.0f}%** (vs ingest + audit: {d['inc_share_full'] * 100:.0f}%)",
            f"≤ {INCREMENTAL_SHARE_MAX:.0%}{verdict(d['inc_share'] <= INCREMENTAL_SHARE_MAX)}")
    if r.get("incremental_quiet"):
        quiet = r["incremental_quiet"]
        row(f"incremental: a quiet day added ({r['generate_next'][-1]['intents']:,} intents; what any audit costs)",
            f"{secs(d['quiet_wall'])} ({secs(quiet['total']['cpu'])}) · {d['quiet_share'] * 100:.0f}% of the full audit")
    return out


def render(results: list[dict], tiny: dict | None, hw: dict, options: dict,
           previous: dict | None = None) -> str:
    """One table per N: this run's figures, an earlier run's beside them (`previous`, a
    results.json of the same shape, matched by N and figure), and the targets."""
    before = {r["intents"]: dict((label, cell) for label, cell, _ in figures(r, previous["options"]))
              for r in (previous or {}).get("results", [])}
    lines = [
        f"hardware: {hw['cores']} cores ({hw['cpu']}), {hw['ram_gib']} GiB RAM; Python {hw['python']}, "
        f"DuckDB {hw['duckdb']}; load average at start {hw['load']}, at end {options.get('load_end')}; "
        f"audit DuckDB settings: threads {options.get('threads')}, memory_limit {options.get('memory_limit')}",
        f"workspace: {options.get('days')} days of runs per workspace, fault share {options.get('fault_share')}, "
        f"seed {options.get('seed')}; wall seconds (CPU seconds)",
    ]
    if previous:
        lines.append(f"previous: {previous['path']} of {previous['options'].get('date', 'an earlier day')} "
                     f"(DuckDB {previous['hardware']['duckdb']}, load average at start {previous['hardware']['load']}) "
                     f"{previous['options'].get('note', '')}")
    for r in results:
        old = before.get(r["intents"], {})
        lines += ["", f"### N = {r['intents']:,}", "",
                  "| figure | this run | previous | target |", "| --- | ---: | ---: | --- |"]
        for label, cell, target in figures(r, options):
            lines.append(f"| {label} | {cell} | {old.get(label, '-')} | {target} |")
        expected = expected_findings(r["generate"]["scenarios"])
        found = r["audit"]["findings"]
        check = "as generated" if found == expected else f"DIFFERENT from the generator's labels {expected}"
        lines += ["", f"audit findings {found} ({check}); floor {r['audit']['floor']['by_type']}"]
    if tiny:
        dag = tiny["dagster"]
        engine, report = job_seconds(dag["steps"])
        overhead = dag["run"]["wall"] - engine - report
        lines += ["", f"Dagster job, fresh {tiny['intents']:,}-intent workspace: job {secs(dag['run']['wall'])}, "
                  f"engine {secs(engine)}, report {secs(report)}, overhead **{secs(overhead)}** "
                  f"(target ≤ {DAGSTER_OVERHEAD_MAX:.0f} s{verdict(overhead <= DAGSTER_OVERHEAD_MAX)})"]
    return "\n".join(lines)


def load(path: Path) -> dict:
    """A results.json, with the path it was read from."""
    return {**json.loads(path.read_text()), "path": str(path)}


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.report RESULTS [--previous OLD]`: print a saved run's tables again."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--previous", type=Path)
    args = parser.parse_args(argv)
    run = load(args.results)
    print(render(run["results"], run["tiny"], run["hardware"], run["options"],
                 load(args.previous) if args.previous else None))


if __name__ == "__main__":
    main()
