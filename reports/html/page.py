"""The report's HTML: page.html with its style.css, filled from one audit's data; every value
passes through the masker and html.escape."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any

from reports.html.charts import charts
from reports.html.data import FACETS, HISTORY_AUDITS, Metric, ReportData, analyst_queue_sql
from reports.masking import Masker

HERE = Path(__file__).resolve().parent
PAGE = Template((HERE / "page.html").read_text(encoding="utf-8"))
STYLE = (HERE / "style.css").read_text(encoding="utf-8")
SCRIPT = (HERE / "queue.js").read_text(encoding="utf-8")
QUEUE_COLS = "".join(f'<col style="width:{w}%">' for w in (3, 7, 7, 19, 22, 19, 23))
# The queue's column heads: (label, data-* attribute its button sorts the shown items by, if any).
QUEUE_HEAD = ((("#", "rank"),), (("severity", "severity"),), (("duplicate risk", "risk"),),
              (("mismatch", "type"), ("· subject · first seen", "seen")), (("intended action", ""),),
              (("observed state", ""),), (("recommended next action", ""),))
LEVELS = {"high": 0, "medium": 1, "low": 2}


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
        chart_sections = "\n".join(
            f'<div class="chart" data-chart="{c.div_id}"><h3>{html.escape(c.title)}</h3>{c.svg}</div>' for c in figures)
        return PAGE.substitute(
            style=STYLE, audit_id=self.e(d.audit_id), as_of=self.e(_ts(d.as_of)), runs=self.e(d.audit["runs"]),
            intents=self.e(d.audit["intents"]), observed_objects=self.e(d.audit["observed_objects"]),
            findings=self.e(d.audit["findings"]), repair_actions=self.e(d.audit["repair_actions"]),
            masking_banner=self.masking_banner(), cards="".join(self.card(m) for m in d.headline),
            resolved_by=self.small_table("Resolved this audit, by how", ["resolution", "findings"], d.resolved_by),
            quarantined_by_source=self.small_table("Quarantined records, by source", ["source", "records"],
                                                   d.quarantined_by_source),
            prevention=self.small_table("Prevention backlog: what stops the most recurring mismatches",
                                        ["workflow", "mismatch type", "prevention", "findings so far",
                                         "consecutive audits", "cleanup min"],
                                        d.prevention),
            chart_count=len(figures), history_audits=HISTORY_AUDITS, charts=chart_sections,
            queue_total=f"{d.queue_total:,}", queue=self.queue(),
            queue_scope=(f"Showing all {d.queue_total:,}" if len(d.queue) == d.queue_total else
                         f"Showing the top {len(d.queue):,} of {d.queue_total:,}"),
            analyst_sql=html.escape(analyst_queue_sql(d.audit_id)), script=SCRIPT,
        )

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
        head = "".join("<th>" + " ".join(f'<button type="button" data-sort="{key}">{h}</button>' if key else h
                                         for h, key in column) + "</th>" for column in QUEUE_HEAD)
        items = "\n".join(self.queue_item(i, item) for i, item in enumerate(self.data.queue, 1))
        return (f"{self.filters()}\n"
                f'<table class="queue"><colgroup>{QUEUE_COLS}</colgroup><thead><tr>{head}</tr></thead>\n'
                f"{items}\n</table>")

    def filters(self) -> str:
        """A select per facet (its values among the shown items, with their counts there and in
        the whole queue), a search box and the count of the items that pass."""
        shown: dict[str, dict[str, int]] = {key: {} for key, _, _ in FACETS}
        for item in self.data.queue:
            for key, value in item["facets"].items():
                shown[key][value] = shown[key].get(value, 0) + 1
        selects = []
        for key, name, _ in FACETS:
            totals = self.data.facet_totals.get(key, {})
            options = "".join(
                f'<option value="{self.e(v)}">{self.e(v)} ({n:,} shown, {totals.get(v, n):,} in queue)</option>'
                for v, n in sorted(shown[key].items()))
            selects.append(f'<label>{name} <select data-facet="{key}"><option value="">all</option>{options}'
                           "</select></label>")
        return ('<div class="filters">' + "".join(selects)
                + '<label>search <input type="search" id="queue-search" placeholder="any text in an item"></label>'
                + f'<span id="queue-count" class="note">{len(self.data.queue):,} items</span></div>')

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
        facets = "".join(f' data-{key}="{self.e(v)}"' for key, v in item["facets"].items())
        sort_keys = (f' data-rank="{n}" data-severity="{LEVELS.get(sev, 3)}" data-risk="{LEVELS.get(risk, 3)}"'
                     f' data-seen="{_iso(item["first_seen_at"])}"')
        return (f'<tbody class="item"{facets}{sort_keys}><tr data-finding="{self.e(item["finding_id"])}">'
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


def _iso(t: datetime | None) -> str:
    """A sortable time; none sorts last."""
    return t.isoformat() if t else "~"


def _cls(level: str | None) -> str:
    return level if level in ("high", "medium", "low") else ""


# --- Dagster metadata ----------------------------------------------------------


