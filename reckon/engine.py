"""The audit's core steps, each a function over the workspace database: snapshots
(ingest), the audit's inputs (prepare), findings, the repair plan, publishing. The models
between inputs and findings are the incremental protocol's (reckon/incremental.py). The
order lives in one list, `pipelines.steps`; every runner iterates it.

All state between steps lives in the workspace's DuckDB file, so each step can run in its
own Dagster asset, one after the other, without passing data in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from reckon import compaction, file_reads, incremental, read_copy
from reckon.database import READ_COPY, qualified, run_script, table_exists
from reckon.inputs import register_audit, register_inputs
from reckon.snapshots import Snapshot, list_snapshots, take_snapshot, unread_bytes
from reckon.workspace import Workspace
from rules import FINDINGS_DIR, REPAIRS_DIR, RULES_DIR, RUN_SCOPE_TABLES, SUBJECT_KINDS, load_rules

# --- snapshots ---------------------------------------------------------------


def ingest(ws: Workspace, source_name: str, offload: bool = False) -> Snapshot | None:
    """Snapshot one source's new landing files (None when nothing changed); with `offload`
    its files are parsed in a worker process, for a caller snapshotting sources side by side."""
    source = next(s for s in ws.config.sources if s.name == source_name)
    return take_snapshot(ws, source, offload)


def side_by_side(ws: Workspace, source_names: list[str]) -> frozenset[str]:
    """The sources to parse in worker processes of their own while these sources are
    snapshotted side by side: those with `file_reads.PARALLEL_MIN_BYTES` or more unread (a
    worker's start, about half a second, is then small beside their parsing); the others are
    read in their threads. Empty, one after another being as fast, with one thread or fewer
    than two sources with unread files, or none that large."""
    if ws.config.policies.threads < 2 or len(source_names) < 2:
        return frozenset()
    unread = {s.name: unread_bytes(ws, s) for s in ws.config.sources if s.name in source_names}
    if sum(1 for n in unread.values() if n) < 2:
        return frozenset()
    return frozenset(name for name, n in unread.items() if n >= file_reads.PARALLEL_MIN_BYTES)


# --- the audit's inputs ------------------------------------------------------


def prepare(con: duckdb.DuckDBPyConnection, ws: Workspace) -> str:
    """Register the audit's inputs, decide with the incremental protocol what the kept
    model tables can keep (a full audit drops them), then the audit's context and views."""
    snapshots = list_snapshots(ws)
    con.execute("BEGIN")
    inputs = register_inputs(con, ws.config, snapshots, ws.root)
    fingerprint = incremental.fingerprint(inputs.catalog)
    folded = incremental.resume(con, fingerprint, {s.snapshot_id for s in snapshots}, ws.config.policies.incremental)
    register_audit(con, inputs, fingerprint, folded, snapshots)
    con.execute("COMMIT")
    return inputs.audit_id


# --- findings ------------------------------------------------------------------


def detect_findings(con: duckdb.DuckDBPyConnection) -> int:
    """Run every mismatch rule (those of `scope: run` for the queued runs only, the other
    runs' hits kept); keep one primary finding per subject by precedence."""
    rules = load_rules()
    by_kind = {kind: [r for r in rules if r.subject_kind == kind and r.scope == "all"] for kind in SUBJECT_KINDS}
    con.execute("BEGIN")
    run_script(con, REPAIRS_DIR / "10_patterns.sql")
    # Findings of earlier audits (none on the first): for first_seen_at, decisions, lifecycle.
    # A view, not a copy: 05_prior.sql reads the few columns it needs, of the few audits
    # the fold (reports/history_fold.sql) does not hold yet.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW prior_rows AS "
        + ("SELECT finding_id, audit_id, detected_at, first_seen_at, state_hash, status FROM findings_history"
           if table_exists(con, "findings_history") else
           "SELECT NULL::VARCHAR finding_id, NULL::VARCHAR audit_id, NULL::TIMESTAMPTZ detected_at, "
           "NULL::TIMESTAMPTZ first_seen_at, NULL::VARCHAR state_hash, NULL::VARCHAR status WHERE false")
    )
    if not table_exists(con, "finding_seen") and table_exists(con, "history_folded"):
        # Audited by a version without `finding_seen`: the fold starts over, this one with it.
        con.execute("DELETE FROM history_folded")
    run_script(con, FINDINGS_DIR / "05_prior.sql")
    _run_scope_hits(con, [r for r in rules if r.scope == "run"])
    _hits(con, "intent_hits", "intent", by_kind["intent"])
    con.execute("CREATE OR REPLACE TABLE internal.rule_hits AS SELECT * FROM intent_hits")
    run_script(con, FINDINGS_DIR / "10_subjects.sql")
    # Run-level rules read the intents' primary findings (false_completion does).
    run_script(con, FINDINGS_DIR / "20_decisions.sql")
    _hits(con, "other_hits", "run", by_kind["run"] + by_kind["effect"])
    con.execute("INSERT INTO rule_hits SELECT * FROM other_hits")
    for script in ("30_run_subjects.sql", "40_assemble.sql", "50_status.sql", "60_suspicious_runs.sql"):
        run_script(con, FINDINGS_DIR / script)
    con.execute("DROP TABLE other_hits; DROP TABLE prior_audits; DROP TABLE prior_seen; DROP VIEW prior_findings; "
                "DROP VIEW prior_rows")
    con.execute("CREATE TABLE IF NOT EXISTS findings_history AS SELECT * FROM findings WHERE false")
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM findings").fetchone()[0]


# A rule's hit, with no rule to union (as `Rule.hits_sql` labels its rows).
NO_HITS = ("SELECT NULL::VARCHAR rule_id, NULL::VARCHAR mismatch_type, NULL::VARCHAR subject_kind, "
           "NULL::VARCHAR severity, NULL::INTEGER precedence, NULL::VARCHAR subject_id WHERE false")


def _hits(con: duckdb.DuckDBPyConnection, table: str, kept_kind: str, rules: list) -> None:
    """`table`: the kept hits of `kept_kind` and the hits of `rules`, evaluated now."""
    kept = f"SELECT * EXCLUDE (run_id) FROM {incremental.RUN_SCOPE_HITS} WHERE subject_kind = '{kept_kind}'"
    con.execute(f"CREATE OR REPLACE TABLE internal.{table} AS {kept}\nUNION ALL\n{_union(rules)}")  # bookkeeping


def _union(rules: list) -> str:
    return "\nUNION ALL\n".join([r.hits_sql() for r in rules] or [NO_HITS])


def _run_scope_hits(con: duckdb.DuckDBPyConnection, rules: list) -> None:
    """The `scope: run` rules' hits (`RUN_SCOPE_HITS`), each with its run. Kept between
    audits: evaluated for the runs the commits queued since (`HITS_PENDING`) over those
    runs' rows only, the others' kept; for every run when none are kept (a full audit)."""
    hits, pending = incremental.RUN_SCOPE_HITS, incremental.HITS_PENDING
    with_run = ("SELECT h.*, CASE h.subject_kind WHEN 'run' THEN h.subject_id ELSE i.run_id END AS run_id "
                f"FROM ({_union(rules)}) h "
                "LEFT JOIN intent_state i ON h.subject_kind = 'intent' AND i.intent_id = h.subject_id")
    if not table_exists(con, hits):
        con.execute(f"CREATE TABLE internal.{hits} AS {with_run}")
        con.execute(f"CREATE OR REPLACE TABLE internal.{pending} AS SELECT run_id FROM run_state WHERE false")
        return
    # The queued runs' rows by row id (a scan of `run_id` alone finds them), only the
    # columns the rules name; the rules' table names are bound to them.
    for table in RUN_SCOPE_TABLES:
        con.execute(f"CREATE OR REPLACE TEMP TABLE pending_{table} AS SELECT {_named_columns(con, table, rules)} "
                    f"FROM {table} SEMI JOIN "
                    f"(SELECT rowid AS row_id FROM {table} WHERE run_id IN (SELECT run_id FROM {pending})) k "
                    f"ON {table}.rowid = k.row_id")
    bound = ", ".join(f"{table} AS NOT MATERIALIZED (FROM pending_{table})" for table in RUN_SCOPE_TABLES)
    con.execute(f"DELETE FROM {hits} WHERE run_id IN (SELECT run_id FROM {pending})")
    con.execute(f"INSERT INTO {hits} WITH {bound} {with_run}")
    con.execute(f"DELETE FROM {pending}; " + " ".join(f"DROP TABLE pending_{t};" for t in RUN_SCOPE_TABLES))


def _named_columns(con: duckdb.DuckDBPyConnection, table: str, rules: list) -> str:
    """The select list of `table`'s columns that `rules` name (every one if a rule reads
    whole rows), with the keys a hit is placed by. Names from the database's own catalog."""
    named = [rule.columns for rule in rules]
    if None in named:
        return "*"
    wanted = set().union(*named) | {"run_id", "intent_id"}
    schema, name = qualified(table).split(".")
    columns = con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                          "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, name]).fetchall()
    return ", ".join(f'"{column}"' for (column,) in columns if column in wanted)


# --- the repair plan ---------------------------------------------------------------


def plan_repairs(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("BEGIN")
    run_script(con, REPAIRS_DIR / "10_patterns.sql")
    run_script(con, REPAIRS_DIR / "20_repair_actions.sql")
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM repair_actions").fetchone()[0]


# --- publishing ----------------------------------------------------------------

ANALYST_DIR = RULES_DIR / "analyst"  # views.sql (the analyst's first views), comments.sql


def publish(con: duckdb.DuckDBPyConnection, started_at: datetime | None = None) -> dict:
    """Append this audit to the history tables and record it in `audits` (idempotent)."""
    con.execute("BEGIN")
    con.execute("DELETE FROM findings_history WHERE audit_id = (SELECT audit_id FROM audit_context)")
    con.execute("INSERT INTO findings_history BY NAME SELECT * FROM findings")
    con.execute("DELETE FROM repair_actions_history WHERE audit_id = (SELECT audit_id FROM audit_context)")
    con.execute("INSERT INTO repair_actions_history BY NAME SELECT * FROM repair_actions")
    con.execute("DELETE FROM audits WHERE audit_id = (SELECT audit_id FROM audit_context)")
    con.execute(
        """
        INSERT INTO audits BY NAME
        SELECT c.audit_id, c.seq, c.as_of, c.log_observed_at,
            (SELECT list(snapshot_id ORDER BY snapshot_id) FROM cfg_snapshots) AS snapshot_ids,
            (SELECT count(*) FROM recorded_runs) AS runs, (SELECT count(*) FROM intended) AS intents,
            (SELECT count(*) FROM observed) AS observed_objects, (SELECT count(*) FROM findings) AS findings,
            (SELECT count(*) FROM repair_actions) AS repair_actions, (SELECT count(*) FROM quarantine) AS quarantined,
            (SELECT to_json(list({'source': source, 'snapshots': n, 'rows': r, 'quarantined': q, 'repeats_dropped': d}
                                 ORDER BY source))::VARCHAR
               FROM (SELECT source, count(*) n, sum(rows) r, sum(quarantined) q, sum(repeats_dropped) d
                     FROM cfg_snapshots GROUP BY source)) AS sources,
            ? AS started_at, now() AS finished_at,
            (SELECT to_json(list({'system': system, 'reason': stale_reason, 'newest_observed_at': newest_observed_at}
                                 ORDER BY system))::VARCHAR
               FROM system_freshness WHERE stale_reason IS NOT NULL) AS stale_systems
        FROM audit_context c
        """,
        [started_at or datetime.now(UTC)],
    )
    run_script(con, ANALYST_DIR / "views.sql")
    run_script(con, ANALYST_DIR / "comments.sql")
    con.execute("COMMIT")
    row = con.execute("SELECT * FROM audits WHERE audit_id = (SELECT audit_id FROM audit_context)").fetchone()
    cols = [d[0] for d in con.description]
    return dict(zip(cols, row, strict=True))


def publish_read_copy(ws: Workspace) -> dict:
    """Replace `reckon-read.duckdb`, the copy analysts open while audits run, in one step,
    writing only the blocks that changed where it can (`reckon/read_copy.py`). The audit's
    database already holds the public tables in `main` and every other one in the schema
    `internal`, so the copy is the file as it is.

    Call with no connection open: the database file is then checkpointed and whole. Tables
    that deletes have thinned enough are rewritten first (`reckon/compaction.py`).
    """
    compacted = compaction.compact(ws, ANALYST_DIR / "comments.sql")
    final = ws.root / READ_COPY
    return {"path": final, "tables_compacted": len(compacted), "compacted": ", ".join(compacted) or "none",
            **read_copy.publish(ws.database, final, workers=int(ws.config.policies.threads))}
