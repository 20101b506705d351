"""The audit, step by step: the one list every runner iterates.

    snapshot_<source> -> audit_inputs -> input_gate -> models (rules/models) -> model_tables -> findings
      -> repair_plan -> reconciliation_metrics -> analyst_database -> plan_exports
      -> read_copy -> audit_report

An audit in buckets builds the models as bucket_inputs -> bucket_claims -> bucket_unclaimed
-> bucket_matches -> model_tables instead (reckon/buckets.py; on Dagster, one partition per bucket).

Each step says what runs, which steps it reads from (`after`: the Dagster lineage) and
whether it needs the workspace database open (`database`). The Dagster assets
(`pipelines.assets`), the in-process runner (`pipelines.runner.run_audit`) and the
benchmark all build their work from `audit_steps`; the runners run it with `run_steps`
(which runs the snapshot steps side by side when their sources hold enough new bytes); timing and
memory probes attach as hooks (`add_hook`), never by patching functions: a hook of the
snapshot steps may then be entered in several threads at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import duckdb

from reckon import buckets, database, engine, incremental
from reckon.config import Config
from reckon.input_gate import GATE_MIN_RECORDS, check_new_snapshots
from reckon.workspace import Workspace
from reports.html import headline_markdown, publish_report, trend_markdown
from reports.metrics import compute_metrics
from reports.operator_csv import export_operator_queue_csv
from reports.plan_export import export_plan
from reports.summary import SUMMARY_QUERIES
from rules import Model, upstream

AUDIT_INPUTS = "audit_inputs"
INPUT_GATE = "input_gate"
MODEL_TABLES = "model_tables"
BUCKET_INPUTS = "bucket_inputs"


class Markdown(str):
    """Metadata shown as Markdown."""


@dataclass(frozen=True)
class Table:
    """Metadata shown as a table the Dagster UI can sort: columns (name, type) and rows."""

    columns: list[tuple[str, str]]
    rows: list[tuple[Any, ...]]


def query_table(con: duckdb.DuckDBPyConnection, sql: str) -> Table:
    """A query's result as a `Table`; a column's type follows its first non-null value."""
    rows = con.execute(sql).fetchall()
    kinds = {bool: "bool", int: "int", float: "float"}
    columns = []
    for i, description in enumerate(con.description):
        first = next((row[i] for row in rows if row[i] is not None), None)
        columns.append((description[0], kinds.get(type(first), "string")))
    strings = [kind == "string" for _, kind in columns]
    return Table(columns, [tuple(str(v) if text and v is not None else v for v, text in zip(row, strings, strict=True))
                           for row in rows])


@dataclass
class AuditRun:
    """What one audit's steps share: the workspace, when the run started, and the
    database connection (opened when a step needs it, closed when one needs it closed)."""

    ws: Workspace
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    buckets: int = 1
    bucket: int | None = None  # the one bucket a partition runs (steps with a `phase`); None: all
    # While snapshots run side by side: the sources whose files a worker process parses.
    offload: frozenset[str] = frozenset()
    # How the connection is made (the benchmark's profiler wraps it).
    connect: Callable[[Workspace], AbstractContextManager[duckdb.DuckDBPyConnection]] = database.connect
    audit: dict[str, Any] = field(default_factory=dict)  # the `audits` row, once published
    _opened: AbstractContextManager | None = None
    _con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._opened = self.connect(self.ws)
            self._con = self._opened.__enter__()
        return self._con

    def close(self) -> None:
        if self._opened is not None:
            opened, self._opened, self._con = self._opened, None, None
            opened.__exit__(None, None, None)


@dataclass(frozen=True)
class Step:
    name: str
    group: str  # snapshots · models (the audit's inputs, the model tables) · findings · reports
    description: str
    run: Callable[[AuditRun], dict[str, Any]]  # returns the step's metadata
    after: tuple[str, ...] = ()
    database: str = "open"  # "open": on the run's connection; "closed": the file whole; "none"
    kinds: frozenset[str] = frozenset({"duckdb"})
    phase: str = ""  # an audit in buckets' phase (reckon/buckets.py): one pass per bucket, anywhere
    source: str = ""  # a snapshot step's source: consecutive such steps may run side by side (`run_steps`)


# A hook wraps a step: `hook(step, run, metadata)` is entered before the step runs and left
# after it, when `metadata` holds what the step returned.
Hook = Callable[[Step, AuditRun, dict[str, Any]], AbstractContextManager[Any]]
HOOKS: list[Hook] = []


def add_hook(hook: Hook) -> Callable[[], None]:
    """Wrap every step any runner runs in `hook` (timing, memory, markers); returns the undo."""
    HOOKS.append(hook)
    return lambda: HOOKS.remove(hook)


def progress_hook(out: TextIO | None = None) -> Hook:
    """One line per step on `out` (stderr by default) when it ends: its name, rows where it
    reports them, the elapsed time and, for a snapshot, the rate it read at."""

    @contextmanager
    def progress(step: Step, run: AuditRun, metadata: dict[str, Any]) -> Iterator[None]:
        started = time.perf_counter()
        outcome = "failed"
        try:
            yield
            outcome = ""
        finally:
            elapsed = time.perf_counter() - started
            rows = metadata.get("rows")
            parts = [f"reckon: {step.name:<24}", f"{rows:>12,} rows" if isinstance(rows, int) else " " * 17,
                     f"{elapsed:8.1f} s"]
            read = metadata.get("rows", 0) + metadata.get("quarantined", 0)
            if step.group == "snapshots" and metadata.get("files") == 0:
                parts.append("(no new files)")
            elif step.group == "snapshots" and metadata.get("files") and elapsed > 0:
                parts.append(f"({read / elapsed:,.0f} records/s, {metadata.get('bytes', 0) / 1e6 / elapsed:,.1f} MB/s)")
            print("  ".join([*parts, outcome]).rstrip(), file=out or sys.stderr, flush=True)

    return progress


def run_step(step: Step, run: AuditRun) -> dict[str, Any]:
    """One step, inside every hook, on an open or closed database as it needs."""
    if step.database != "open":
        run.close()
    metadata: dict[str, Any] = {}
    with ExitStack() as hooks:
        for hook in list(HOOKS):
            hooks.enter_context(hook(step, run, metadata))
        metadata.update(step.run(run))
    return metadata


def run_steps(steps: list[Step], run: AuditRun) -> Iterator[tuple[Step, dict[str, Any]]]:
    """Each step run, in the list's order, with its metadata. Consecutive snapshot steps run
    side by side when some of their sources hold enough unread bytes to be parsed in a
    worker process of their own (`engine.side_by_side`): `policies.threads` at a time, so
    that one source's Python parsing no longer waits for another's."""
    at = 0
    while at < len(steps):
        end = at + 1
        while steps[at].source and end < len(steps) and steps[end].source:
            end += 1
        batch, at = steps[at:end], end
        offload = engine.side_by_side(run.ws, [step.source for step in batch]) if len(batch) > 1 else frozenset()
        if offload:
            yield from _side_by_side(batch, run, offload)
        else:
            for step in batch:
                yield step, run_step(step, run)


def _side_by_side(steps: list[Step], run: AuditRun, offload: frozenset[str]) -> Iterator[tuple[Step, dict[str, Any]]]:
    """The snapshot steps at once, in threads (those of `offload` mostly wait on their
    worker process). Every one runs to its end, as one after another would: a failed
    source's error is raised once the others' snapshots are in, after their metadata."""
    run.close()  # no step of these opens the database; closed here, not by each thread
    run.offload = offload
    try:
        with ThreadPoolExecutor(run.ws.config.policies.threads, thread_name_prefix="snapshot") as pool:
            done = [(step, pool.submit(run_step, step, run)) for step in steps]
    finally:
        run.offload = frozenset()
    errors = []
    for step, future in done:
        if (error := future.exception()) is None:
            yield step, future.result()
        else:
            errors.append(error)
    if errors:
        raise errors[0]


# --- what each step runs ------------------------------------------------------------------


def _snapshot(source: str) -> Callable[[AuditRun], dict[str, Any]]:
    def snapshot(run: AuditRun) -> dict[str, Any]:
        snap = engine.ingest(run.ws, source, source in run.offload)
        return {"snapshot_id": snap.snapshot_id if snap else "(no new files)", "rows": snap.rows if snap else 0,
                "quarantined": snap.quarantined if snap else 0, "files": len(snap.files) if snap else 0,
                "bytes": sum(f.size for f in snap.files) if snap else 0, "parsed_in_worker": source in run.offload}

    return snapshot


def _inputs(run: AuditRun) -> dict[str, Any]:
    audit_id = engine.prepare(run.con, run.ws)
    as_of, snapshots, quarantined = run.con.execute(
        "SELECT (SELECT as_of FROM audit_context), (SELECT count(*) FROM cfg_snapshots), "
        "(SELECT count(*) FROM quarantine)").fetchone()
    return {"audit_id": audit_id, "as_of": str(as_of), "snapshots": snapshots, "quarantined": quarantined}


def _gate(run: AuditRun) -> dict[str, Any]:
    return check_new_snapshots(run.ws, run.con)


def _model(model: Model) -> Callable[[AuditRun], dict[str, Any]]:
    return lambda run: {"rows": incremental.build_model(run.con, model)}


def _model_tables(run: AuditRun) -> dict[str, Any]:
    runs = incremental.commit(run.con)
    return {"runs_recomputed": runs, "incremental": bool(incremental.is_incremental(run.con))}


def _bucket_inputs(run: AuditRun) -> dict[str, Any]:
    base = buckets.prepare(run.con, run.ws, run.buckets)
    return {"buckets": run.buckets, "path": base}


def _bucket_passes(phase: str) -> Callable[[AuditRun], dict[str, Any]]:
    """Every bucket's pass of `phase`, one after another in this process; on Dagster, each
    bucket is a partition of its own (pipelines/buckets.py)."""

    def passes(run: AuditRun) -> dict[str, Any]:
        base = buckets.current(run.ws)
        rows: dict[str, int] = {}
        for bucket in range(run.buckets) if run.bucket is None else [run.bucket]:
            for table, n in buckets.run_pass(run.ws, base, phase, run.buckets, bucket).items():
                rows[table] = rows.get(table, 0) + n
        return {"buckets": run.buckets, **rows}

    return passes


def _merge_buckets(run: AuditRun) -> dict[str, Any]:
    return {"buckets": buckets.merge(run.con, run.ws)}


def _findings(run: AuditRun) -> dict[str, Any]:
    return {"rows": engine.detect_findings(run.con),
            "by_type": query_table(run.con, SUMMARY_QUERIES["Findings by mismatch type"])}


def _repair_plan(run: AuditRun) -> dict[str, Any]:
    return {"rows": engine.plan_repairs(run.con),
            "by_pattern": query_table(run.con, SUMMARY_QUERIES["Repair actions by pattern"])}


def _plan_exports(run: AuditRun) -> dict[str, Any]:
    paths = export_plan(run.con, run.ws.exports)
    return {"jsonl": paths["jsonl"], "parquet": paths["parquet"],
            "operator_queue_csv": export_operator_queue_csv(run.con, run.ws.exports)}


def _metrics(run: AuditRun) -> dict[str, Any]:
    rows = compute_metrics(run.con)
    return {"rows": rows, "headline": query_table(run.con, """
        SELECT metric, value FROM metrics
        WHERE audit_id = (SELECT audit_id FROM audit_context) AND workflow = '*' AND dimension IS NULL
        ORDER BY metric""")}


def _analyst_database(run: AuditRun) -> dict[str, Any]:
    run.audit = engine.publish(run.con, run.started_at)
    return {"database": run.ws.database, "audit_id": run.audit["audit_id"], "findings": run.audit["findings"],
            "repair_actions": run.audit["repair_actions"], "quarantined": run.audit["quarantined"]}


def _read_copy(run: AuditRun) -> dict[str, Any]:
    return engine.publish_read_copy(run.ws)


def _report(run: AuditRun) -> dict[str, Any]:
    report = publish_report(run.ws)
    return {
        "path": report.path, "audit_id": report.data.audit_id,
        "headline": Markdown(headline_markdown(report.data)),
        "open_findings_per_audit": Markdown(trend_markdown(report.data)),
        # Numbers: the Dagster UI plots each over the asset's materializations.
        **{m.key: int(m.value) if m.kind == "count" else float(m.value)
           for m in report.data.headline if m.value is not None},
    }  # fmt: skip


# --- the list -----------------------------------------------------------------------------


def audit_steps(config: Config, buckets: int = 1, report: bool = True) -> list[Step]:
    """Every step of one audit of a workspace with this configuration, in order. With
    `buckets` > 1 the models are built one bucket of runs at a time, in three phases (the
    steps with a `phase`: one pass per bucket, reckon/buckets.py); without
    `report` the HTML report is left out (`reckon report` writes it on demand)."""
    snapshots = [Step(f"snapshot_{s.name}", "snapshots",
                      f"Immutable Parquet snapshot of the `{s.name}` landing files ({s.connector} connector).",
                      _snapshot(s.name), database="none", kinds=frozenset({"parquet"}), source=s.name)
                 for s in config.sources]  # fmt: skip
    inputs = Step(AUDIT_INPUTS, "models",
                  "Registers the snapshot set, the config tables and the audit's id and as-of time.",
                  _inputs, after=tuple(s.name for s in snapshots))
    gate = Step(INPUT_GATE, "models", "Stops the audit before its models and plan when a source's snapshots no "
                f"published audit has read yet (at least {GATE_MIN_RECORDS} records) quarantined more of them than "
                "`policies.quarantine_max_share`, or kept records of a file that lack a field every record should "
                "have.", _gate, after=(AUDIT_INPUTS,))
    if buckets > 1:
        models = [
            Step(BUCKET_INPUTS, "models", "Starts a full audit in buckets of runs (hash(run_id) % buckets): folds "
                 "events and observed, and writes what every bucket's pass reads as Parquet (buckets/<audit_id>/).",
                 _bucket_inputs, after=(INPUT_GATE,), kinds=frozenset({"duckdb", "parquet"})),
            Step("bucket_claims", "models", "One bucket's intended, recorded and claims rows (rules/models/40 to 60), "
                 "as Parquet.", _bucket_passes("claims"), after=(BUCKET_INPUTS,), database="none",
                 kinds=frozenset({"duckdb", "parquet"}), phase="claims"),
            Step("bucket_unclaimed", "models", "One slice of the objects no intent claims (rules/models/67), once every "
                 "bucket's claims are in, as Parquet.", _bucket_passes("unclaimed"), after=("bucket_claims",),
                 database="none", kinds=frozenset({"duckdb", "parquet"}), phase="unclaimed"),
            Step("bucket_matches", "models", "One bucket's matches, intent and run state (rules/models/70 to 90), "
                 "from its claims and every slice of the unclaimed objects, as Parquet.", _bucket_passes("matches"),
                 after=("bucket_claims", "bucket_unclaimed"),
                 database="none", kinds=frozenset({"duckdb", "parquet"}), phase="matches"),
            Step(MODEL_TABLES, "models", "Merges every bucket's rows into the run-scoped model tables; the result is "
                 "one pass's.", _merge_buckets, after=("bucket_matches",)),
        ]  # fmt: skip
    else:
        upstream_of = upstream(incremental.MODELS, INPUT_GATE)
        models = [Step(model.name, "models", model.description, _model(model), after=upstream_of[model.name],
                       kinds=frozenset({"duckdb", "sql"})) for model in incremental.MODELS]
        models.append(Step(MODEL_TABLES, "models", "Folds the scope's rows into the run-scoped model tables in one "
                           "transaction (incremental: the scope's runs are replaced; full: every table is rebuilt).",
                           _model_tables, after=tuple(step.name for step in models)))
    steps = [
        *snapshots, inputs, gate, *models,
        Step("findings", "findings", "One primary finding per subject, by the mismatch rules in rules/mismatches/.",
             _findings, after=(models[-1].name,), kinds=frozenset({"duckdb", "sql"})),
        Step("repair_plan", "findings", "The smallest safe repair action for every open finding "
             "(rules/repairs/).", _repair_plan, after=("findings",), kinds=frozenset({"duckdb", "sql"})),
        Step("reconciliation_metrics", "reports", "The finding lifecycle, each finding's stored result and "
             "the contract's metrics per audit and workflow, appended to `metrics`.", _metrics, after=("repair_plan",)),
        Step("analyst_database", "reports", "Publishes the audit: findings history and the `audits` row "
             "analysts query.", _analyst_database, after=("reconciliation_metrics",)),
        # After the audit is published: a plan file is never one of an audit `audits` lacks.
        Step("plan_exports", "reports", "The repair plan as JSONL and Parquet for executors, and the operator "
             "queue as CSV, once the audit is published.", _plan_exports, after=("analyst_database",),
             kinds=frozenset({"parquet", "csv"})),
        Step("read_copy", "reports", "Rewrites the tables a quarter deleted rows (reckon/compaction.py), then "
             "replaces reckon-read.duckdb, the copy analysts open while audits run, in one step.", _read_copy,
             after=("plan_exports",), database="closed"),
    ]
    if report:
        steps.append(Step("audit_report", "reports", "Self-contained HTML report of the audit "
                          "(exports/report-<audit_id>.html), personal data masked.", _report,
                          after=("read_copy",), database="none", kinds=frozenset({"html"})))
    return steps
