"""Where an audit's SQL spends its time: every statement the engine runs, profiled.

    python -m bench.explain WORKSPACE [--top 6] [--min-seconds 0.5]

Runs on a workspace that has snapshots (e.g. one kept with `python -m bench --keep`).
It runs the audit's steps (`pipelines.steps`, those on the database: inputs, every model,
findings, plan, exports, metrics, publish) on a connection whose `execute` splits each script into statements
and runs each with DuckDB's JSON profiler on, then prints, per step, every statement
slower than `--min-seconds` with its most expensive operators (own time, rows and
bytes out, details). The audit's own steps and SQL are what run, unchanged; its DuckDB
session settings are applied without the lock (the profiler needs settings of its own).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb

from bench.probes import cpu_seconds
from pipelines.steps import AuditRun, add_hook, audit_steps, run_step
from reckon.database import apply_settings, search_internal, session_settings
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

    def fetchmany(self, size: int) -> list[tuple]:  # the operator-queue CSV reads in batches
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows


class ProfilingConnection:
    """Stands in for a DuckDB connection: every statement runs with the profiler on and
    is recorded (step, statement text, wall and CPU seconds, operators)."""

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
                started, cpu = time.perf_counter(), cpu_seconds()  # a commit may checkpoint: the step's time too
                self._con.execute(text).fetchall()
                self.records.append({"step": self.step, "sql": text, "wall": time.perf_counter() - started,
                                     "cpu": cpu_seconds() - cpu, "ops": []})
                continue
            self._profile.unlink(missing_ok=True)
            self._con.execute("SET enable_profiling = 'json'")
            self._con.execute(f"SET profiling_output = '{self._profile}'")
            started, cpu = time.perf_counter(), cpu_seconds()
            self._con.execute(text, args) if args is not None else self._con.execute(text)
            description = self._con.description
            rows = self._con.fetchall() if description else []
            wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
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
            self.records.append({"step": self.step, "sql": text, "wall": wall, "cpu": cpu, "ops": ops})
        return result


def profile_audit(ws: Workspace) -> tuple[list[dict], list[tuple[str, float]]]:
    """Run the audit's steps on the database (not the snapshots, not the HTML report) on a
    profiling connection: every statement's record, and each step's wall seconds."""
    scratch = tempfile.TemporaryDirectory(prefix="reckon-explain-")
    con = duckdb.connect(str(ws.database))
    apply_settings(con, {**session_settings(ws), "enable_progress_bar": False})
    search_internal(con)
    proxy = ProfilingConnection(con, Path(scratch.name))

    @contextmanager
    def profiled(_ws):  # the run's connection: the profiler's stand-in
        yield proxy

    def hook(step, run, metadata):
        proxy.step = step.name
        return nullcontext()

    run = AuditRun(ws, connect=profiled)
    totals = []
    undo = add_hook(hook)
    try:
        for step in audit_steps(ws.config, report=False):
            if step.group == "snapshots" or step.database != "open":
                continue
            started = time.perf_counter()
            run_step(step, run)
            totals.append((step.name, time.perf_counter() - started))
    finally:
        undo()
        con.close()
        scratch.cleanup()
    return proxy.records, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--top", type=int, default=6, help="operators shown per statement")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="statements shown: at least this slow")
    args = parser.parse_args(argv)
    ws = Workspace.open(args.workspace)
    records, totals = profile_audit(ws)
    grand = sum(t for _, t in totals)
    print(f"audit steps on {ws.root}: {grand:.1f} s")
    for name, seconds in totals:
        print(f"  {name:<22} {seconds:7.2f} s  {seconds / grand * 100:4.0f}%")
    for name, seconds in totals:
        slow = [r for r in records if r["step"] == name and r["wall"] >= args.min_seconds]
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
