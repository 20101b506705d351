"""`python -m bench.passes WORKSPACE --buckets B`: what an audit in buckets costs per pass.

On a workspace whose snapshots are taken (e.g. one `python -m bench --keep` left, with
`policies.incremental: false`), it runs the audit in buckets' steps before the passes,
then every bucket's pass of each phase in a fresh process of its own, as a Dask worker
would, then the steps after them; each in a child (`bench.child`), with its wall and CPU
seconds, peak RSS and the Parquet it wrote. It prints one Markdown table and writes the
figures to `<workdir>/passes.json`; docs/deployment.md reads its per-million figures
from these runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.__main__ import child
from bench.report import gb, secs
from reckon.buckets import PHASES


def folder_bytes(root: Path) -> int:
    """The size of the files under `root`, each once: `reckon-read.duckdb` is a hard link to
    one of the read copy's slots, and counting it twice added a whole copy to the figure."""
    sizes = {}
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            sizes[stat.st_dev, stat.st_ino] = stat.st_size
    return sum(sizes.values())


def measure(ws: Path, buckets: int, logs: Path) -> dict:
    """Every part in a child; `disk` is the workspace's bytes after each one."""
    disk: list[int] = []

    def run(task: str, **kwargs) -> dict:
        out = child(task, ws, logs, buckets=buckets, **kwargs)
        disk.append(folder_bytes(ws))
        return out

    result: dict = {"buckets": buckets, "before": run("bucket_steps", part="before")}
    for phase in PHASES:
        result[phase] = [run("bucket_pass", phase=phase, bucket=b) for b in range(buckets)]
    result["after"] = run("bucket_steps", part="after")
    return {**result, "disk": disk}


def table(result: dict) -> str:
    """Per phase: the passes' range of CPU seconds, peak RSS and Parquet written."""

    def span(values: list[float], show) -> str:
        low, high = show(min(values)), show(max(values))
        return low if low == high else f"{low} to {high}"

    lines = ["| part | wall | CPU | peak RSS | Parquet written |", "| --- | --- | --- | --- | --- |"]
    for part in ("before", *PHASES, "after"):
        runs = result[part] if isinstance(result[part], list) else [result[part]]
        written = [r.get("bytes_written", 0) / 1e6 for r in runs]
        lines.append(f"| {part}{f' ({len(runs)} passes)' if len(runs) > 1 else ''} | "
                     f"{span([r['wall'] for r in runs], secs)} | {span([r['cpu'] for r in runs], secs)} | "
                     f"{span([r['peak_rss'] for r in runs], gb)} | {span(written, lambda mb: f'{mb:,.0f} MB')} |")
    lines.append(f"\npasses' inputs: {result[next(iter(PHASES))][0]['input_bytes'] / 1e6:,.0f} MB; "
                 f"findings digest {result['after']['digest']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.passes", description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--buckets", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reckon-bench-passes"))
    args = parser.parse_args(argv)
    result = measure(args.workspace.resolve(), args.buckets, args.workdir / "logs")
    (args.workdir / "passes.json").write_text(json.dumps(result, indent=2, default=str))
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
