"""A self-contained HTML report of one audit: `exports/report-<audit_id>.html`.

data.py reads what it shows, charts.py draws its figures, page.py fills page.html,
style.css and queue.js.

Everything is read from the workspace's DuckDB file (read-only) and rendered with the
standard library. The page is bounded whatever the audit's size: DuckDB aggregates the
charts' numbers and picks the operator queue's top QUEUE_LIMIT items. The charts are
inline SVG and the queue's filters a small inline script, so the file opens from disk with
no network request (no CDN, no web fonts, no external CSS or JS).
Personal data is masked unless the caller passes `unmask=True` (see reports/masking.py).
The same audit always renders to the same bytes: chart ids are fixed and the only times
shown are export times, never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reckon import atomic, database
from reckon.workspace import Workspace
from reports.html.data import ReportData, collect, headline_markdown, trend_markdown
from reports.html.page import render
from reports.masking import Masker

__all__ = ["Report", "ReportData", "collect", "headline_markdown", "publish_report", "render", "trend_markdown",
           "write_report"]


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
    # The analyst copy: a report never waits on an audit, nor makes one fail on its lock.
    with database.connect_read_copy(ws) as con:
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
