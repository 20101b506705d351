"""What each table the models build or keep costs, and who reads it.

    python -m bench.tables WORKSPACE [--workdir DIR]

On a workspace with snapshots (e.g. one `python -m bench --keep` left) it runs a full
audit (`policies.incremental` off while it runs: every kept table is dropped and
rebuilt) on `bench.explain`'s profiling connection, then generates the day after the
workspace's last one (a 1/days share of its intents, `bench.generate`), lands and
snapshots it, and profiles the incremental audit of that day. The workspace keeps the
added day.

It prints one Markdown table, a row per table: its rows and bytes on disk after the full
audit (DuckDB's storage blocks, `pragma_storage_info`), the wall and CPU seconds of the
statements that write it (CREATE, INSERT, DELETE, UPDATE, ALTER, DROP) in the model steps
and the commit, on the full audit and on the incremental day, and what reads it: the
models whose header names it (`reads`, `kept`) and the other SQL files (rules, reports)
that name it. A temporary table a model stages its work in has a row of its own, read by
the tables whose statements in the same step name it; each step's statements that write
no table (its COMMIT above all: one may checkpoint every table) have one too. Seconds are
the profiled statements' (the profiler adds a little); CPU is the process's, all threads.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import duckdb

from bench.__main__ import REPO, child, full_rebuild, land
from bench.explain import profile_audit
from bench.generate import BASE_DAY
from pipelines.steps import MODEL_TABLES
from reckon.database import search_internal
from reckon.incremental import KEPT_TABLES, MODELS, SCOPED_TABLES
from reckon.workspace import Workspace

# The SQL besides the models' whose table names count as reads (the models say theirs).
READER_GLOBS = ("rules/mismatches/*.sql", "rules/findings/*.sql", "rules/repairs/*.sql",
                "rules/analyst/*.sql", "reports/*.sql")  # fmt: skip
_WRITE = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"|INSERT\s+INTO\s+|DELETE\s+FROM\s+|UPDATE\s+|ALTER\s+(?:TABLE|VIEW)\s+|DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?)"
    r"([\w.\"]+)",
    re.IGNORECASE,
)
NO_TABLE = "({}: commit, counts)"  # a step's statements that write no table: its COMMIT above all


def code_only(sql: str) -> str:
    """SQL without comments, string literals and COMMENT ON statements (no reads there)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    return re.sub(r"COMMENT\s+ON\s[^;]*;", "", sql, flags=re.IGNORECASE)


def base_name(name: str) -> str:
    """A table a statement names, as the row it counts for: no schema, no quotes, and a
    run-scoped table's scope rows (`scoped_<t>`) count for `<t>`."""
    name = name.replace('"', "").split(".")[-1].lower()
    rest = name.removeprefix("scoped_")
    return rest if rest != name and rest in SCOPED_TABLES else name


def written(sql: str) -> str | None:
    found = _WRITE.match(code_only(sql))
    return base_name(found.group(1)) if found else None


def known_tables() -> dict[str, str]:
    """Every table the models build or keep, with its kind."""
    kinds = {t: "kept" for t in (*KEPT_TABLES, "model_state")}  # model_state: their fingerprint
    kinds.update({t: "run-scoped" for t in SCOPED_TABLES})
    for model in MODELS:
        for table in model.builds:
            kinds.setdefault(base_name(table), "one audit's")
    return kinds


def readers(tables: list[str]) -> dict[str, list[str]]:
    """Per table: the models whose header reads it (this audit's or the kept rows), then
    every other SQL file that names it."""
    out: dict[str, list[str]] = {t: [] for t in tables}
    for model in MODELS:
        for table in {base_name(t) for t in (*model.reads, *model.kept)} & set(out):
            out[table].append(model.name)
    files = sorted(p for pattern in READER_GLOBS for p in REPO.glob(pattern))
    for path in files:
        text = code_only(path.read_text(encoding="utf-8"))
        label = path.stem if path.parent.name == "mismatches" else f"{path.parent.name}/{path.stem}"
        for table in out:
            if re.search(rf"(?<![\w.]){re.escape(table)}\b", text, re.IGNORECASE):
                out[table].append(label)
    mismatch = {p.stem for p in files if p.parent.name == "mismatches"}
    for table, names in out.items():  # the mismatch rules as a count: there are many
        rules = [n for n in names if n in mismatch]
        others = [n for n in names if n not in mismatch]
        out[table] = others + ([f"{len(rules)} mismatch rules"] if rules else [])
    return out


def attribute(records: list[dict], steps: set[str]) -> tuple[dict[str, list[float]], dict[str, set[str]]]:
    """Wall and CPU seconds per table written, over the model steps' statements; and,
    per staging table, the tables (staging too) whose statements in the same step read it."""
    kinds = known_tables()
    seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    feeds: dict[str, set[str]] = defaultdict(set)
    mine = [r for r in records if r["step"] in steps]
    for index, record in enumerate(mine):
        table = written(record["sql"]) or NO_TABLE.format(record["step"])
        seconds[table][0] += record["wall"]
        seconds[table][1] += record["cpu"]
        if table not in kinds and not table.startswith("("):
            pattern = re.compile(rf"\b{re.escape(table)}\b", re.IGNORECASE)
            for later in mine[index + 1:]:
                target = written(later["sql"])
                if later["step"] == record["step"] and target not in (None, table) and pattern.search(code_only(later["sql"])):
                    feeds[table].add(target)
    return seconds, feeds


def storage(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, tuple[int | None, int | None, str]]:
    """Rows, bytes on disk (distinct storage blocks x block size) and schema of each table there."""
    block = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    where = dict(con.execute(
        "SELECT table_name, schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary").fetchall())  # fmt: skip
    out: dict[str, tuple[int | None, int | None, str]] = {}
    for table in tables:
        if table not in where:
            out[table] = (None, None, "")
            continue
        rows = con.execute(f"SELECT count(*) FROM {where[table]}").fetchone()[0]  # a name from the catalog
        blocks = con.execute(
            "SELECT count(DISTINCT b) FROM (SELECT block_id AS b FROM pragma_storage_info(?) "
            "UNION ALL SELECT unnest(additional_block_ids) FROM pragma_storage_info(?)) WHERE b >= 0",
            [where[table]] * 2,
        ).fetchone()[0]
        out[table] = (rows, blocks * block, where[table].split(".")[0])
    return out


def measure(root: Path, workdir: Path) -> dict:
    """Profile a full audit, then the incremental audit of one more day."""
    steps = {model.name for model in MODELS} | {MODEL_TABLES}
    logs = workdir / "logs"
    child("ingest", root, logs)  # any landing files not snapshotted yet
    with full_rebuild(root):
        full, _ = profile_audit(Workspace.open(root))
    with duckdb.connect(str(Workspace.open(root).database)) as con:
        con.execute("CHECKPOINT")  # every table's rows in storage blocks, none in the WAL
        search_internal(con)
        kinds = known_tables()
        sizes = storage(con, list(kinds))
        last, intents = con.execute("SELECT max(ts), (SELECT count(*) FROM intended) FROM events").fetchone()
    day = (last - BASE_DAY) // timedelta(days=1) + 1
    generated = workdir / "day"
    child("generate", generated, logs, intents=max(2, intents // day), days=1, first_day=day + 1)
    land(generated, root)
    child("ingest", root, logs)
    incremental, _ = profile_audit(Workspace.open(root))
    return {"kinds": kinds, "sizes": sizes, "days": day, "full": attribute(full, steps),
            "day": attribute(incremental, steps),
            "total": {name: [sum(r[key] for r in records if r["step"] in steps) for key in ("wall", "cpu")]
                      for name, records in (("full", full), ("day", incremental))}}  # fmt: skip


def render(result: dict) -> str:
    kinds, sizes = result["kinds"], result["sizes"]
    (full, full_feeds), (day, day_feeds) = result["full"], result["day"]
    other = {t for t in (*full, *day) if t.startswith("(")}
    staging = sorted({*full, *day} - set(kinds) - other)
    read_by = readers(list(kinds))
    for table in staging:
        read_by[table] = sorted(full_feeds[table] | day_feeds[table])
    lines = [
        f"full audit of {result['days']} days, then day {result['days'] + 1} added (incremental); "
        "the model steps and the commit: {:.1f} s ({:.1f} s CPU) and {:.1f} s ({:.1f} s CPU)".format(
            *result["total"]["full"], *result["total"]["day"]),
        "",
        "| table | kind | rows | MB | full: wall (CPU) s | day: wall (CPU) s | read by |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]

    def cell(seconds: dict, table: str) -> str:
        wall, cpu = seconds.get(table, (0.0, 0.0))
        return f"{wall:.2f} ({cpu:.2f})"

    steps = [NO_TABLE.format(model.name) for model in MODELS] + [NO_TABLE.format(MODEL_TABLES)]
    for table in [*kinds, *staging, *(t for t in steps if t in other)]:
        rows, size, schema = sizes.get(table, (None, None, ""))
        kind = ", ".join(filter(None, [kinds.get(table, "staging" if table not in other else ""), schema]))
        lines.append(f"| {table} | {kind} | {'-' if rows is None else f'{rows:,}'} | "
                     f"{'-' if size is None else f'{size / 1e6:,.1f}'} | {cell(full, table)} | {cell(day, table)} | "
                     f"{', '.join(read_by.get(table, [])) or '-'} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tables", description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--workdir", type=Path, help="where the added day is generated (a temporary folder otherwise)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reckon-tables-"))
    print(render(measure(args.workspace.resolve(), workdir.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
