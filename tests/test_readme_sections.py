"""The README's "Mismatch types" and "Instrumenting an agent" sections stay true to the
rules, the event-log schema and the connectors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from connectors import CONNECTORS
from reckon.database import PUBLIC_TABLES
from rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EVENT_TYPES = json.loads((ROOT / "docs" / "event-log.schema.json").read_text(encoding="utf-8"))[
    "properties"]["type"]["enum"]


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> dict[str, str]:
    """First cell (its `code`) -> the row, for every Markdown table row of `text`."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_.]+)` \|.*$", text, re.M)}


def test_every_mismatch_type_has_its_line_with_its_subject_kind_and_repair():
    rows = table_rows(section("Mismatch types"))
    rules = {r.mismatch_type: r.catalog_row() for r in load_rules()}
    assert set(rows) == set(rules)
    for name, rule in rules.items():
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert cells[1] == rule["subject_kind"], name
        for pattern in filter(None, (rule["repair"], rule["repair_otherwise"])):
            assert f"`{pattern}`" in cells[3], (name, pattern)


def test_the_mismatch_types_are_listed_in_precedence_order_per_subject_kind():
    order = list(table_rows(section("Mismatch types")))
    for kind in ("intent", "run", "effect"):
        rules = sorted((r for r in load_rules() if r.subject_kind == kind), key=lambda r: r.precedence)
        assert [t for t in order if t in {r.mismatch_type for r in rules}] == [r.mismatch_type for r in rules]


def test_instrumenting_names_every_event_type_and_where_each_connector_reads_the_marker():
    text = section("Instrumenting an agent")
    assert {t for t in EVENT_TYPES if f"`{t}`" not in text} == set()
    observed = {name for name, reader in CONNECTORS.items() if reader.layer == "observed"}
    vendors = {"stripe": "Stripe", "sendgrid": "SendGrid", "hubspot": "HubSpot", "zendesk": "Zendesk",
               "postmark": "Postmark", "s3_inventory": "Amazon S3", "generic": "a `generic` source"}
    assert observed == set(vendors)
    for connector, label in vendors.items():
        assert re.search(rf"^\| {re.escape(label)} \|", text, re.M), connector


def test_outputs_names_every_public_table_and_view():
    text = section("Outputs")
    assert {t for t in PUBLIC_TABLES if f"`{t}`" not in text and not t.endswith("_new")} == set()
