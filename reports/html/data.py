"""What a report shows of one audit, read from the history tables (any past audit works),
and the headline as Markdown for Dagster's metadata.

Everything here is bounded whatever the size of the audit: DuckDB aggregates the charts'
numbers and picks the top `QUEUE_LIMIT` queue items (ORDER BY ... LIMIT); Python never
reads a whole table. The full queue stays in the exports and in SQL (`analyst_queue_sql`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from reckon.database import table_exists
from reports.masking import NAME_KEYS, WORD, name_words

RANK = "CASE {col} WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END"
HISTORY_AUDITS = 60  # the charts over time show at most this many audits, ending with the report's
# The queue items the page shows (the top ones, see QUEUE_ORDER): enough for a day's work and
# for the page's filters, small enough that the page stays ~1-2 MB and opens in a second.
QUEUE_LIMIT = 500
PREVENTION_ROWS = 10  # the prevention backlog's top entries the page lists
HEATMAP_WORKFLOWS = 30  # the heatmap's columns: the workflows with most open findings; the rest in one

# The operator queue of one audit (the `?`): open findings whose action a person must take
# or approve. One definition for the page's top items, its facet totals and the SQL it
# shows analysts for the whole queue.
QUEUE_FROM = """
FROM repair_actions_history a
JOIN findings_history f ON f.audit_id = a.audit_id AND f.finding_id = a.finding_id
WHERE a.audit_id = ? AND f.status = 'open' AND needs_person(a.pattern, a.requires_approval)"""
# Highest severity, then highest duplicate risk, then oldest (first seen); the rest only
# makes the order total, so the same audit always shows the same items.
QUEUE_ORDER = (f"{RANK.format(col='f.severity')}, {RANK.format(col='a.duplicate_risk')}, "
               "f.first_seen_at NULLS LAST, f.mismatch_type, f.subject_id, a.action_id")
# What the page's filters select on, as SQL over QUEUE_FROM: (key, label, expression).
FACETS = (
    ("type", "mismatch type", "f.mismatch_type"),
    ("workflow", "workflow", "coalesce(f.workflow, '(no run)')"),
    ("system", "system", "coalesce(f.system, '(none)')"),
    ("pattern", "repair pattern", "a.pattern"),
    ("approval", "needs approval", "CASE WHEN a.requires_approval THEN 'yes' ELSE 'no' END"),
)
ANALYST_COLUMNS = ("f.severity, a.duplicate_risk, f.first_seen_at, f.mismatch_type, f.subject_id, f.workflow, "
                   "f.system, a.pattern, a.requires_approval, f.finding_id, a.action_id")


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
    # (workflow, type, prevention line, findings, consecutive audits, cleanup min)
    prevention: list[tuple[str, str, str, int, int, float]]
    audit_labels: list[str]  # one per audit up to this one, oldest first
    by_type_over_time: list[tuple[str, str, int]]  # (audit label, mismatch type, open findings)
    ttr_over_time: list[tuple[str, float | None, float | None, int]]  # (label, mean s, p90 s, reconciled)
    type_by_workflow: list[tuple[str, str | None, int]]  # (mismatch type, workflow or None: the others, open)
    queue: list[dict[str, Any]]  # the top QUEUE_LIMIT items
    queue_total: int  # every item of the audit's queue
    facet_totals: dict[str, dict[str, int]]  # facet -> value -> items in the whole queue (values shown only)
    names: frozenset[str]  # words of personal names in the workspace that the page's text contains


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
    # The follow-up work that stops the most recurring mismatches (its audit's backlog), in
    # the backlog's own order across workflows: recurrence, then cleanup. A backlog computed
    # before consecutive_audits existed has none (0).
    prevention = [(w, t, p, int(n), int(k), float(m)) for w, t, p, n, k, m in con.execute(
        "SELECT workflow, mismatch_type, prevention, findings, coalesce(consecutive_audits, 0), cleanup_minutes "
        "FROM prevention_backlog WHERE audit_id = ? "
        "ORDER BY findings DESC, coalesce(consecutive_audits, 0) DESC, cleanup_minutes DESC, workflow, mismatch_type, "
        "prevention LIMIT ?",
        [aid, PREVENTION_ROWS]).fetchall()] if table_exists(con, "prevention_backlog") else []
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
    # Workflows come from data, so the heatmap keeps the busiest and folds the rest into one column.
    type_by_workflow = con.execute("""
        WITH cells AS (SELECT mismatch_type, coalesce(workflow, '(no run)') AS workflow, count(*) AS n
                       FROM findings_history WHERE audit_id = ? AND status = 'open' GROUP BY ALL),
             top AS (SELECT workflow FROM cells GROUP BY workflow ORDER BY sum(n) DESC, workflow LIMIT ?)
        SELECT mismatch_type, CASE WHEN workflow IN (SELECT workflow FROM top) THEN workflow END AS w, sum(n)::BIGINT
        FROM cells GROUP BY ALL ORDER BY 1, w NULLS LAST""", [aid, HEATMAP_WORKFLOWS]).fetchall()
    queue, queue_total = operator_queue(con, aid)
    facet_totals = queue_facet_totals(con, aid, queue)
    shown = [*queue, stale, [s for s, _ in quarantined_by_source], [w for _, w, _ in type_by_workflow],
             [w for w, *_ in prevention]]
    return ReportData(aid, as_of, audit, headline, resolved_by, quarantined_by_source, prevention,
                      list(labels.values()),
                      by_type, ttr, type_by_workflow, queue, queue_total, facet_totals,
                      personal_names(con, words_of(shown)))


def words_of(values: Iterable[Any]) -> frozenset[str]:
    """Every word (as masking sees words) of the strings in these values, keys included."""
    def strings(v: Any) -> Iterator[str]:
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for k, x in v.items():
                yield from strings(k)
                yield from strings(x)
        elif isinstance(v, list | tuple | set | frozenset):
            for x in v:
                yield from strings(x)
    return frozenset(w for text in strings(list(values)) for w in WORD.findall(text))


# A word of a name is the tail of a run of word characters, apostrophes and hyphens that
# starts after one of them (or the whole run), so words and runs share their last segment:
# DuckDB keeps the runs whose last segment a candidate has, Python takes the exact words.
RUN = r"[\pL\pN_'\-]+"  # Python's \w is Unicode letters, numbers and _: RE2's \pL \pN _
LAST_SEGMENT = r"^.*['\-]"


def personal_names(con: duckdb.DuckDBPyConnection, candidates: frozenset[str]) -> frozenset[str]:
    """The words of `candidates` that are words of a value under a name key in the workspace's
    intended or observed data (for masking names in free text). DuckDB scans the values; only
    the few runs that may hold a candidate reach Python."""
    if not candidates:
        return frozenset()
    keys = sorted(NAME_KEYS)
    segments = sorted({re.sub(LAST_SEGMENT, "", w) for w in candidates})
    rows = con.execute("""
        WITH names AS (
            SELECT DISTINCT v FROM (
                SELECT fields ->> k AS v FROM observed, unnest(?::VARCHAR[]) t(k)
                UNION ALL SELECT expected ->> k FROM intended, unnest(?::VARCHAR[]) t(k) WHERE expected IS NOT NULL)
            WHERE v IS NOT NULL),
        runs AS (SELECT DISTINCT unnest(regexp_extract_all(v, ?)) AS run FROM names)
        SELECT run FROM runs WHERE list_contains(?::VARCHAR[], regexp_replace(run, ?, ''))""",
                       [keys, keys, RUN, segments, LAST_SEGMENT]).fetchall()
    return name_words(run for (run,) in rows) & candidates


def operator_queue(con: duckdb.DuckDBPyConnection, audit_id: str,
                   limit: int = QUEUE_LIMIT) -> tuple[list[dict[str, Any]], int]:
    """The top `limit` queue items (QUEUE_ORDER) and how many items the queue has in all."""
    facets = ", ".join(f"{sql} AS facet_{key}" for key, _, sql in FACETS)
    cur = con.execute(f"""
        SELECT f.severity, a.duplicate_risk, f.mismatch_type, f.subject_kind, f.subject_id, f.workflow,
               f.run_id, f.system, f.lifecycle_status, f.first_seen_at, f.finding_id, a.action_id, a.pattern,
               a.requires_approval, a.target_system, a.target_external_id, a.idempotency_key, a.explanation,
               a.parameters, f.intended, f.recorded, f.observed, f.evidence, {facets}
        {QUEUE_FROM}
        ORDER BY {QUEUE_ORDER}
        LIMIT ?""", [audit_id, limit])
    names = [d[0] for d in cur.description]
    items = []
    for row in cur.fetchall():
        item = dict(zip(names, row, strict=True))
        for key in ("parameters", "intended", "recorded", "observed", "evidence"):
            item[key] = json.loads(item[key]) if item[key] else {}
        item["facets"] = {key: item.pop(f"facet_{key}") for key, _, _ in FACETS}
        items.append(item)
    (total,) = con.execute(f"SELECT count(*) {QUEUE_FROM}", [audit_id]).fetchone()
    return items, int(total)


def queue_facet_totals(con: duckdb.DuckDBPyConnection, audit_id: str,
                       items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """For each facet value the shown items have, how many items of the whole queue have it."""
    shown = sorted({f"{key}\x1f{value}" for item in items for key, value in item["facets"].items()})
    if not shown:
        return {}
    pairs = ", ".join(f"{{'k': '{key}', 'v': {sql}}}" for key, _, sql in FACETS)
    totals: dict[str, dict[str, int]] = {}
    for key, value, n in con.execute(f"""
            SELECT p.k, p.v, count(*) FROM (SELECT unnest([{pairs}]) AS p {QUEUE_FROM})
            WHERE list_contains(?::VARCHAR[], p.k || chr(31) || p.v) GROUP BY ALL ORDER BY ALL""",
                                     [audit_id, shown]).fetchall():
        totals.setdefault(key, {})[value] = int(n)
    return totals


def analyst_queue_sql(audit_id: str) -> str:
    """The SQL of the whole queue of one audit, for the analyst database (reckon-read.duckdb)."""
    return f"SELECT {ANALYST_COLUMNS}{QUEUE_FROM.replace('?', _literal(audit_id))}\nORDER BY {QUEUE_ORDER}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
