"""The HTML audit report: masking by default, no network resources, history charts, the operator
queue (its top items over a queue longer than the page shows), the Dagster asset, and a headless
Chromium render (no errors, no requests, charts drawn, the queue's filters, search and sort)."""

from __future__ import annotations

import dataclasses
import html
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets import build_assets
from pipelines.resources import ReckonWorkspace
from pipelines.runner import run_audit
from reckon import database
from reckon.workspace import Workspace
from reports.html import collect, publish_report, render, write_report
from reports.html.charts import charts
from reports.html.data import QUEUE_LIMIT, analyst_queue_sql
from reports.masking import EMAIL, Masker, mask_email, mask_text, mask_value, name_words
from simulator.timeline import advance
from tests.conftest import simulate_and_audit
from tests.test_lifecycle import timeline  # noqa: F401 - the three-audit workspace fixture

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def demo(audited):
    """A simulated workspace (emails and names in its CRM and email exports) and its two reports."""
    a = audited(7)
    masked, unmasked = write_report(a.ws), write_report(a.ws, unmask=True)
    assert unmasked.name == masked.name.replace(".html", "-unmasked.html")
    return a, masked, masked.read_text(encoding="utf-8"), unmasked.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A workspace whose operator queue is longer than the page shows, audited on two days (so
    its findings were first seen at two times), and its report."""
    root = tmp_path_factory.mktemp("big") / "ws"
    a = simulate_and_audit(root, 2000, 11)
    advance(root, 2, 11)
    a = dataclasses.replace(a, audit=run_audit(a.ws))
    path = write_report(a.ws)
    return a, path, path.read_text(encoding="utf-8")


# The queue computed here, apart from reports/html/data.py: current tables, own ordering.
QUEUE_SQL = """
SELECT f.finding_id, a.action_id, f.first_seen_at, f.mismatch_type, coalesce(f.workflow, '(no run)') AS workflow,
       coalesce(f.system, '(none)') AS system, a.pattern, if(a.requires_approval, 'yes', 'no') AS approval
FROM repair_actions a JOIN findings f USING (finding_id)
WHERE f.status = 'open' AND (a.pattern = 'human_adjudication' OR a.requires_approval)
ORDER BY list_position(['high', 'medium', 'low'], f.severity), list_position(['high', 'medium', 'low'], a.duplicate_risk),
         f.first_seen_at, f.mismatch_type, f.subject_id, a.action_id"""


def personal_data(a) -> tuple[set[str], set[str]]:
    rows = a.query("SELECT fields FROM observed UNION ALL SELECT expected FROM intended WHERE expected IS NOT NULL")
    emails = {e for (text,) in rows for e in EMAIL.findall(text)}
    names = {n for (n,) in a.query(
        "SELECT DISTINCT fields ->> k FROM observed, unnest(['firstname', 'lastname']) t(k) "
        "WHERE fields ->> k IS NOT NULL")}
    return emails, names


def queue_section(text: str) -> str:
    return text[text.index('<section id="queue">'):]


# --- masking ------------------------------------------------------------------


def test_emails_are_masked_distinguishably_and_idempotently():
    a, b = mask_email("priya.young.48@example.com"), mask_email("peter.yu@example.com")
    assert re.fullmatch(r"p\*\*\*@e\*\*\*\.com#[0-9a-f]{4}", a)
    assert a != b
    assert mask_text(f"sent to {a}") == f"sent to {a}"
    assert mask_text("to Priya.Young@Example.co.uk, cc x@y.org.") == (
        f"to {mask_email('Priya.Young@Example.co.uk')}, cc {mask_email('x@y.org')}.")


def test_known_names_are_masked_in_free_text():
    names = name_words(["Goran", "van Dubois", None])
    assert names == {"Goran", "van", "Dubois"}
    assert mask_text("Onboarding: Goran Dubois (Goranson)", names) == "Onboarding: G*** D*** (Goranson)"
    assert Masker(names=names).json({"subject": "Hi Goran"}) == {"subject": "Hi G***"}
    assert Masker(unmask=True, names=names).text("Hi Goran") == "Hi Goran"


def test_json_is_masked_recursively_by_key_and_pattern():
    doc = {"firstname": "Priya", "lastname": "van Young", "name": "Priya Young", "jobtitle": "CTO",
           "phone": "+1 555 0100 42", "amount": 1000,
           "contacts": [{"email": "a.b@example.com", "first_name": "Ann"}],
           "note": "call a.b@example.com",
           "field_diff": [{"field": "firstname", "intended": "Priya", "observed": "Pria"},
                          {"field": "jobtitle", "intended": "CTO", "observed": "VP"}]}
    masked = mask_value(None, doc)
    assert masked["firstname"] == "P***" and masked["lastname"] == "v*** Y***" and masked["name"] == "P*** Y***"
    assert masked["jobtitle"] == "CTO" and masked["amount"] == 1000 and masked["phone"] == "***42"
    assert masked["contacts"] == [{"email": mask_email("a.b@example.com"), "first_name": "A***"}]
    assert masked["note"] == "call " + mask_email("a.b@example.com")
    assert masked["field_diff"][0] == {"field": "firstname", "intended": "P***", "observed": "P***"}
    assert masked["field_diff"][1] == {"field": "jobtitle", "intended": "CTO", "observed": "VP"}
    assert Masker(unmask=True).json(doc) == doc
    assert Masker().json(doc) == masked


def test_masking_is_on_by_default(demo):
    a, _, masked_html, unmasked_html = demo
    emails, names = personal_data(a)
    assert emails and names
    assert not [e for e in emails if e in masked_html]
    shown = [e for e in emails if e in unmasked_html]
    assert shown, "the unmasked report should show the emails the queue refers to"
    assert "UNMASKED" in unmasked_html and "UNMASKED" not in masked_html
    # Names, under name keys or in free text (a ticket subject), are initials unless unmasked.
    masked_q, unmasked_q = queue_section(masked_html), queue_section(unmasked_html)
    masked_names = re.findall(r"(?:firstname|lastname)=([^<]*)", masked_q)
    assert masked_names and all(re.fullmatch(r"\w\*\*\*", v) for v in masked_names)
    assert {v for v in re.findall(r"(?:firstname|lastname)=([^<]*)", unmasked_q)} & names
    in_subjects = re.findall(r"subject=Onboarding: ([^<]*)", unmasked_q)
    assert in_subjects and set(" ".join(in_subjects).split()) <= names
    assert not [n for n in names if re.search(rf"\b{re.escape(n)}\b", masked_q)]


# --- self-contained -------------------------------------------------------------


class Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "data", "poster", "srcset", "action")]


def test_report_references_no_network_resource(demo):
    _, path, text, _ = demo
    parser = Resources()
    parser.feed(text)
    assert "link" not in parser.tags and "iframe" not in parser.tags
    assert not [r for r in parser.refs if re.match(r"\s*(https?:)?//", r)]
    style = text[text.index("<style>"):text.index("</style>")]
    assert "url(" not in style and "@import" not in style
    # The charts are inline SVG and the one script is inline: nothing to fetch, nothing large.
    assert parser.tags.count("svg") == 3 and parser.tags.count("script") == 1
    assert "<script src" not in text and "plotly" not in text.lower()
    assert path.name == f"report-{demo[0].audit['audit_id']}.html"
    assert not list(path.parent.glob(".*tmp"))


def test_same_audit_renders_to_the_same_bytes(demo):
    a, _, text, _ = demo
    assert write_report(a.ws).read_text(encoding="utf-8") == text


def test_values_are_escaped(demo):
    a = demo[0]
    with database.connect(a.ws, read_only=True) as con:
        data = collect(con)
    item = data.queue[0]
    hostile = {**item, "explanation": "<b>x</b>",
               "parameters": {**item["parameters"], "recommended_next_action": "<img src=x onerror=alert(1)>",
                              "field_diff": [{"field": "note", "intended": "<script>alert(1)</script>",
                                              "observed": None}]}}
    text = render(dataclasses.replace(data, queue=[hostile]), Masker())
    q = queue_section(text)
    assert "<script>alert" not in q and "<img src=x" not in q
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in q and "&lt;img src=x onerror=alert(1)&gt;" in q


def test_chart_labels_from_data_cannot_carry_links(demo):
    # A workflow or type name from the data reaches the charts' SVG (labels, hover titles) escaped.
    a = demo[0]
    with database.connect(a.ws, read_only=True) as con:
        data = collect(con)
    link = '<a href="https://evil.example">click</a>'
    hostile = dataclasses.replace(data, type_by_workflow=[(link, link, 3), (link, None, 1)],
                                  by_type_over_time=[(data.audit_labels[-1], link, 3)])
    svgs = {c.div_id: c.svg for c in charts(hostile, Masker())}
    for div in ("chart-type-by-workflow", "chart-findings-by-type"):
        assert "<a" not in svgs[div] and "&lt;a href=" in svgs[div]


# --- content --------------------------------------------------------------------


def test_operator_queue_is_sorted_and_complete(demo):
    a = demo[0]
    with database.connect(a.ws, read_only=True) as con:
        data = collect(con)
    (expected,) = a.query("SELECT count(*) FROM repair_actions a JOIN findings f USING (finding_id) "
                          "WHERE f.status = 'open' AND (a.pattern = 'human_adjudication' OR a.requires_approval)")[0]
    assert len(data.queue) == data.queue_total == expected > 0
    rank = {"high": 0, "medium": 1, "low": 2}
    keys = [(rank[i["severity"]], rank[i["duplicate_risk"]], i["first_seen_at"]) for i in data.queue]
    assert keys == sorted(keys)
    text = queue_section(demo[1].read_text(encoding="utf-8"))
    assert text.count("<tr data-finding=") == expected
    assert f">Showing all {expected:,}<" in text
    drift = next(i for i in data.queue if i["mismatch_type"] == "out_of_band_change")
    row = text[text.index(f'data-finding="{drift["finding_id"]}"'):]
    row = row[:row.index("</tbody>")]
    for entry in drift["observed"]["field_diff"]:
        assert f"<td><code>{entry['field']}</code></td><td><code>{entry['intended']}</code></td>" in row
    assert drift["action_id"] in row and drift["evidence"]["receipt_event_id"] in row
    assert drift["parameters"]["recommended_next_action"] in row


def test_page_shows_the_top_of_a_long_queue_and_counts_the_whole(big):
    a, path, text = big
    queue = a.query(QUEUE_SQL)
    assert len(queue) > QUEUE_LIMIT
    with database.connect(a.ws, read_only=True) as con:
        data = collect(con)
        # The SQL the page gives analysts is the whole queue, in the page's order.
        analyst = [(f, x) for *_, f, x in con.execute(analyst_queue_sql(data.audit_id)).fetchall()]
    top = [(f, x) for f, x, *_ in queue[:QUEUE_LIMIT]]
    assert len({seen for _, _, seen, *_ in queue}) == 2  # the oldest first matters
    assert data.queue_total == len(queue) == len(analyst)
    assert [(i["finding_id"], i["action_id"]) for i in data.queue] == top == analyst[:QUEUE_LIMIT]
    # Each filter value of the shown items, with its count over the whole queue.
    for n, key in enumerate(("type", "workflow", "system", "pattern", "approval"), start=3):
        shown = {row[n] for row in queue[:QUEUE_LIMIT]}
        whole = {v: sum(1 for row in queue if row[n] == v) for v in shown}
        assert data.facet_totals[key] == whole, key
    # The page: the same items in the same order, its scope stated, the whole queue linked.
    q = queue_section(text)
    assert re.findall(r'<tr data-finding="([^"]+)"', q) == [f for f, _ in top]
    assert f"Showing the top {QUEUE_LIMIT:,} of {len(queue):,}" in q
    for name in (f"operator-queue-{data.audit_id}.csv", f"repair-plan-{data.audit_id}.parquet"):
        assert f'href="{name}"' in q and (path.parent / name).exists()
    assert len(text.encode()) < 3_000_000


def test_history_report_charts_every_audit(timeline):  # noqa: F811
    ws = Workspace.open(timeline.root)
    day2 = publish_report(ws, timeline.day2["audit_id"]).data
    head = {m.key: m.value for m in day2.headline}
    resolved = timeline.query("SELECT count(*) FROM lifecycle_events WHERE audit_id = ? AND status = 'resolved'",
                              [timeline.day2["audit_id"]])[0][0]
    assert head["findings_resolved"] == resolved >= 4
    assert head["time_to_reconcile_mean_seconds"] == 86400
    assert len(day2.audit_labels) == 2  # the report of an older audit does not show later ones

    latest = publish_report(ws).data
    assert latest.audit_id == timeline.day3["audit_id"] and len(latest.audit_labels) == 3
    assert [mean for _, mean, _, _ in latest.ttr_over_time][:2] == [None, 86400]
    head = {m.key: m.value for m in latest.headline}
    regressed = timeline.query("SELECT subject_id FROM lifecycle_events WHERE audit_id = ? AND status = 'regressed'",
                               [timeline.day3["audit_id"]])
    assert {"int_a", "int_c"} <= {s for (s,) in regressed}  # A retried, C's decision lapsed
    assert head["findings_regressed"] == len(regressed)
    assert head["findings_open"] == sum(n for label, _, n in latest.by_type_over_time if label == latest.audit_labels[-1])


def test_dagster_asset_writes_the_report_and_headline_metadata(demo):
    a = demo[0]
    (audit_report,) = [x for x in build_assets(a.ws.config) if dg.AssetKey("audit_report") in x.keys]
    result = dg.materialize([audit_report], resources={"workspace": ReckonWorkspace(root=str(a.ws.root))})
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert Path(meta["path"].value) == demo[1]
    assert "| Open findings |" in meta["headline"].value
    assert meta["findings_open"].value > 0 and meta["operator_tasks"].value > 0
    assert "time_to_reconcile_mean_seconds" not in meta  # single audit: nothing reconciled, no NaN points


# --- the browser ------------------------------------------------------------------


def test_report_renders_in_headless_chromium(big, tmp_path):
    """The largest page the report writes (QUEUE_LIMIT items) loads fast, draws its charts, and
    its queue filters, searches and sorts in the page."""
    a, path, _ = big
    chromium = shutil.which("chromium")
    if chromium is None and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run/Makefile installs it)")
    assert chromium, "CI installs chromium (make browser): the report must be rendered there"
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with database.connect(a.ws, read_only=True) as con:
        data = collect(con)
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:"))
                    else requests.append(r.url))
            page.route(re.compile(r"^(https?|wss?|ftp):"), lambda route: route.abort())
            started = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function("document.getElementById('queue-count').textContent.includes(' of ')")
            assert time.perf_counter() - started < 5
            expected = int(page.get_attribute("#charts", "data-charts"))
            plots = page.locator("[data-chart] svg.chart-svg")
            assert plots.count() == expected == page.locator("[data-chart]").count() == 3
            for i in range(expected):
                assert plots.nth(i).locator("rect, circle, text").count() > 3
                assert plots.nth(i).bounding_box()["height"] > 100
            rows = page.locator("#queue tbody.item:not([hidden]) tr[data-finding]")
            assert rows.count() == len(data.queue) == QUEUE_LIMIT

            def shown() -> list[str]:
                return rows.evaluate_all("rs => rs.map(r => r.dataset.finding)")

            # A filter: only the shown items of that type, in their order.
            kind = data.queue[-1]["mismatch_type"]
            page.select_option("select[data-facet=type]", kind)
            assert shown() == [i["finding_id"] for i in data.queue if i["mismatch_type"] == kind]
            pattern = data.queue[-1]["pattern"]
            page.select_option("select[data-facet=pattern]", pattern)
            assert shown() == [i["finding_id"] for i in data.queue
                               if i["mismatch_type"] == kind and i["pattern"] == pattern]
            page.select_option("select[data-facet=pattern]", "")
            page.select_option("select[data-facet=type]", "")
            # A search: the text of one item.
            target = data.queue[len(data.queue) // 2]
            page.fill("#queue-search", target["action_id"])
            assert shown() == [target["finding_id"]]
            assert page.text_content("#queue-count") == f"1 of {QUEUE_LIMIT} items"
            page.fill("#queue-search", "")
            # A sort: duplicate risk, lowest first on the second click; ties keep the queue's order.
            page.click("button[data-sort=risk]")
            page.click("button[data-sort=risk]")
            level = {"high": 0, "medium": 1, "low": 2}
            by_risk = sorted(range(len(data.queue)), key=lambda n: (-level[data.queue[n]["duplicate_risk"]], n))
            assert shown() == [data.queue[n]["finding_id"] for n in by_risk]
            shot = tmp_path / "charts.png"  # the charts (a full-page shot of 500 items takes ~20 s)
            page.locator("#charts").screenshot(path=str(shot))
        finally:
            browser.close()
    assert errors == []
    assert requests == []
    assert shot.exists() and shot.stat().st_size > 50_000


def test_the_report_lists_its_audits_prevention_backlog(timeline):  # noqa: F811
    ws = Workspace.open(timeline.root)
    for day in (timeline.day2, timeline.day3):
        report = publish_report(ws, day["audit_id"])
        rows = timeline.query("SELECT workflow, mismatch_type, prevention, findings, consecutive_audits, "
                              "cleanup_minutes FROM prevention_backlog WHERE audit_id = ?", [day["audit_id"]])
        # the backlog's ranking (docs/report.md), in Python: most findings, longest streak, most cleanup
        top = sorted(rows, key=lambda r: (-r[3], -r[4], -r[5], r[0], r[1], r[2]))
        assert report.data.prevention == top[:10] and top
        page = report.path.read_text(encoding="utf-8")
        assert html.escape(top[0][2]) in page and "<th>consecutive audits</th>" in page
