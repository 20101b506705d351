"""The report's charts: Plotly figures of findings and time to reconcile over the audits,
and of findings by type and workflow; plotly.js is inlined once, with the first."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative

from reports.html.data import ReportData
from reports.masking import Masker
from rules import load_rules

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def label(mask: Masker, value: str) -> str:
    """A label from data, as a chart shows it: masked, and escaped, since Plotly renders
    tags such as <a href> in its labels."""
    return html.escape(mask.text(value))


def charts(data: ReportData, mask: Masker) -> list[tuple[str, str, go.Figure]]:
    """(div id, title, figure) for each chart, in page order."""
    layout = {"template": "plotly_white", "font": {"family": FONT, "size": 12}, "height": 340,
              "margin": {"l": 60, "r": 20, "t": 20, "b": 60}, "legend": {"orientation": "h", "y": -0.2}}

    by_type = go.Figure(layout=layout)
    colors = type_colors({t for _, t, _ in data.by_type_over_time})
    for kind, color in colors.items():
        counts = {label: n for label, t, n in data.by_type_over_time if t == kind}
        by_type.add_bar(name=label(mask, kind), x=data.audit_labels, y=[counts.get(x, 0) for x in data.audit_labels],
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
    heat.add_heatmap(z=z, x=[label(mask, w) for w in workflows], y=[label(mask, t) for t in types],
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


