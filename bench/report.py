"""The benchmark's printed figures: one Markdown table, a column per N, targets beside."""

from __future__ import annotations

from bench.generate import expected_findings
from reckon.config import size_bytes

# Targets from the performance issue.
FLOOR_RATIO_MAX = 2.0
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
    return r.get("incremental") or r["audit"]


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
        engine = sum(s["wall"] for s in dag["steps"] if s["name"] != REPORT_STEP)
        report = sum(s["wall"] for s in dag["steps"] if s["name"] == REPORT_STEP)
        d["dagster_engine"] = engine
        d["dagster_report"] = report
        d["dagster_overhead"] = dag["run"]["wall"] - engine - report
    if r.get("incremental"):
        inc = r["incremental"]
        d["inc_wall"] = inc["total"]["wall"]
        d["inc_ingest"] = sum(s["wall"] for s in inc["steps"] if s["name"].startswith("snapshots:"))
        d["inc_share"] = d["inc_wall"] / d["audit_wall"]
        d["inc_share_full"] = d["inc_wall"] / (d["audit_wall"] + d["ingest_wall"])
    return d


def render(results: list[dict], tiny: dict | None, hw: dict, options: dict) -> str:
    cols = [r["intents"] for r in results]
    derived = [derive(r) for r in results]
    lines = []
    lines.append(
        f"hardware: {hw['cores']} cores ({hw['cpu']}), {hw['ram_gib']} GiB RAM; Python {hw['python']}, "
        f"DuckDB {hw['duckdb']}; load average at start {hw['load']}, at end {options.get('load_end')}; "
        f"audit DuckDB settings: threads {options.get('threads')}, memory_limit {options.get('memory_limit')}"
    )
    lines.append(f"workspace: {options.get('days')} days of runs per workspace, fault share "
                 f"{options.get('fault_share')}, seed {options.get('seed')}; wall seconds (CPU seconds)")
    lines.append("")
    lines.append("| figure | " + " | ".join(f"N = {n:,}" for n in cols) + " | target |")
    lines.append("| --- | " + " | ".join("---:" for _ in cols) + " | --- |")

    def row(label: str, cells: list[str], target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row("runs / observed objects", [f"{r['generate']['runs']:,} / {r['audit']['audit']['observed_objects']:,}"
                                    for r in results])
    row("generate (vectorized)", [f"{secs(r['generate']['seconds'])} ({secs(r['generate'].get('cpu_seconds'))}) · "
                                  f"{gb(sum(r['generate']['bytes'].values()))}"
                                  for r in results])
    sources = [s["source"] for s in results[0]["ingest"]["sources"]]
    for name in sources:
        cells = []
        connector = ""
        for r in results:
            s = next(x for x in r["ingest"]["sources"] if x["source"] == name)
            connector = s["connector"]
            rate = s["bytes"] / 1e6 / s["wall"] if s["wall"] else 0
            cells.append(f"{secs(s['wall'])} ({secs(s['cpu'])}) · {mb(s['bytes'])} · **{rate:,.1f} MB/s** · "
                         f"{s['rows'] / s['wall'] if s['wall'] else 0:,.0f} rows/s · RSS {mb(s['peak_rss'])}")
        ok = all(
            (x["bytes"] / 1e6 / x["wall"] if x["wall"] else 0) >= INGEST_MBPS_MIN
            for r in results for x in r["ingest"]["sources"] if x["source"] == name
        )
        row(f"ingest {name} ({connector})", cells, f"≥ {INGEST_MBPS_MIN:.0f} MB/s{verdict(ok)}")
    row("ingest, all sources", [f"{secs(d['ingest_wall'])} · {d['ingest_bytes'] / 1e6 / d['ingest_wall']:,.1f} MB/s"
                                for d in derived])
    for name in [s["name"] for s in results[0]["audit"]["steps"]]:
        cells = []
        for r in results:
            s = next((x for x in r["audit"]["steps"] if x["name"] == name), None)
            if s is None:
                cells.append("-")
                continue
            share = s["wall"] / r["audit"]["total"]["wall"] * 100
            rows = f" · {s['rows']:,} rows" if s.get("rows") is not None else ""
            rss = f" · RSS {gb(s['peak_rss'])}" if s.get("peak_rss") else ""
            cells.append(f"{secs(s['wall'])} ({secs(s['cpu'])}) · {share:.0f}%{rows}{rss}")
        row(f"audit: {name}", cells)
    # No step may hold a table in Python: each stays within DuckDB's memory_limit + 1 GB.
    bounds = [size_bytes(r["memory_limit"]) + STEP_RSS_MARGIN for r in results]
    largest = [max((s.get("peak_rss") or 0 for s in r["audit"]["steps"]), default=0) for r in results]
    ok = all(peak <= bound for peak, bound in zip(largest, bounds, strict=True))
    row("audit: largest step peak RSS", [gb(p) for p in largest], f"≤ memory_limit + 1 GB{verdict(ok)}")
    row("**full audit** (snapshots → analyst database)",
        [f"**{secs(d['audit_wall'])}** ({secs(d['audit_cpu'])})" for d in derived])
    ok = all(r["audit"]["peak_rss"] <= PEAK_RSS_MAX for r in results)
    row("audit peak RSS (child process)", [gb(r["audit"]["peak_rss"]) for r in results], f"≤ 6 GB{verdict(ok)}")
    row("floor (one hand-written DuckDB pass)",
        [f"{secs(d['floor_wall'])} ({secs(d['floor_cpu'])}) · RSS {gb(r['audit']['floor']['peak_rss'])}"
         for r, d in zip(results, derived, strict=True)])
    ok = all(d["ratio_wall"] is not None and d["ratio_wall"] <= FLOOR_RATIO_MAX for d in derived)
    row("**audit / floor**", [f"**{d['ratio_wall']:.1f}x** (CPU {d['ratio_cpu']:.1f}x)" for d in derived],
        f"≤ {FLOOR_RATIO_MAX:.0f}x at 10M{verdict(ok)}")
    if all(r.get("report") for r in results):
        reports = [r["report"] for r in results]
        row("HTML report: write", [f"{secs(x['wall'])} ({secs(x['cpu'])}) · RSS {mb(x['peak_rss'])}" for x in reports])
        ok = all(x["bytes"] <= REPORT_BYTES_MAX for x in reports)
        row("HTML report: size (queue items shown / all)",
            [f"{x['bytes'] / 1e6:.2f} MB ({x['queue_shown']:,} / {x['queue_total']:,})" for x in reports],
            f"≤ 10 MB{verdict(ok)}")
        loads = [x["browser_load"] for x in reports]
        row("HTML report: load in headless Chromium", ["no chromium" if x is None else secs(x) for x in loads],
            f"≤ {REPORT_LOAD_MAX:.0f} s{verdict(None if None in loads else max(loads) <= REPORT_LOAD_MAX)}")
    if all(r.get("dagster") for r in results):
        row("Dagster: load definitions", [secs(r["dagster"]["load"]["wall"]) for r in results])
        row("Dagster: audit job run (re-run, snapshots unchanged)",
            [f"{secs(r['dagster']['run']['wall'])} ({secs(r['dagster']['run']['cpu'])})" for r in results])
        row("Dagster: engine steps inside the job", [secs(d["dagster_engine"]) for d in derived])
        row("Dagster: HTML report asset", [secs(d["dagster_report"]) for d in derived])
        ok = all(d["dagster_overhead"] <= DAGSTER_OVERHEAD_MAX for d in derived)
        row("**Dagster overhead** (job - engine steps - report)", [f"**{secs(d['dagster_overhead'])}**"
                                                                  for d in derived],
            f"≤ {DAGSTER_OVERHEAD_MAX:.0f} s{verdict(ok)}")
    if all(r.get("buckets") for r in results):
        row(f"full audit in {results[0]['buckets']['buckets']} buckets of runs (`run_audit`, ingest done)",
            [f"failed: {r['buckets']['error']}" if "error" in r["buckets"] else
             f"{secs(r['buckets']['total']['wall'])} ({secs(r['buckets']['total']['cpu'])}) · "
             f"RSS {gb(r['buckets']['peak_rss'])}" for r in results])
        row("buckets: every bucket's claims passes · unclaimed passes · matches passes (one process)",
            ["-" if "error" in r["buckets"] else " · ".join(
                secs(next(s["wall"] for s in r["buckets"]["steps"] if s["name"] == f"models:bucket_{phase}"))
                for phase in ("claims", "unclaimed", "matches")) for r in results])
        row("buckets: findings equal the single pass (md5 of ids + state hashes)",
            ["-" if "error" in r["buckets"] else "yes" if r["buckets"]["digest"] == single_pass(r)["digest"]
             else "**NO**" for r in results])
    if all(r.get("incremental") for r in results):
        row(f"incremental: day {options.get('days', 30) + 1} added, `run_audit`",
            [f"{secs(d['inc_wall'])} ({secs(r['incremental']['total']['cpu'])})"
             for r, d in zip(results, derived, strict=True)])
        row("incremental: of which ingest (new day + re-hash of old files)", [secs(d["inc_ingest"]) for d in derived])
        row("incremental: runs recomputed (of which coupled by natural keys) / all runs",
            [f"{r['incremental']['scope']['scope_runs']:,} ({r['incremental']['scope']['coupled_runs']:,}) / "
             f"{r['incremental']['scope']['runs']:,}" for r in results])
        for name in [s["name"] for s in results[0]["incremental"]["steps"]]:
            cells = []
            for r in results:
                s = next((x for x in r["incremental"]["steps"] if x["name"] == name), None)
                cells.append("-" if s is None else f"{secs(s['wall'])} ({secs(s['cpu'])})")
            row(f"incremental: {name}", cells)
        ok = all(d["inc_share"] <= INCREMENTAL_SHARE_MAX for d in derived)
        row("**incremental / full audit**", [f"**{d['inc_share'] * 100:.0f}%** (vs ingest + audit: "
                                             f"{d['inc_share_full'] * 100:.0f}%)" for d in derived],
            f"≤ {INCREMENTAL_SHARE_MAX:.0%}{verdict(ok)}")
    if tiny:
        dag = tiny["dagster"]
        engine = sum(s["wall"] for s in dag["steps"] if s["name"] != REPORT_STEP)
        report = sum(s["wall"] for s in dag["steps"] if s["name"] == REPORT_STEP)
        overhead = dag["run"]["wall"] - engine - report
        cells = [f"job {secs(dag['run']['wall'])}, engine {secs(engine)}, report {secs(report)}, "
                 f"overhead **{secs(overhead)}**"] + [""] * (len(cols) - 1)
        row(f"Dagster job, fresh {tiny['intents']:,}-intent workspace", cells,
            f"≤ {DAGSTER_OVERHEAD_MAX:.0f} s{verdict(overhead <= DAGSTER_OVERHEAD_MAX)}")
    lines.append("")
    for r in results:
        expected = expected_findings(r["generate"]["scenarios"])
        found = r["audit"]["findings"]
        check = "as generated" if found == expected else f"DIFFERENT from the generator's labels {expected}"
        lines.append(f"N = {r['intents']:,}: audit findings {found} ({check}); "
                     f"floor {r['audit']['floor']['by_type']}")
    return "\n".join(lines)
