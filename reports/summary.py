"""The audit summary a person reads after `make demo` or `reckon audit`."""

from __future__ import annotations

import duckdb

SUMMARY_QUERIES = {
    "Systems without a fresh export (their intents cannot be confirmed)": """
        SELECT system, stale_reason AS reason, newest_observed_at
        FROM system_freshness WHERE stale_reason IS NOT NULL ORDER BY system""",
    "Intents whose keys disagree (reported in their findings' evidence, if any)": """
        SELECT kind, count(*) AS intents, min(intent_id) AS example FROM (
            SELECT intent_id, 'two or more targets' AS kind FROM intended WHERE len(targets) > 1
            UNION ALL SELECT intent_id, 'two or more receipts' FROM recorded WHERE len(receipts) > 1
            UNION ALL SELECT intent_id, 'a weaker key names another object' FROM intent_state WHERE n_weaker > 0
        ) GROUP BY kind ORDER BY kind""",
    "Findings by mismatch type": """
        SELECT mismatch_type, subject_kind, severity, repair_pattern, count(*) AS findings
        FROM findings GROUP BY ALL ORDER BY findings DESC, mismatch_type""",
    "Findings by workflow": """
        SELECT coalesce(workflow, '(no run)') AS workflow, count(*) AS findings,
               count(DISTINCT run_id) AS runs_affected,
               string_agg(DISTINCT mismatch_type, ', ' ORDER BY mismatch_type) AS types
        FROM findings GROUP BY ALL ORDER BY findings DESC, workflow""",
    "Runs entering reconciliation, by reason and verdict": """
        SELECT r.reason, s.verdict, count(DISTINCT r.run_id) AS runs
        FROM suspicious_run_reasons r JOIN suspicious_runs s USING (run_id)
        GROUP BY ALL ORDER BY r.reason, s.verdict""",
    "Repair actions by pattern": """
        SELECT pattern, count(*) AS actions, count(*) FILTER (requires_approval) AS need_approval,
               count(*) FILTER (duplicate_risk = 'high') AS high_duplicate_risk
        FROM repair_actions GROUP BY ALL ORDER BY actions DESC, pattern""",
    "Records by source (every snapshot)": """
        SELECT source, sum(rows) AS rows, sum(quarantined) AS quarantined,
               sum(repeats_dropped) AS identical_repeats_dropped
        FROM cfg_snapshots GROUP BY ALL ORDER BY source""",
    "Quarantined records by source": r"""
        -- Reasons may quote the bad value (personal data): show only the part before it.
        SELECT source, count(*) AS quarantined, min(regexp_replace(reason, ':\s.*$', '')) AS example_reason
        FROM quarantine GROUP BY ALL ORDER BY source""",
}


def table_markdown(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """A query's result as a Markdown table (used in the CLI and in Dagster metadata)."""
    rows = con.execute(query).fetchall()
    cols = [d[0] for d in con.description]
    if not rows:
        return "_none_"
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_text(con: duckdb.DuckDBPyConnection) -> str:
    return "\n\n".join(f"## {title}\n\n{table_markdown(con, q)}" for title, q in SUMMARY_QUERIES.items())
