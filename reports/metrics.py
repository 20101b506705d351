"""The finding lifecycle over audits, each finding's stored result, then the contract's
metrics that read them (SQL beside this module: history_fold.sql, lifecycle.sql,
stored_results.sql, metrics.sql)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reckon.database import run_script

HERE = Path(__file__).resolve().parent


def compute_metrics(con: duckdb.DuckDBPyConnection) -> int:
    """Fold the audits before this one, update the finding lifecycle and the stored results,
    then this audit's metrics; returns the metric rows."""
    con.execute("BEGIN")
    run_script(con, HERE / "history_fold.sql")
    run_script(con, HERE / "lifecycle.sql")
    run_script(con, HERE / "stored_results.sql")
    run_script(con, HERE / "metrics.sql")
    con.execute("COMMIT")
    return con.execute(
        "SELECT count(*) FROM metrics WHERE audit_id = (SELECT audit_id FROM audit_context)"
    ).fetchone()[0]
