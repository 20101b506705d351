"""The report's charts, drawn here as inline SVG from the aggregates data.py reads: findings
by mismatch type over the audits (stacked bars), time to reconcile (lines) and findings by
type and workflow (a heatmap).

Plain SVG rather than Plotly: plotly.js (4.8 MB, the only build the plotly package ships)
was most of the page, for three simple charts. SVG needs no script, prints as vectors, and
its size follows the bounded aggregates: at most HISTORY_AUDITS audits x the rules' types,
and HEATMAP_WORKFLOWS + 1 columns. Every bar, point and cell carries a <title>, which the
browser shows on hover. Labels from data are masked and escaped.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from reports.html.data import ReportData
from reports.masking import Masker
from rules import load_rules

WIDTH = 1200  # the viewBox width; the SVG scales to the page's width
CHAR = 6.4  # about how wide one character of the 11px label font is, in viewBox units
# Plotly's Dark24 palette and Oranges scale, so the colours are those of earlier reports.
PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
           "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
           "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038")
ORANGES = ((255, 245, 235), (254, 230, 206), (253, 208, 162), (253, 174, 107), (253, 141, 60), (241, 105, 19),
           (217, 72, 1), (166, 54, 3), (127, 39, 4))
OTHER_WORKFLOWS = "(other workflows)"


@dataclass(frozen=True)
class Chart:
    div_id: str
    title: str
    svg: str


def label(mask: Masker, value: object, chars: int = 0) -> str:
    """A label from data as a chart shows it: masked, then cut to about `chars` characters
    (masked first, so a cut never leaves half an email or name unmasked), then escaped."""
    text = mask.text(value)
    if chars and len(text) > chars:
        text = text[: chars - 1] + "…"
    return html.escape(text)


def charts(data: ReportData, mask: Masker) -> list[Chart]:
    """Each chart, in page order."""
    return [
        Chart("chart-findings-by-type", "Open findings by mismatch type, per audit", findings_by_type(data, mask)),
        Chart("chart-time-to-reconcile", "Time to reconcile, per audit", time_to_reconcile(data)),
        Chart("chart-type-by-workflow", "Open findings by type and workflow, this audit", type_by_workflow(data, mask)),
    ]


def type_colors(present: set[str]) -> dict[str, str]:
    """A fixed colour per mismatch type (rule order), so a type looks the same in every report."""
    order = [r.mismatch_type for r in load_rules()]
    order += sorted(present - set(order))
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(order) if t in present}


# --- drawing ------------------------------------------------------------------------------


class Svg:
    """An SVG document built from escaped parts; `tip` becomes a hover <title>."""

    def __init__(self, height: float, name: str) -> None:
        self.height = height
        self.name = name
        self.parts: list[str] = []

    def add(self, element: str, tip: str = "", **attrs: object) -> None:
        """An element; attribute values are numbers or this module's constants, never data."""
        text = _attrs(attrs)
        self.parts.append(f"<{element}{text}><title>{tip}</title></{element}>" if tip else f"<{element}{text}/>")

    def text(self, x: float, y: float, escaped: str, anchor: str = "middle", rotate: float = 0, **attrs: object) -> None:
        turn = {"transform": f"rotate({_num(rotate)} {_num(x)} {_num(y)})"} if rotate else {}
        self.parts.append(f"<text{_attrs({'x': x, 'y': y, 'text_anchor': anchor, **turn, **attrs})}>{escaped}</text>")

    def render(self) -> str:
        return (f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {_num(self.height)}" role="img" '
                f'aria-label="{html.escape(self.name)}" preserveAspectRatio="xMinYMin meet">'
                + "".join(self.parts) + "</svg>")


def _attrs(attrs: dict[str, object]) -> str:
    # class_ -> class, stroke_width -> stroke-width
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{_num(v)}"' for k, v in attrs.items())


def _num(v: object) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _tick(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"


@dataclass(frozen=True)
class Frame:
    """A plot area over category slots (the audits): x of a slot's centre, y of a value."""

    left: float
    top: float
    right: float
    bottom: float
    slots: int
    ticks: list[float]

    def x(self, i: int) -> float:
        return self.left + (i + 0.5) * self.slot

    @property
    def slot(self) -> float:
        return (self.right - self.left) / max(1, self.slots)

    def y(self, v: float) -> float:
        return self.bottom - (self.bottom - self.top) * v / self.ticks[-1]


def _axes(svg: Svg, frame: Frame, x_labels: list[str], x_title: str, y_title: str) -> None:
    """Grid lines, y ticks, slot labels (rotated when crowded) and the axis titles."""
    for t in frame.ticks:
        y = frame.y(t)
        svg.add("line", x1=frame.left, x2=frame.right, y1=y, y2=y, class_="grid")
        svg.text(frame.left - 6, y + 4, _tick(t), anchor="end")
    svg.add("line", x1=frame.left, x2=frame.right, y1=frame.bottom, y2=frame.bottom, class_="axis")
    crowded = frame.slot < 100
    for i, text in enumerate(x_labels):
        if crowded:
            svg.text(frame.x(i) + 4, frame.bottom + 10, text, anchor="end", rotate=-40)
        else:
            svg.text(frame.x(i), frame.bottom + 16, text)
    svg.text((frame.left + frame.right) / 2, svg.height - 6, x_title, class_="title")
    middle = (frame.top + frame.bottom) / 2
    svg.text(16, middle, y_title, rotate=-90, class_="title")


def _frame_bottom(height: float, slots: int, left: float, right: float) -> float:
    crowded = (right - left) / max(1, slots) < 100
    return height - (115 if crowded else 45)


def findings_by_type(data: ReportData, mask: Masker) -> str:
    """Stacked bars: open findings per audit, one colour per mismatch type, legend on the right."""
    colors = type_colors({t for _, t, _ in data.by_type_over_time})
    labels = data.audit_labels
    counts = {(x, t): n for x, t, n in data.by_type_over_time}
    totals = [sum(counts.get((x, t), 0) for t in colors) for x in labels]
    height = max(420, 40 + 18 * len(colors))
    left, right = 64, WIDTH - 230
    frame = Frame(left, 16, right, _frame_bottom(height, len(labels), left, right), len(labels),
                  nice_ticks(max(totals, default=0)))
    svg = Svg(height, "Open findings by mismatch type, per audit")
    _axes(svg, frame, [html.escape(x) for x in labels], "audit (as of, UTC)", "open findings")
    bar = min(60.0, frame.slot * 0.6)
    for i, x in enumerate(labels):
        base = 0
        for kind, color in colors.items():
            n = counts.get((x, kind), 0)
            if n:
                y0, y1 = frame.y(base), frame.y(base + n)
                svg.add("rect", tip=f"{html.escape(x)} · {label(mask, kind)}: {n:,}", x=frame.x(i) - bar / 2,
                        y=y1, width=bar, height=max(0.5, y0 - y1), fill=color)
                base += n
        if totals[i]:
            svg.text(frame.x(i), frame.y(totals[i]) - 4, f"{totals[i]:,}", class_="value")
    # The legend lists the types top-down in the stack's order, so it reads like the bars.
    for row, (kind, color) in enumerate(reversed(colors.items())):
        y = 24 + 18 * row
        svg.add("rect", x=right + 20, y=y - 9, width=11, height=11, fill=color)
        svg.text(right + 37, y, label(mask, kind, 28), anchor="start")
    if not colors:
        svg.text((left + right) / 2, height / 2, "No open findings.", class_="empty")
    return svg.render()


def time_to_reconcile(data: ReportData) -> str:
    """Mean (solid) and p90 (dashed) time to reconcile in hours, per audit; gaps where undefined."""
    labels = [x for x, *_ in data.ttr_over_time]
    series = [("mean", "#2E91E5", ""), ("p90", "#EB663B", "6 4")]
    hours = [[None if v is None else v / 3600 for v in (mean, p90)] for _, mean, p90, _ in data.ttr_over_time]
    height = 360
    left, right = 64, WIDTH - 120
    top = max((v for h in hours for v in h if v is not None), default=0)
    frame = Frame(left, 16, right, _frame_bottom(height, len(labels), left, right), len(labels), nice_ticks(top))
    svg = Svg(height, "Time to reconcile, per audit")
    _axes(svg, frame, [html.escape(x) for x in labels], "audit (as of, UTC)", "hours, first seen to resolved")
    for s, (name, color, dash) in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, h in enumerate(hours):
            if h[s] is None:
                runs.append([])
                continue
            runs[-1].append((frame.x(i), frame.y(h[s])))
            reconciled = data.ttr_over_time[i][3]
            tip = f"{html.escape(labels[i])} · {name} {h[s]:,.1f} h" + (
                f" over {reconciled:,} reconciled" if name == "mean" else "")
            svg.add("circle", tip=tip, cx=frame.x(i), cy=frame.y(h[s]), r=4, fill=color)
        for points in runs:
            if len(points) > 1:
                svg.add("polyline", points=" ".join(f"{_num(x)},{_num(y)}" for x, y in points), fill="none",
                        stroke=color, stroke_width=2, stroke_dasharray=dash or "none")
        svg.add("line", x1=right + 16, x2=right + 44, y1=24 + 18 * s, y2=24 + 18 * s, stroke=color, stroke_width=2,
                stroke_dasharray=dash or "none")
        svg.text(right + 50, 28 + 18 * s, name, anchor="start")
    if not any(v is not None for h in hours for v in h):
        svg.text((left + right) / 2, (frame.top + frame.bottom) / 2,
                 "Nothing reconciled yet: a finding resolves at the earliest one audit later.", class_="empty")
    return svg.render()


def _orange(share: float) -> str:
    """The Oranges scale at `share` (0..1), linearly between its nine colours."""
    pos = max(0.0, min(1.0, share)) * (len(ORANGES) - 1)
    i = min(int(pos), len(ORANGES) - 2)
    frac = pos - i
    r, g, b = (round(a + (c - a) * frac) for a, c in zip(ORANGES[i], ORANGES[i + 1], strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def type_by_workflow(data: ReportData, mask: Masker) -> str:
    """A heatmap of open findings, mismatch types down, workflows across (the busiest
    HEATMAP_WORKFLOWS, the rest folded into one column)."""
    types = sorted({t for t, _, _ in data.type_by_workflow})
    named = sorted({w for _, w, _ in data.type_by_workflow if w is not None})
    workflows: list[str | None] = [*named, *([None] if any(w is None for _, w, _ in data.type_by_workflow) else [])]
    cells = {(t, w): n for t, w, n in data.type_by_workflow}
    left, row_h = 180, 30
    col_w = min(120.0, (WIDTH - left - 20) / max(1, len(workflows)))
    crowded = col_w < 100
    head = 110 if crowded else 30
    height = max(120, head + row_h * len(types) + 20)
    svg = Svg(height, "Open findings by type and workflow, this audit")
    if not types:
        svg.text(WIDTH / 2, height / 2, "No open findings.", class_="empty")
        return svg.render()
    top = max(cells.values())
    names = [label(mask, OTHER_WORKFLOWS if w is None else w, 22) for w in workflows]
    for j, name in enumerate(names):
        x = left + (j + 0.5) * col_w
        if crowded:
            svg.text(x, head - 6, name, anchor="start", rotate=-40)
        else:
            svg.text(x, head - 8, name)
    for i, kind in enumerate(types):
        y = head + i * row_h
        svg.text(left - 8, y + row_h / 2 + 4, label(mask, kind, 26), anchor="end")
        for j, w in enumerate(workflows):
            n = cells.get((kind, w))
            if n is None:
                continue
            where = label(mask, OTHER_WORKFLOWS if w is None else w)
            svg.add("rect", tip=f"{label(mask, kind)} in {where}: {n:,}", x=left + j * col_w + 1, y=y + 1,
                    width=col_w - 2, height=row_h - 2, fill=_orange(n / top))
            svg.text(left + (j + 0.5) * col_w, y + row_h / 2 + 4, f"{n:,}",
                     class_="cell dark" if n / top > 0.55 else "cell")
    return svg.render()
