"""Where an audit's SQL spends its time: every statement the engine runs, profiled.

    python -m bench.explain WORKSPACE [--top 6] [--min-seconds 0.5]

Runs on a workspace that has snapshots (e.g. one kept with `python -m bench --keep`).
It runs the audit's steps (`reckon.engine`: prepare, every layer, findings, plan,
metrics, publish) on a connection whose `execute` splits each script into statements
and runs each with DuckDB's JSON profiler on, then prints, per step, every statement
slower than `--min-seconds` with its most expensive operators (own time, rows and
bytes out, details). The engine's own SQL is what runs, unchanged; only the audit's
DuckDB settings are applied directly (its connection locks its configuration).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import duckdb

from reckon import engine
from reckon.workspace import Workspace


def operators(node: dict, out: list[dict]) -> list[dict]:
    """Flatten DuckDB's JSON profile tree: each operator's own time, output rows, details."""
    name = str(node.get("name") or node.get("operator_name") or node.get("operator_type") or "?").strip()
    info = node.get("extra_info") or ""
    detail = info if isinstance(info, str) else json.dumps(info)
    detail = re.sub(r",? ?\"Estimated Cardinality\": \"\d+\"", "", detail)
    out.append({
        "name": name,
        "time": float(node.get("timing", node.get("operator_timing", 0)) or 0),
        "rows": int(node.get("intermediate_rows", node.get("operator_cardinality", 0)) or 0),
        "bytes": int(node.get("intermediate_size_bytes", 0) or 0),
        "detail": detail,
    })  # fmt: skip
    for child in node.get("children", []):
        operators(child, out)
    return out


class _Result:
    """A fetched result (the profiler's own statements run right after the query)."""

    def __init__(self, rows: list[tuple], description) -> None:
        self._rows = rows
        self.description = description

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None


class ProfilingConnection:
    """Stands in for a DuckDB connection: every statement runs with the profiler on and
    is recorded (step, statement text, wall seconds, operators)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, scratch: Path) -> None:
        self._con = con
        self._profile = scratch / "profile.json"
        self.step = ""
        self.records: list[dict] = []
        self.description = None

    def __getattr__(self, name: str):
        return getattr(self._con, name)

    def execute(self, sql: str, parameters=None) -> _Result:
        parts = self._con.extract_statements(sql)
        result = _Result([], None)
        for index, statement in enumerate(parts):
            text = statement.query.strip()
            args = parameters if (parameters is not None and index == len(parts) - 1) else None
            if re.fullmatch(r"(BEGIN|COMMIT|ROLLBACK)\s*(TRANSACTION)?\s*;?", text, re.IGNORECASE):
                self._con.execute(text).fetchall()
                continue
            self._profile.unlink(missing_ok=True)
            self._con.execute("SET enable_profiling = 'json'")
            self._con.execute(f"SET profiling_output = '{self._profile}'")
            started = time.perf_counter()
            self._con.execute(text, args) if args is not None else self._con.execute(text)
            description = self._con.description
            rows = self._con.fetchall() if description else []
            wall = time.perf_counter() - started
            self._con.execute("SET enable_profiling = 'no_output'")
            result = _Result(rows, description)
            self.description = description
            ops: list[dict] = []
            try:
                tree = json.loads(self._profile.read_text())
                roots = tree.get("operator") or tree.get("children") or []
                for root in roots if isinstance(roots, list) else [roots]:
                    operators(root, ops)
            except (OSError, ValueError):
                pass
            self.records.append({"step": self.step, "sql": text, "wall": wall, "ops": ops})
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--top", type=int, default=6, help="operators shown per statement")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="statements shown: at least this slow")
    args = parser.parse_args(argv)
    ws = Workspace.open(args.workspace)
    pol = ws.config.policies
    scratch = Path(tempfile.mkdtemp(prefix="reckon-explain-"))
    con = duckdb.connect(str(ws.database))
    for setting in ("TimeZone = 'UTC'", f"memory_limit = '{pol.memory_limit}'", f"threads = {int(pol.threads)}",
                    f"temp_directory = '{ws.root / '.duckdb_tmp'}'", "preserve_insertion_order = false",
                    "enable_progress_bar = false"):  # fmt: skip
        con.execute(f"SET {setting}")
    proxy = ProfilingConnection(con, scratch)
    steps = [("prepare", lambda c: engine.prepare(c, ws))]
    steps += [(f"layer:{layer.name}", lambda c, layer=layer: engine.build_layer(c, layer)) for layer in engine.LAYERS]
    steps += [("layer:commit", engine.commit_layers)]
    steps += [("findings", engine.detect_findings), ("plan", engine.plan_repairs),
              ("metrics", engine.compute_metrics), ("publish", engine.publish)]  # fmt: skip
    totals = []
    for name, run in steps:
        proxy.step = name
        started = time.perf_counter()
        run(proxy)
        totals.append((name, time.perf_counter() - started))
    con.close()
    grand = sum(t for _, t in totals)
    print(f"audit steps on {ws.root}: {grand:.1f} s")
    for name, seconds in totals:
        print(f"  {name:<22} {seconds:7.2f} s  {seconds / grand * 100:4.0f}%")
    for name, seconds in totals:
        slow = [r for r in proxy.records if r["step"] == name and r["wall"] >= args.min_seconds]
        if not slow:
            continue
        print(f"\n### {name}: {seconds:.2f} s")
        for record in slow:
            head = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", record["sql"])).strip()[:100]
            print(f"\n  {record['wall']:6.2f} s  {head}")
            for op in sorted(record["ops"], key=lambda o: -o["time"])[: args.top]:
                print(f"    {op['time']:7.2f} s {op['rows']:>11,} rows {op['bytes'] / 1e6:>7,.0f} MB  "
                      f"{op['name']:<20} {op['detail'][:150]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
