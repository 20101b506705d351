"""What a report shows of one audit, read from the history tables (any past audit works),
and the headline as Markdown for Dagster's metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from reports.masking import NAME_KEYS, name_words

RANK = "CASE {col} WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END"
HISTORY_AUDITS = 60  # the charts over time show at most this many audits, ending with the report's


@dataclass(frozen=True)
class Metric:
    """One headline number. `key` is also its Dagster metadata key."""

    key: str
    label: str
    value: float | None
    kind: str  # count · minutes · seconds · share
    note: str = ""

    def display(self) -> str:
        return format_value(self.value, self.kind)


@dataclass(frozen=True)
class ReportData:
    audit_id: str
    as_of: datetime
    audit: dict[str, Any]
    headline: list[Metric]
    resolved_by: list[tuple[str, int]]
    quarantined_by_source: list[tuple[str, int]]
    audit_labels: list[str]  # one per audit up to this one, oldest first
    by_type_over_time: list[tuple[str, str, int]]  # (audit label, mismatch type, open findings)
    ttr_over_time: list[tuple[str, float | None, float | None, int]]  # (label, mean s, p90 s, reconciled)
    type_by_workflow: list[tuple[str, str, int]]  # (mismatch type, workflow, open findings)
    queue: list[dict[str, Any]]
    names: frozenset[str]  # words of personal names in the workspace, masked in free text


def collect(con: duckdb.DuckDBPyConnection, audit_id: str | None = None) -> ReportData:
    """Everything the report shows for one audit, from the history tables (any past audit works)."""
    cols = "audit_id, as_of, runs, intents, observed_objects, findings, repair_actions, quarantined, stale_systems"
    if audit_id is None:
        row = con.execute(f"SELECT {cols} FROM audits ORDER BY as_of DESC, finished_at DESC LIMIT 1").fetchone()
    else:
        row = con.execute(f"SELECT {cols} FROM audits WHERE audit_id = ?", [audit_id]).fetchone()
    if row is None:
        raise LookupError(f"no audit {audit_id!r} in the workspace" if audit_id else
                          "the workspace has no audit yet: run `reckon audit` first")
    audit = dict(zip(cols.split(", "), row, strict=True))
    aid, as_of = audit["audit_id"], audit["as_of"]

    lifecycle = dict(con.execute(
        "SELECT status, count(*) FROM lifecycle_events WHERE audit_id = ? AND (status <> 'resolved' OR resolved_at = as_of) "
        "GROUP BY status", [aid]).fetchall())
    resolved_by = con.execute(
        "SELECT resolution, count(*) FROM lifecycle_events WHERE audit_id = ? AND status = 'resolved' "
        "AND resolved_at = as_of GROUP BY resolution ORDER BY 2 DESC, 1", [aid]).fetchall()
    metrics = dict(con.execute(
        "SELECT metric, value FROM metrics WHERE audit_id = ? AND workflow = '*' AND dimension IS NULL", [aid]).fetchall())
    quarantined_by_source = [(s, int(n)) for s, n in con.execute(
        "SELECT dimension, value FROM metrics WHERE audit_id = ? AND workflow = '*' AND metric = 'quarantined_records' "
        "ORDER BY dimension", [aid]).fetchall()]
    (findings_open,) = con.execute(
        "SELECT count(*) FROM findings_history WHERE audit_id = ? AND status = 'open'", [aid]).fetchone()
    reconciled = metrics.get("findings_reconciled")
    stale = [item["system"] for item in json.loads(audit["stale_systems"] or "[]")]

    headline = [
        # First: an export missing or behind the log makes every other number incomplete.
        Metric("systems_without_fresh_export", "Systems without a fresh export", len(stale), "count",
               ", ".join(stale) if stale else "every system's export covers the workflow log"),
        Metric("findings_open", "Open findings", findings_open, "count"),
        Metric("findings_new", "New", lifecycle.get("new", 0), "count", "first seen in this audit"),
        Metric("findings_regressed", "Regressed", lifecycle.get("regressed", 0), "count", "resolved before, back now"),
        Metric("findings_resolved", "Resolved this audit", lifecycle.get("resolved", 0), "count",
               "gone since the previous audit"),
        Metric("operator_tasks", "Operator tasks", metrics.get("operator_tasks"), "count",
               "adjudication or approval needed"),
        Metric("human_cleanup_tax_minutes", "Human cleanup tax", metrics.get("human_cleanup_tax_minutes"), "minutes"),
        Metric("time_to_reconcile_mean_seconds", "Time to reconcile, mean",
               metrics.get("time_to_reconcile_mean_seconds"), "seconds", _reconciled_note(reconciled)),
        Metric("time_to_reconcile_p90_seconds", "Time to reconcile, p90",
               metrics.get("time_to_reconcile_p90_seconds"), "seconds", _reconciled_note(reconciled)),
        Metric("resolved_auto_share", "Resolved automatically", metrics.get("resolved_auto_share"), "share",
               "of findings reconciled this audit"),
        Metric("resolved_human_share", "Resolved by a person", metrics.get("resolved_human_share"), "share",
               "of findings reconciled this audit"),
        Metric("auto_resolvable_share", "Auto-resolvable now", metrics.get("auto_resolvable_share"), "share",
               "open findings with a repair other than adjudication"),
        Metric("quarantined_records", "Quarantined records", audit["quarantined"], "count", "unreadable input records"),
    ]

    history = con.execute(
        "SELECT audit_id, as_of FROM (SELECT * FROM audits WHERE as_of <= ? ORDER BY as_of DESC, finished_at DESC "
        "LIMIT ?) ORDER BY as_of, finished_at", [as_of, HISTORY_AUDITS]).fetchall()
    labels = _audit_labels(history)
    ids = list(labels)
    by_type = [(labels[a], t, int(n)) for a, t, n in con.execute(
        "SELECT audit_id, mismatch_type, count(*) FROM findings_history "
        "WHERE list_contains(?, audit_id) AND status = 'open' GROUP BY ALL ORDER BY 2, 1", [ids]).fetchall()]
    ttr_by_audit = {a: (mean, p90, int(n or 0)) for a, mean, p90, n in con.execute(
        """SELECT audit_id,
                  max(value) FILTER (metric = 'time_to_reconcile_mean_seconds'),
                  max(value) FILTER (metric = 'time_to_reconcile_p90_seconds'),
                  max(value) FILTER (metric = 'findings_reconciled')
           FROM metrics WHERE workflow = '*' AND dimension IS NULL AND list_contains(?, audit_id)
           GROUP BY audit_id""", [ids]).fetchall()}
    ttr = [(label, *ttr_by_audit.get(a, (None, None, 0))) for a, label in labels.items()]
    type_by_workflow = con.execute(
        "SELECT mismatch_type, coalesce(workflow, '(no run)'), count(*) FROM findings_history "
        "WHERE audit_id = ? AND status = 'open' GROUP BY ALL ORDER BY 1, 2", [aid]).fetchall()
    return ReportData(aid, as_of, audit, headline, resolved_by, quarantined_by_source, list(labels.values()),
                      by_type, ttr, type_by_workflow, operator_queue(con, aid), personal_names(con))


def personal_names(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Words of the values under name keys in intended and observed fields (for free-text masking)."""
    keys = sorted(NAME_KEYS)
    rows = con.execute("""
        SELECT DISTINCT v FROM (
            SELECT fields ->> k AS v FROM observed, unnest(?::VARCHAR[]) t(k)
            UNION ALL SELECT expected ->> k FROM intended, unnest(?::VARCHAR[]) t(k) WHERE expected IS NOT NULL)
        WHERE v IS NOT NULL""", [keys, keys]).fetchall()
    return name_words(v for (v,) in rows)


def operator_queue(con: duckdb.DuckDBPyConnection, audit_id: str) -> list[dict[str, Any]]:
    """Open findings whose action a person must take or approve: severity first, then duplicate risk."""
    cur = con.execute(f"""
        SELECT f.severity, a.duplicate_risk, f.mismatch_type, f.subject_kind, f.subject_id, f.workflow,
               f.run_id, f.system, f.lifecycle_status, f.first_seen_at, f.finding_id, a.action_id, a.pattern,
               a.requires_approval, a.target_system, a.target_external_id, a.idempotency_key, a.explanation,
               a.parameters, f.intended, f.recorded, f.observed, f.evidence
        FROM repair_actions_history a
        JOIN findings_history f ON f.audit_id = a.audit_id AND f.finding_id = a.finding_id
        WHERE a.audit_id = ? AND f.status = 'open' AND (a.pattern = 'human_adjudication' OR a.requires_approval)
        ORDER BY {RANK.format(col='f.severity')}, {RANK.format(col='a.duplicate_risk')},
                 f.mismatch_type, f.subject_id, a.action_id""", [audit_id])
    names = [d[0] for d in cur.description]
    items = []
    for row in cur.fetchall():
        item = dict(zip(names, row, strict=True))
        for key in ("parameters", "intended", "recorded", "observed", "evidence"):
            item[key] = json.loads(item[key]) if item[key] else {}
        items.append(item)
    return items


def _reconciled_note(n: float | None) -> str:
    return "nothing reconciled yet" if not n else f"over {int(n)} findings reconciled this audit"


def _audit_labels(history: list[tuple[str, datetime]]) -> dict[str, str]:
    """Chart labels per audit: its as-of time, with the audit id where two share one."""
    base = {a: t.strftime("%Y-%m-%d %H:%M") for a, t in history}
    counts: dict[str, int] = {}
    for label in base.values():
        counts[label] = counts.get(label, 0) + 1
    return {a: label if counts[label] == 1 else f"{label} {a[:10]}" for a, label in base.items()}


def format_value(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "minutes":
        return f"{value:,.0f} min" if value < 120 else f"{value / 60:,.1f} h"
    if kind == "seconds":
        return format_duration(value)
    return f"{value:,.0f}"


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# --- charts -----------------------------------------------------------------


def headline_markdown(data: ReportData) -> str:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {m.label} | {m.display()} |" for m in data.headline]
    return "\n".join(lines)


def trend_markdown(data: ReportData, width: int = 30) -> str:
    """Open findings per audit as a text bar chart (Dagster renders Markdown, not scripts)."""
    totals: dict[str, int] = dict.fromkeys(data.audit_labels, 0)
    for label, _, n in data.by_type_over_time:
        totals[label] += n
    top = max(totals.values(), default=0) or 1
    lines = ["| audit (as of) | open findings | |", "|---|---:|---|"]
    lines += [f"| {label} | {n} | {'█' * max(1 if n else 0, round(width * n / top))} |" for label, n in totals.items()]
    return "\n".join(lines)
