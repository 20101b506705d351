"""The demo workspace simulator: reproducible bytes, documented shapes, coherent labels."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from simulator import simulate
from simulator.runs import CONFIG_PATH
from simulator.scenarios import CLEAN
from tests import contract

RUNS, SEED = 80, 3


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory):
    """Two workspaces from the same seed (different parents) and one from another seed."""
    return [simulate(tmp_path_factory.mktemp(name) / "ws", RUNS, seed)
            for name, seed in (("a", SEED), ("b", SEED), ("c", SEED + 1))]  # fmt: skip


@pytest.fixture(scope="module")
def sim(sims):
    return sims[0]


def tree(result) -> dict[str, bytes]:
    """Every file of a simulation (workspace and labels beside it), by relative name."""
    files = {
        str(p.relative_to(result.workspace)): p.read_bytes()
        for p in result.workspace.rglob("*")
        if p.is_file()
    }
    files["<labels>"] = result.labels_path.read_bytes()
    files["<scenarios>"] = result.scenarios_path.read_bytes()
    return files


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def event_lines(workspace: Path) -> list[tuple[str, str]]:
    events = workspace / "landing" / "events"
    plain = (events / "log-0001.jsonl").read_text(encoding="utf-8").splitlines()
    zipped = gzip.decompress((events / "log-0002.jsonl.gz").read_bytes()).decode().splitlines()
    return [("log-0001.jsonl", line) for line in plain] + [
        ("log-0002.jsonl.gz", line) for line in zipped
    ]


def unique_events(workspace: Path) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for _, line in event_lines(workspace):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "run_id" in event:
            seen.setdefault(event["event_id"], event)
    return sorted(seen.values(), key=lambda e: e["ts"])


def schema() -> dict[str, Any]:
    """docs/event-log.schema.json: the contract's schema of one event-log line."""
    return contract.event_log_schema()


def schema_errors(event: Any, spec: dict[str, Any]) -> list[str]:
    """The required fields and if/then requirements of event-log.schema.json, by hand."""
    if not isinstance(event, dict):
        return ["not an object"]
    errors = [f"missing {k}" for k in spec["required"] if k not in event]
    for rule in spec.get("allOf", []):
        condition = rule["if"]["properties"]["type"]
        allowed = condition.get("enum", [condition.get("const")])
        if event.get("type") in allowed:
            errors += [
                f"{event['type']} missing {k}" for k in rule["then"]["required"] if k not in event
            ]
    types = spec.get("properties", {}).get("type", {}).get("enum")
    if types and event.get("type") not in types:
        errors.append(f"unknown type {event.get('type')}")
    for key in ("event_id", "run_id", "workflow"):
        if key in event and not (isinstance(event[key], str) and event[key]):
            errors.append(f"{key} is not a non-empty string")
    if "ts" in event and not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", str(event["ts"])
    ):
        errors.append("ts is not RFC 3339")
    if "attempt" in event and not (isinstance(event["attempt"], int) and event["attempt"] >= 1):
        errors.append("attempt is not an integer >= 1")
    return errors


# --- reproducibility ----------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(sims):
    first, second = tree(sims[0]), tree(sims[1])
    assert sorted(first) == sorted(second)
    assert {name for name, data in first.items() if data != second[name]} == set()
    assert sims[0].runs == sims[1].runs and sims[0].export_time == sims[1].export_time


def test_different_seeds_differ(sims):
    first, other = tree(sims[0]), tree(sims[2])
    differing = {name for name in first if name in other and first[name] != other[name]}
    assert {"<labels>", "<scenarios>", "landing/events/log-0001.jsonl",
            "landing/stripe/refunds-list.json"} <= differing  # fmt: skip


def test_file_mtimes_are_the_export_time(sim):
    stamp = sim.export_time.timestamp()
    assert sim.files and all(p.stat().st_mtime == stamp for p in sim.files)
    landing = [p for p in (sim.workspace / "landing").rglob("*") if p.is_file()]
    assert landing and all(p.stat().st_mtime == stamp for p in landing)
    assert sim.export_time.hour == 12 and 20 <= sim.export_time.day <= 29


def test_rerun_replaces_the_previous_files(tmp_path):
    big = simulate(tmp_path / "ws", 700, 1)
    assert len(list((tmp_path / "ws" / "landing" / "sendgrid").glob("batch-*.json"))) > 3
    assert len(list((tmp_path / "ws" / "landing" / "hubspot").glob("contacts-page-*.json"))) > 2
    small = simulate(tmp_path / "ws", 5, 1)
    on_disk = {p for p in (tmp_path / "ws").rglob("*") if p.is_file()}
    assert on_disk == {p for p in small.files if p.is_relative_to(tmp_path / "ws")}
    assert big.labels_path == small.labels_path == tmp_path / "ws.labels.jsonl"


# --- labels and allocation ----------------------------------------------------------------


def test_labels_cover_every_mismatch_type(sim):
    types = set(contract.mismatch_types())
    assert len(types) == 15 and not types & set(contract.repair_patterns())
    labels = jsonl(sim.labels_path)
    assert {label["mismatch_type"] for label in labels} == types
    assert all(set(label) == {"subject_kind", "subject_id", "mismatch_type", "scenario", "run_id"}
               for label in labels)  # fmt: skip


def test_allocation_for_eighty_runs(sim):
    runs = jsonl(sim.scenarios_path)
    assert len(runs) == RUNS == sim.run_count
    counts = Counter(r["scenario"] for r in runs)
    assert {f"F{i}" for i in range(1, 19)} | {f"C{i}" for i in range(1, 8)} <= set(counts)
    assert counts["F13"] >= 2 and sim.runs["F19"] == 1
    faulty = sum(not r["clean"] for r in runs)
    assert 0.3 * RUNS <= faulty <= 0.4 * RUNS
    assert all(r["clean"] == r["scenario"].startswith("C") for r in runs)
    assert min(counts[c] for c in ("C1", "C3", "C4")) > max(counts[c] for c in ("C5", "C6", "C7"))
    assert [r["scenario"] for r in runs] != sorted(r["scenario"] for r in runs)  # shuffled


@pytest.mark.parametrize("runs", [0, 1, 6, 20])
def test_small_workspaces_keep_distinct_scenarios(tmp_path, runs):
    result = simulate(tmp_path / "ws", runs, 11)
    scenarios = [r["scenario"] for r in jsonl(result.scenarios_path)]
    assert len(scenarios) == runs
    faults = [s for s in scenarios if s.startswith("F")]
    cleans = [s for s in scenarios if s.startswith("C")]
    assert len(set(faults)) == len(faults)
    assert len(set(cleans)) == min(len(cleans), len(CLEAN))
    assert ("F19" in result.runs) == bool(faults)


def test_labels_match_the_simulated_runs(sim):
    runs = {r["run_id"]: r for r in jsonl(sim.scenarios_path)}
    events = unique_events(sim.workspace)
    declared = {e["intent_id"]: e for e in events if e["type"] == "intent.declared"}
    labels = jsonl(sim.labels_path)
    labelled = Counter(label["run_id"] for label in labels)
    for run_id, run in runs.items():
        assert (labelled[run_id] == 0) == run["clean"], run
    for label in labels:
        if label["subject_kind"] == "run":
            assert label["subject_id"] == label["run_id"] and label["run_id"] in runs
        elif label["subject_kind"] == "intent":
            intent = label["subject_id"]
            if intent in declared:
                assert declared[intent]["run_id"] == label["run_id"]
            else:  # a required catalog step the run never declared
                assert intent == f"{label['run_id']}/resolve_ticket" and label["scenario"] == "F16"
        else:
            assert label["scenario"] == "F19" and label["run_id"] is None
        assert label["run_id"] is None or runs[label["run_id"]]["scenario"] == label["scenario"]


def test_fault_data_matches_its_labels(sim):
    """Spot checks that the exports show what the labels claim."""
    landing = sim.workspace / "landing"
    refunds = load(landing / "stripe" / "refunds-list.json")["data"]
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for refund in refunds:
        by_intent.setdefault(refund["metadata"].get("reckon_intent_id"), []).append(refund)
    events = unique_events(sim.workspace)
    declared = {e["intent_id"]: e for e in events if e["type"] == "intent.declared"}
    receipts = {e["intent_id"]: e["receipt"]["external_id"] for e in events if "receipt" in e}
    ids = {r["id"] for r in refunds}
    for label in jsonl(sim.labels_path):
        subject, kind = label["subject_id"], label["mismatch_type"]
        if kind == "duplicate_effect":
            assert [r["status"] for r in by_intent[subject]] == ["succeeded", "succeeded"]
        elif kind == "phantom_receipt":
            assert receipts[subject] not in ids and subject not in by_intent
        elif kind == "satisfied_out_of_band":
            charge = declared[subject]["expected"]["charge"]
            [human] = [r for r in refunds if r["charge"] == charge]
            assert human["metadata"] == {} and human["status"] == "succeeded"
        elif kind == "effect_failed" and declared[subject]["system"] == "stripe":
            [refund] = by_intent[subject]
            assert (refund["status"], refund["failure_reason"]) == ("failed", "insufficient_funds")
        elif kind == "unknown_outcome":
            assert [r["status"] for r in by_intent.get(subject, [])] in ([], ["pending"])
        elif kind == "orphan_effect" and subject.startswith("stripe:"):
            [refund] = [r for r in refunds if r["id"] == subject.removeprefix("stripe:")]
            assert refund["metadata"]["reckon_intent_id"] not in declared
    unknown = [
        label for label in jsonl(sim.labels_path) if label["mismatch_type"] == "unknown_outcome"
    ]
    assert {len(by_intent.get(label["subject_id"], [])) for label in unknown} == {0, 1}


# --- shapes -------------------------------------------------------------------------------


def test_event_lines_follow_the_schema_except_two_malformed(sim):
    spec = schema()
    bad, good = [], []
    for name, line in event_lines(sim.workspace):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad.append(f"{name}: malformed JSON")
            continue
        if errors := schema_errors(event, spec):
            bad.append(f"{name}: {'; '.join(errors)}")
        else:
            good.append(event)
    assert sorted(bad) == ["log-0001.jsonl: malformed JSON", "log-0001.jsonl: missing run_id"]
    ids = [e["event_id"] for e in good]
    assert 0.01 * len(ids) <= len(ids) - len(set(ids)) <= 0.06 * len(ids)  # at-least-once, ~3%
    ts = [e["ts"] for e in good]
    assert ts != sorted(ts)  # out of order


def test_runs_follow_the_event_log_rules(sim):
    events = unique_events(sim.workspace)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_run.setdefault(event["run_id"], []).append(event)
    for run in by_run.values():
        assert run[0]["type"] == "run.started"
        # A run's one status change after its start ends it; a flag (not a status) may follow.
        statuses = [e for e in run[1:] if e["type"].startswith("run.") and e["type"] != "run.flagged"]
        assert len(statuses) <= 1 and all(e["status"] == e["type"].removeprefix("run.") for e in statuses)
        after = run[run.index(statuses[0]) + 1:] if statuses else []
        assert all(e["type"] == "run.flagged" for e in after)
        for event in run[1:]:
            if event["type"] == "run.flagged":
                assert event["actor"] and event["description"] and "status" not in event
            if event["type"].startswith("action."):
                assert event["attempt"] >= 1 and event["idempotency_key"].startswith("idem_")
        assert all(re.fullmatch(r"ev_[0-9a-f]{16}", e["event_id"]) for e in run)
        assert re.fullmatch(r"run_[0-9a-f]{10}", run[0]["run_id"])
    assert all(
        re.fullmatch(r"int_[0-9a-f]{12}", e["intent_id"]) for e in events if "intent_id" in e
    )


def test_vendor_documents_have_their_documented_shapes(sim):
    landing = sim.workspace / "landing"
    refunds = load(landing / "stripe" / "refunds-list.json")
    assert (refunds["object"], refunds["has_more"], refunds["url"]) == (
        "list",
        False,
        "/v1/refunds",
    )
    for refund in refunds["data"]:
        assert re.fullmatch(r"re_[A-Za-z0-9]{24}", refund["id"]) and refund["object"] == "refund"
        assert re.fullmatch(r"ch_[A-Za-z0-9]{24}", refund["charge"]) and isinstance(
            refund["amount"], int
        )
        assert refund["status"] in {"pending", "succeeded", "failed"}
        assert (refund["failure_reason"] is None) == (refund["status"] != "failed")
        assert all(isinstance(v, str) for v in refund["metadata"].values())
    stripe_events = load(landing / "stripe" / "events-0001.json")
    assert stripe_events["object"] == "list" and stripe_events["url"] == "/v1/events"
    assert {e["type"] for e in stripe_events["data"]} == {
        "refund.created",
        "refund.updated",
        "refund.failed",
    }
    assert all(e["data"]["object"]["object"] == "refund" for e in stripe_events["data"])
    evt_ids = [e["id"] for e in stripe_events["data"]]
    assert len(evt_ids) > len(set(evt_ids))  # redelivered

    sg_ids: list[str] = []
    for batch in sorted((landing / "sendgrid").glob("batch-*.json")):
        for event in load(batch):
            assert {
                "email",
                "timestamp",
                "event",
                "sg_event_id",
                "sg_message_id",
                "smtp-id",
                "category",
            } <= set(event)
            assert event["event"] in {"processed", "deferred", "delivered", "open", "bounce"}
            assert ".filterdrecv-" in event["sg_message_id"] and isinstance(event["timestamp"], int)
            if event["event"] == "bounce":
                assert event["reason"] == "550 5.1.1 unknown user" and event["type"] == "bounce"
            sg_ids.append(event["sg_event_id"])
    assert 0.05 * len(sg_ids) <= len(sg_ids) - len(set(sg_ids)) <= 0.15 * len(sg_ids)

    pages = sorted((landing / "hubspot").glob("contacts-page-*.json"))
    assert pages
    for number, page in enumerate(pages, start=1):
        document = load(page)
        assert ("paging" in document) == (number < len(pages))
        for contact in document["results"]:
            assert contact["id"].isdigit() and contact["archived"] is False
            assert all(isinstance(v, str) for v in contact["properties"].values())
            for history in contact["propertiesWithHistory"].values():
                stamps = [h["timestamp"] for h in history]
                assert stamps == sorted(stamps, reverse=True)
                assert all(h["timestamp"].endswith("Z") and h["sourceType"] in {"INTEGRATION", "CRM_UI", "IMPORT"}
                           for h in history)  # fmt: skip

    tickets = load(landing / "zendesk" / "tickets-page-1.json")
    assert tickets["end_of_stream"] is True and "end_time" not in tickets
    for ticket in tickets["tickets"]:
        assert isinstance(ticket["id"], int) and ticket["via"]["channel"] in {"api", "web"}
        assert ticket["custom_fields"] == [] and ticket["updated_at"] >= ticket["created_at"]


def test_nothing_happens_after_the_export(sim):
    landing = sim.workspace / "landing"
    limit = int(sim.export_time.timestamp())
    iso = sim.export_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(e["ts"] <= iso for e in unique_events(sim.workspace))
    assert all(e["created"] <= limit for e in load(landing / "stripe" / "events-0001.json")["data"])
    for batch in (landing / "sendgrid").glob("batch-*.json"):
        assert all(e["timestamp"] <= limit for e in load(batch))
    for page in (landing / "hubspot").glob("contacts-page-*.json"):
        assert all(c["updatedAt"] <= iso for c in load(page)["results"])
    assert all(
        t["updated_at"] <= iso for t in load(landing / "zendesk" / "tickets-page-1.json")["tickets"]
    )


def test_config_is_the_packaged_demo_config(sim):
    assert (sim.workspace / "reckon.yaml").read_bytes() == CONFIG_PATH.read_bytes()
