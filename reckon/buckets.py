"""An audit in buckets whose passes run anywhere the workspace folder is mounted.

    prepare (workspace database) -> claims, one pass per bucket of runs -> unclaimed, one
    pass per slice of the objects -> matches, one pass per bucket of runs -> merge
    (workspace database)

`prepare` folds events and observed (`reckon.incremental.start_buckets`) and writes what
every pass reads to Parquet under `buckets/<audit_id>/inputs/`. A pass
(`run_pass`) opens a DuckDB session of its own, in memory, over those files and the
earlier phases' (`phase_inputs`), runs its bucket's models (`incremental.bucket_claims`,
`bucket_unclaimed` or `bucket_matches`) and writes the bucket's rows as Parquet under
`buckets/<audit_id>/<phase>/<table>/<bucket>.parquet`. The unclaimed objects are computed
once per audit, so a matches pass reads neither every claim nor, for them, every object.
Passes of one phase are independent: a loop runs them in this process
(`pipelines.runner.run_audit(ws, buckets=B)`), Dagster partitions on Dask run them on a
cluster (`pipelines.buckets`).
`merge` loads every bucket's rows into the workspace database; the result is one pass's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb

from reckon import atomic, incremental
from reckon.database import BUCKETS_FOLDER, SPILL_FOLDER, apply_settings, sandbox, session_settings
from reckon.workspace import Workspace
from rules import MACROS_FILE

PHASES: dict[str, tuple[tuple[str, ...], Callable[[duckdb.DuckDBPyConnection, int, int], None]]] = {
    "claims": (incremental.CLAIM_TABLES, incremental.bucket_claims),
    "unclaimed": ((incremental.UNCLAIMED,), incremental.bucket_unclaimed),
    "matches": (incremental.MATCH_TABLES, incremental.bucket_matches),
}
# What the passes read and no pass builds, from the models' headers; `events` for the
# buckets' runs, `audit_context` for the mode.
INPUT_TABLES = tuple(sorted(
    {t for m in (*incremental.CLAIM_MODELS, incremental.UNCLAIMED_MODEL, *incremental.MATCH_MODELS) for t in m.reads
     if not t.startswith("scoped_") and t != "claims_outside_scope"} - {incremental.UNCLAIMED}
    | {"events", "audit_context"}
))  # fmt: skip
PENDING = "buckets_pending"  # the unfinished audit in buckets: its real fingerprint, buckets


def folder(ws: Workspace, audit_id: str) -> Path:
    return ws.root / BUCKETS_FOLDER / audit_id


def prepare(con: duckdb.DuckDBPyConnection, ws: Workspace, buckets: int) -> Path:
    """Start a full audit in `buckets` buckets: the inputs of every pass, as Parquet."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    if incremental.is_incremental(con):
        raise ValueError("an audit in buckets starts from nothing: set policies.incremental to false")
    audit_id = con.execute("SELECT audit_id FROM audit_context").fetchone()[0]
    shutil.rmtree(ws.root / BUCKETS_FOLDER, ignore_errors=True)  # an earlier audit's, finished or not
    inputs = folder(ws, audit_id) / "inputs"
    inputs.mkdir(parents=True)
    fingerprint = incremental.start_buckets(con)
    for table in INPUT_TABLES:
        con.execute(f"COPY {table} TO ? (FORMAT parquet)", [str(inputs / f"{table}.parquet")])
    con.execute(f"CREATE OR REPLACE TABLE internal.{PENDING} AS SELECT ?::VARCHAR AS fingerprint, ?::INTEGER AS buckets",
                [fingerprint, buckets])
    return folder(ws, audit_id)


def current(ws: Workspace) -> Path:
    """The folder of the audit in buckets under way (`prepare` leaves only its own)."""
    found = [p for p in (ws.root / BUCKETS_FOLDER).glob("*") if p.is_dir()]
    if len(found) != 1:
        raise FileNotFoundError(f"no audit in buckets under way in {ws.root / BUCKETS_FOLDER} (run its inputs first)")
    return found[0]


def bucket_file(base: Path, phase: str, table: str, bucket: int) -> Path:
    return base / phase / table / f"{bucket}.parquet"


def phase_inputs(base: Path, phase: str, buckets: int, bucket: int) -> dict[str, list[Path]]:
    """The Parquet files each view of a pass reads: the inputs, and the earlier phases' rows."""
    views = {t: [base / "inputs" / f"{t}.parquet"] for t in INPUT_TABLES}
    if phase == "unclaimed":  # every bucket's claims
        views["claims"] = [bucket_file(base, "claims", "claims", b) for b in range(buckets)]
    if phase == "matches":  # the bucket's own rows of the claims phase; every slice of the unclaimed objects
        views |= {t: [bucket_file(base, "claims", t, bucket)] for t in PHASES["claims"][0]}
        views[incremental.UNCLAIMED] = [bucket_file(base, "unclaimed", incremental.UNCLAIMED, b) for b in range(buckets)]
    return views


def run_pass(ws: Workspace, base: Path, phase: str, buckets: int, bucket: int) -> dict[str, int]:
    """One bucket's pass of one phase, in a session of its own; returns its rows per table.
    Needs only the files `phase_inputs` names."""
    tables, build = PHASES[phase]
    spill = ws.root / SPILL_FOLDER / f"{phase}-{bucket}"  # one per pass: passes may share a disk
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        apply_settings(con, {**session_settings(ws), "temp_directory": str(spill)})
        sandbox(con, ws)
        con.execute(MACROS_FILE.read_text(encoding="utf-8"))
        for view, paths in phase_inputs(base, phase, buckets, bucket).items():
            con.execute(f"SET VARIABLE {view} = ?", [[str(p) for p in paths]])  # names: our own tables
            con.execute(f"CREATE VIEW {view} AS FROM read_parquet(getvariable('{view}'))")
        build(con, buckets, bucket)
        rows = {}
        for table in tables:
            final = bucket_file(base, phase, table, bucket)
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = atomic.staging_path(final)
            built = f"scoped_{table}" if table in incremental.SCOPED_TABLES else table
            # COPY answers with the number of rows it wrote.
            rows[table] = con.execute(f"COPY {built} TO ? (FORMAT parquet)", [str(staging)]).fetchone()[0]
            atomic.publish([(staging, final)])
        return rows
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def merge(con: duckdb.DuckDBPyConnection, ws: Workspace) -> int:
    """Load every bucket's rows into the run-scoped tables (the unclaimed objects are
    bookkeeping a one-pass audit drops too) and record the real fingerprint;
    returns the number of buckets. Fails, leaving the audit unfinished, when a bucket's
    file is missing or the buckets do not hold every run exactly once."""
    fingerprint, buckets = con.execute(f"SELECT fingerprint, buckets FROM {PENDING}").fetchone()
    base = folder(ws, con.execute("SELECT audit_id FROM audit_context").fetchone()[0])
    files = {t: [bucket_file(base, phase, t, b) for b in range(buckets)]
             for phase, (tables, _) in PHASES.items() for t in tables if t in incremental.SCOPED_TABLES}
    missing = sorted({p.relative_to(base).as_posix() for paths in files.values() for p in paths if not p.exists()})
    if missing:
        raise FileNotFoundError(f"the audit in buckets is not finished: missing {', '.join(missing)}")
    con.execute("BEGIN")
    for table, paths in files.items():
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [[str(p) for p in paths]])
    runs, distinct, expected = con.execute(
        "SELECT count(*), count(DISTINCT run_id), (SELECT count(DISTINCT run_id) FROM events) FROM run_state").fetchone()
    if not runs == distinct == expected:
        con.execute("ROLLBACK")
        raise ValueError(f"the buckets hold {runs} run states of {distinct} runs, expected {expected}: "
                         "were they computed with another DuckDB version?")
    con.execute(f"DROP TABLE {PENDING}")
    con.execute("COMMIT")
    incremental.finish_buckets(con, fingerprint)
    shutil.rmtree(ws.root / BUCKETS_FOLDER, ignore_errors=True)
    return buckets
