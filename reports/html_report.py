"""A self-contained HTML report of one audit: `exports/report-<audit_id>.html`.

Everything is read from the workspace's DuckDB file (read-only) and rendered with the
standard library. The charts are Plotly figures; plotly.js is embedded inline once, so
the file opens from disk with no network request (no CDN, no web fonts, no external CSS).
Personal data is masked unless the caller passes `unmask=True` (see reports/masking.py).
The same audit always renders to the same bytes: chart ids are fixed and the only times
shown are export times, never the wall clock.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any

import duckdb
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

from reckon import atomic, database
from reckon.workspace import Workspace
from reports.masking import NAME_KEYS, Masker, name_words
from rules import load_rules

RANK = "CASE {col} WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
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


@dataclass(frozen=True)
class Report:
    path: Path
    data: ReportData


def write_report(ws: Workspace, audit_id: str | None = None, unmask: bool = False) -> Path:
    """Write `exports/report-<audit_id>.html` for an audit (default: the newest) and return its path.

    With `unmask=True` the file is `report-<audit_id>-unmasked.html` and shows personal data."""
    return publish_report(ws, audit_id, unmask).path


def publish_report(ws: Workspace, audit_id: str | None = None, unmask: bool = False) -> Report:
    """As write_report, also returning the numbers the report shows (for Dagster metadata)."""
    with database.connect(ws, read_only=True) as con:
        data = collect(con, audit_id)
    text = render(data, Masker(unmask=unmask, names=data.names))
    ws.exports.mkdir(parents=True, exist_ok=True)
    # An unmasked report never takes the masked one's name, so it is not shared by mistake.
    final = ws.exports / f"report-{data.audit_id}{'-unmasked' if unmask else ''}.html"
    staging = atomic.staging_path(final)
    try:
        staging.write_text(text, encoding="utf-8")
        atomic.publish([(staging, final)])
    finally:
        staging.unlink(missing_ok=True)
    return Report(final, data)


# --- data -------------------------------------------------------------------


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


def charts(data: ReportData, mask: Masker) -> list[tuple[str, str, go.Figure]]:
    """(div id, title, figure) for each chart, in page order."""
    layout = {"template": "plotly_white", "font": {"family": FONT, "size": 12}, "height": 340,
              "margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "legend": {"orientation": "h", "y": -0.2}}

    by_type = go.Figure(layout=layout)
    colors = type_colors({t for _, t, _ in data.by_type_over_time})
    for kind, color in colors.items():
        counts = {label: n for label, t, n in data.by_type_over_time if t == kind}
        by_type.add_bar(name=mask.text(kind), x=data.audit_labels, y=[counts.get(x, 0) for x in data.audit_labels],
                        marker_color=color)
    by_type.update_layout(barmode="stack", bargap=0.4, height=420,
                          xaxis={"type": "category", "title": "audit (as of, UTC)"}, yaxis={"title": "open findings"},
                          legend={"orientation": "v", "y": 1, "x": 1.02, "traceorder": "reversed", "font": {"size": 11}},
                          margin={"r": 190, "b": 50})

    ttr = go.Figure(layout=layout)
    x = [label for label, *_ in data.ttr_over_time]
    hours = [[None if v is None else v / 3600 for v in (mean, p90)] for _, mean, p90, _ in data.ttr_over_time]
    reconciled = [n for *_, n in data.ttr_over_time]
    ttr.add_scatter(name="mean", x=x, y=[h[0] for h in hours], mode="lines+markers", customdata=reconciled,
                    hovertemplate="%{y:.1f} h (mean over %{customdata} reconciled)<extra></extra>")
    ttr.add_scatter(name="p90", x=x, y=[h[1] for h in hours], mode="lines+markers", line={"dash": "dash"},
                    hovertemplate="%{y:.1f} h (p90)<extra></extra>")
    ttr.update_layout(xaxis={"type": "category", "title": "audit (as of, UTC)"},
                      yaxis={"title": "hours, first seen to resolved", "rangemode": "tozero"})
    if not any(v is not None for h in hours for v in h):
        ttr.add_annotation(text="Nothing reconciled yet: a finding resolves at the earliest one audit later.",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)

    types = sorted({t for t, _, _ in data.type_by_workflow})
    workflows = sorted({w for _, w, _ in data.type_by_workflow})
    cells = {(t, w): n for t, w, n in data.type_by_workflow}
    z = [[cells.get((t, w)) for w in workflows] for t in types]
    heat = go.Figure(layout=layout)
    heat.add_heatmap(z=z, x=[mask.text(w) for w in workflows], y=[mask.text(t) for t in types],
                     colorscale="Oranges", texttemplate="%{z}", hoverongaps=False, xgap=2, ygap=2,
                     colorbar={"title": {"text": "open"}},
                     hovertemplate="%{y} in %{x}: %{z}<extra></extra>")
    heat.update_layout(height=max(240, 34 * len(types) + 110), margin={"l": 170, "b": 50},
                       yaxis={"autorange": "reversed", "type": "category"}, xaxis={"type": "category", "side": "top"})
    if not types:
        heat.add_annotation(text="No open findings.", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)

    return [
        ("chart-findings-by-type", "Open findings by mismatch type, per audit", by_type),
        ("chart-time-to-reconcile", "Time to reconcile, per audit", ttr),
        ("chart-type-by-workflow", "Open findings by type and workflow, this audit", heat),
    ]


def type_colors(present: set[str]) -> dict[str, str]:
    """A fixed colour per mismatch type (rule order), so a type looks the same in every report."""
    order = [r.mismatch_type for r in load_rules()]
    order += sorted(present - set(order))
    palette = qualitative.Dark24
    return {t: palette[i % len(palette)] for i, t in enumerate(order) if t in present}


def chart_html(figures: list[tuple[str, str, go.Figure]]) -> list[str]:
    """Each figure as a div; plotly.js is inlined with the first one only."""
    return [
        pio.to_html(fig, include_plotlyjs=i == 0, full_html=False, div_id=div_id, config=PLOTLY_CONFIG,
                    default_height=f"{fig.layout.height}px")
        for i, (div_id, _, fig) in enumerate(figures)
    ]


# --- html -------------------------------------------------------------------

QUEUE_COLS = "".join(f'<col style="width:{w}%">' for w in (3, 7, 7, 19, 22, 19, 23))

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
$body
</body>
</html>
""")

STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa;
        --high: #b42318; --medium: #b54708; --low: #067647; }
* { box-sizing: border-box; }
body { font-family: """ + FONT + """; color: var(--ink); margin: 0 auto; max-width: 1280px;
       padding: 24px; line-height: 1.4; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 4px; }
.meta, .note { color: var(--muted); font-size: 12px; }
.banner { padding: 6px 10px; border-radius: 6px; margin: 8px 0; font-size: 13px; }
.masked { background: var(--soft); border: 1px solid var(--line); }
.unmasked { background: #fef3f2; border: 1px solid var(--high); color: var(--high); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; break-inside: avoid; }
.card .v { font-size: 24px; font-weight: 600; } .card .k { font-size: 12px; color: var(--muted); }
.card .n { font-size: 11px; color: var(--muted); }
.side { display: flex; gap: 32px; flex-wrap: wrap; }
.chart { border: 1px solid var(--line); border-radius: 8px; padding: 8px; margin: 8px 0 16px;
         break-inside: avoid; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 6px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-size: 12px; }
table.small { width: auto; } table.small td, table.small th { padding: 2px 10px 2px 0; background: none; }
.queue { table-layout: fixed; } .queue td { font-size: 12.5px; overflow-wrap: anywhere; }
.queue tbody.item { break-inside: avoid; } .queue tr[data-finding] td { border-bottom: none; padding-top: 10px; }
.queue tr.detail td { border-bottom: 1px solid var(--line); padding-top: 0; }
div.detail { display: flex; gap: 24px; flex-wrap: wrap; background: var(--soft); border-radius: 6px; padding: 6px 8px; }
div.detail > div { flex: 1 1 320px; min-width: 0; }
h4 { margin: 0 0 2px; font-size: 11px; color: var(--muted); font-weight: 600; text-transform: uppercase; }
.diff { width: auto; max-width: 100%; } .diff th, .diff td { font-size: 12px; padding: 2px 8px 2px 0; background: none; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
ul.ids { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 14px; }
.ids .k { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 11px; font-weight: 600;
         border: 1px solid currentColor; }
.high { color: var(--high); } .medium { color: var(--medium); } .low { color: var(--low); }
.null { color: var(--muted); font-style: italic; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .modebar-container { display: none !important; }
  h2 { break-after: avoid; }
}
"""


class _Page:
    """Renders one audit's report; every value passes through the masker and html.escape."""

    def __init__(self, data: ReportData, mask: Masker) -> None:
        self.data = data
        self.mask = mask

    def e(self, value: Any) -> str:
        return html.escape(self.mask.text(value))

    def render(self) -> str:
        d = self.data
        figures = charts(d, self.mask)
        divs = chart_html(figures)
        chart_sections = "\n".join(
            f'<div class="chart" data-chart="{div_id}"><h3>{html.escape(title)}</h3>{div}</div>'
            for (div_id, title, _), div in zip(figures, divs, strict=True)
        )
        body = f"""
<header>
<h1>reckon audit report</h1>
<div class="meta">audit <code>{self.e(d.audit_id)}</code> · as of {self.e(_ts(d.as_of))} (newest export time)
 · {self.e(d.audit["runs"])} runs · {self.e(d.audit["intents"])} intents ·
 {self.e(d.audit["observed_objects"])} observed objects · {self.e(d.audit["findings"])} findings ·
 {self.e(d.audit["repair_actions"])} repair actions</div>
{self.masking_banner()}
</header>
<section id="headline"><h2>Headline</h2>
<div class="cards">{"".join(self.card(m) for m in d.headline)}</div>
<div class="side">
{self.small_table("Resolved this audit, by how", ["resolution", "findings"], d.resolved_by)}
{self.small_table("Quarantined records, by source", ["source", "records"], d.quarantined_by_source)}
</div>
</section>
<section id="charts" data-charts="{len(figures)}"><h2>Over time</h2>
<p class="note">The audits up to this one (at most {HISTORY_AUDITS}), by their as-of time.</p>
{chart_sections}
</section>
<section id="queue"><h2>Operator queue ({len(d.queue)})</h2>
<p class="note">Open findings whose repair a person must decide (human adjudication) or approve, highest severity
first, then highest duplicate risk. Act only after re-checking the preconditions in the repair plan
(<code>exports/repair-plan-{self.e(d.audit_id)}.jsonl</code>).</p>
{self.queue()}
</section>
"""
        return PAGE.substitute(title=f"reckon audit {self.e(d.audit_id)}", style=STYLE, body=body)

    def masking_banner(self) -> str:
        if self.mask.unmask:
            return ('<div class="banner unmasked">UNMASKED: this report shows personal data (emails, names). '
                    "Do not share it.</div>")
        return ('<div class="banner masked">Personal data is masked: emails as <code>j***@e***.com#1a2b</code>, '
                "names as initials. Write the report with <code>unmask=True</code> to see them.</div>")

    def card(self, m: Metric) -> str:
        note = f'<div class="n">{self.e(m.note)}</div>' if m.note else ""
        return (f'<div class="card" data-metric="{self.e(m.key)}"><div class="k">{self.e(m.label)}</div>'
                f'<div class="v">{self.e(m.display())}</div>{note}</div>')

    def small_table(self, title: str, header: list[str], rows: list[tuple]) -> str:
        if not rows:
            return f"<div><h3>{self.e(title)}</h3><p class='note'>none</p></div>"
        head = "".join(f"<th>{self.e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{self.e(v)}</td>" for v in row) + "</tr>" for row in rows)
        return f'<div><h3>{self.e(title)}</h3><table class="small"><tr>{head}</tr>{body}</table></div>'

    def queue(self) -> str:
        if not self.data.queue:
            return "<p>No operator tasks in this audit.</p>"
        head = "".join(f"<th>{h}</th>" for h in [
            "#", "severity", "duplicate risk", "mismatch · subject", "intended action", "observed state",
            "recommended next action"])
        items = "\n".join(self.queue_item(i, item) for i, item in enumerate(self.data.queue, 1))
        return (f'<table class="queue"><colgroup>{QUEUE_COLS}</colgroup><thead><tr>{head}</tr></thead>\n'
                f"{items}\n</table>")

    def queue_item(self, n: int, item: dict[str, Any]) -> str:
        """One queue item: a row of the decision at hand, then a row of its ids and exact field diff."""
        sev, risk = item["severity"], item["duplicate_risk"]
        subject = (f"<b>{self.e(item['mismatch_type'])}</b><br><code>{self.e(item['subject_id'])}</code>"
                   f"<br><span class='note'>{self.e(item['subject_kind'])}"
                   + (f" · {self.e(item['workflow'])}" if item["workflow"] else "")
                   + f" · {self.e(item['lifecycle_status'])}, first seen {self.e(_ts(item['first_seen_at']))}</span>")
        approval = " · needs approval" if item["requires_approval"] else ""
        cells = [
            str(n),
            f'<span class="badge {_cls(sev)}">{self.e(sev)}</span>',
            f'<span class="badge {_cls(risk)}">{self.e(risk)}</span>',
            subject,
            self.intended_action(item),
            self.observed_state(item),
            f"{self.e(recommended_next_action(item))}<br><span class='note'>{self.e(item['pattern'])}{approval}</span>",
        ]
        return (f'<tbody class="item"><tr data-finding="{self.e(item["finding_id"])}">'
                + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"
                + f'<tr class="detail"><td></td><td colspan="6"><div class="detail">'
                  f"<div><h4>receipts and records</h4>{self.ids(item)}</div>"
                  f"<div><h4>field diff</h4>{self.field_diff(field_diff(item))}</div></div></td></tr></tbody>")

    def intended_action(self, item: dict[str, Any]) -> str:
        intended = item["intended"]
        if item["subject_kind"] == "run":
            return (f"complete run of <code>{self.e(intended.get('workflow'))}</code> "
                    f"({self.e(intended.get('required_intents'))} required steps)")
        if item["subject_kind"] == "effect":
            return "<span class='null'>none: no intent claims this object</span>"
        action = intended.get("action") or item["parameters"].get("intended_action")
        out = f"<code>{self.e(action)}</code>"
        if intended.get("step"):
            out += f"<br><span class='note'>step {self.e(intended['step'])}</span>"
        expected = self.mask.json(intended.get("expected"))
        if isinstance(expected, dict) and expected:
            out += "<br>" + self.key_values(expected)
        if intended.get("target_key"):
            out += f"<br><span class='note'>target {self.e(intended['target_key'])}</span>"
        return out

    def observed_state(self, item: dict[str, Any]) -> str:
        observed, recorded = item["observed"], item["recorded"]
        if item["subject_kind"] == "run":
            return (f"{self.e(observed.get('required_done'))} of {self.e(item['intended'].get('required_intents'))} "
                    f"required steps present<br><span class='note'>recorded status "
                    f"{self.e(recorded.get('status'))}</span>")
        state = item["parameters"].get("observed_state") or observed.get("state")
        out = f"<b>{self.e(state)}</b>"
        details = [f"{k} {observed[k]}" for k in ("raw_status", "last_actor", "merged_into") if observed.get(k)]
        if observed.get("external_id"):
            details.insert(0, f"{item['system'] or ''}:{observed['external_id']}")
        if recorded.get("outcome"):
            details.append(f"recorded {recorded['outcome']}")
        if details:
            out += "<br><span class='note'>" + "<br>".join(self.e(x) for x in details) + "</span>"
        return out

    def key_values(self, obj: dict[str, Any]) -> str:
        return "<span class='mono'>" + "<br>".join(
            f"{self.e(k)}={self.e(_show(v))}" for k, v in sorted(obj.items())) + "</span>"

    def ids(self, item: dict[str, Any]) -> str:
        grouped: dict[str, list[str]] = {}
        for k, v in record_ids(item):
            grouped.setdefault(k, []).append(v)
        return "<ul class='ids'>" + "".join(
            f"<li><span class='k'>{self.e(k)}</span> " + ", ".join(f"<code>{self.e(v)}</code>" for v in vs) + "</li>"
            for k, vs in grouped.items()
        ) + "</ul>"

    def field_diff(self, diff: list[dict[str, Any]]) -> str:
        if not diff:
            return "<span class='null'>no field differences</span>"
        rows = []
        for entry in diff:
            masked = self.mask.json(entry)
            rows.append("<tr>" + "".join(
                f"<td>{self.value(masked.get(k))}</td>" for k in ("field", "intended", "observed")) + "</tr>")
        return ('<table class="diff"><tr><th>field</th><th>intended</th><th>observed</th></tr>'
                + "".join(rows) + "</table>")

    def value(self, v: Any) -> str:
        return "<span class='null'>null</span>" if v is None else f"<code>{self.e(_show(v))}</code>"


def render(data: ReportData, mask: Masker) -> str:
    return _Page(data, mask).render()


# --- queue item fields (plain data, before masking) ---------------------------


def recommended_next_action(item: dict[str, Any]) -> str:
    return item["parameters"].get("recommended_next_action") or item["explanation"] or ""


def field_diff(item: dict[str, Any]) -> list[dict[str, Any]]:
    diff = item["parameters"].get("field_diff") or item["observed"].get("field_diff") or []
    return diff if isinstance(diff, list) else []


def record_ids(item: dict[str, Any]) -> list[tuple[str, str]]:
    """Ids of the receipts, events, objects and snapshots behind a queue item, without repeats."""
    pairs: list[tuple[str, str]] = [("finding", item["finding_id"]), ("action", item["action_id"])]
    if item["run_id"] and item["subject_kind"] != "run":
        pairs.append(("run", item["run_id"]))
    if item["target_external_id"] and item["target_system"] != "runtime":
        pairs.append(("target", f"{item['target_system']}:{item['target_external_id']}"))
    if item["idempotency_key"]:
        pairs.append(("idempotency key", item["idempotency_key"]))
    pairs += _flatten_ids(item["evidence"])
    seen: set[tuple[str, str]] = set()
    return [p for p in pairs if not (p in seen or seen.add(p))]


def _flatten_ids(evidence: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(evidence, dict):
        if "source_file" in evidence:
            rest = {k: v for k, v in evidence.items() if k not in ("source_file", "source_record")}
            record = f"{evidence['source_file']}#{evidence.get('source_record')}"
            return [("record", record), *_flatten_ids(rest, key)]
        if "intent_id" in evidence and "mismatch_type" in evidence:
            return [("intent", f"{evidence['intent_id']} ({evidence['mismatch_type']})")]
        return [p for k, v in evidence.items() for p in _flatten_ids(v, k)]
    if isinstance(evidence, list):
        return [p for v in evidence for p in _flatten_ids(v, key)]
    if evidence is None or evidence == "":
        return []
    return [(key.replace("_", " "), str(evidence))]


def _show(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _ts(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else "—"


def _cls(level: str | None) -> str:
    return level if level in ("high", "medium", "low") else ""


# --- Dagster metadata ----------------------------------------------------------


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
