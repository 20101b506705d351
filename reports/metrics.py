"""The finding lifecycle over audits, then the contract's metrics that read it (SQL beside
this module: lifecycle.sql, metrics.sql)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reckon.database import run_script

HERE = Path(__file__).resolve().parent


def compute_metrics(con: duckdb.DuckDBPyConnection) -> int:
    """Update the finding lifecycle, then this audit's metrics; returns the metric rows."""
    con.execute("BEGIN")
    run_script(con, HERE / "lifecycle.sql")
    run_script(con, HERE / "metrics.sql")
    con.execute("COMMIT")
    return con.execute(
        "SELECT count(*) FROM metrics WHERE audit_id = (SELECT audit_id FROM audit_context)"
    ).fetchone()[0]
