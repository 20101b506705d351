"""Repair actions follow TAXONOMY.md's default patterns and the catalog, with preconditions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb
import pytest
from jsonschema import Draft202012Validator

from pipelines.runner import run_audit
from reckon import database
from reckon.workspace import Workspace
from rules import REPAIR_PATTERNS, load_rules
from simulator import simulate
from simulator.timeline import advance

DEFAULTS = {
    "non_canonical_target": {"human_adjudication"},
    "phantom_receipt": {"human_adjudication"},
    "satisfied_out_of_band": {"status_patch"},
    "receipt_missing": {"receipt_backfill"},
    "out_of_band_change": {"human_adjudication"},
    "field_drift": {"forward_completion"},
    "unknown_outcome": {"wait_and_verify"},
    "missing_step": {"forward_completion"},
    "false_completion": {"status_patch"},
    "stale_run_status": {"status_patch"},
    "stuck_run": {"human_adjudication"},
    "orphan_effect": {"human_adjudication"},  # the demo policy does not compensate orphans
}
FIELDS = ["action_id", "finding_id", "pattern", "target_system", "target_object_type", "target_external_id",
          "parameters", "idempotency_key", "preconditions", "duplicate_risk", "reversible", "requires_approval",
          "explanation"]


@pytest.fixture(scope="module")
def plan(audited):
    a = audited(2)
    rows = a.query("""
        SELECT a.*, i.reversible AS step_reversible, i.safe_to_retry,
               (SELECT count(*) FROM intent_keys k WHERE k.intent_id = i.intent_id AND k.key <> i.intent_id) AS keys
        FROM repair_actions a LEFT JOIN intended i ON i.intent_id = a.subject_id""")
    cols = [r[0] for r in a.query("DESCRIBE repair_actions")] + ["step_reversible", "safe_to_retry", "keys"]
    return a, [dict(zip(cols, r, strict=True)) for r in rows]


def test_every_finding_has_an_action_with_its_pattern(plan):
    a, _actions = plan
    missing = a.query("SELECT finding_id FROM findings EXCEPT SELECT finding_id FROM repair_actions")
    assert missing == []
    mismatched = a.query("""SELECT f.finding_id FROM findings f JOIN repair_actions r USING (finding_id)
                            WHERE f.repair_pattern <> r.pattern""")
    assert mismatched == []


def test_default_patterns(plan):
    _, actions = plan
    for act in actions:
        if act["mismatch_type"] in DEFAULTS:
            assert act["pattern"] in DEFAULTS[act["mismatch_type"]], act


def test_catalog_refines_patterns(plan):
    _, actions = plan
    seen = set()
    for act in actions:
        kind = act["mismatch_type"]
        if kind == "duplicate_effect":
            assert act["pattern"] == ("compensation" if act["step_reversible"] else "human_adjudication")
            seen.add(kind)
        elif kind == "effect_failed":
            assert act["pattern"] == ("forward_completion" if act["safe_to_retry"] else "human_adjudication")
            seen.add(kind)
        elif kind == "attempt_lost":
            assert act["pattern"] == ("forward_completion" if act["keys"] else "human_adjudication")
            seen.add(kind)
    assert seen == {"duplicate_effect", "effect_failed", "attempt_lost"}


def test_compensation_targets_the_extra_object_only(plan):
    _a, actions = plan
    for act in (x for x in actions if x["pattern"] == "compensation"):
        params = json.loads(act["parameters"])
        assert params["operation"] == "stripe.refund.reverse"
        assert act["target_external_id"] != params["keep"]
        assert act["target_external_id"].startswith("re_")
        assert act["touches_external_system"] and act["requires_approval"] and act["duplicate_risk"] == "high"


def test_actions_carry_every_field_and_preconditions(plan):
    _, actions = plan
    for act in actions:
        assert all(act[f] is not None for f in FIELDS if f != "target_external_id"), act
        pre = json.loads(act["preconditions"])
        assert isinstance(pre, list) and pre and all("check" in p for p in pre)
        assert act["duplicate_risk"] in ("low", "medium", "high")
        assert act["explanation"] and "\n" not in act["explanation"]


def test_retry_reuses_the_original_idempotency_key(plan):
    a, actions = plan
    for act in actions:
        if act["mismatch_type"] == "attempt_lost" and act["pattern"] == "forward_completion":
            keys = {k for (k,) in a.query("SELECT key FROM intent_keys WHERE intent_id = ?", [act["subject_id"]])}
            assert act["idempotency_key"] in keys and act["idempotency_key"].startswith("idem_")


def test_exported_plan_has_one_action_per_line(plan):
    a, actions = plan
    path = a.ws.exports / f"repair-plan-{a.audit['audit_id']}.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(actions)
    for line in lines:
        assert all(f in line for f in FIELDS)
        assert isinstance(line["parameters"], dict) and isinstance(line["preconditions"], list)
    assert (a.ws.exports / f"repair-plan-{a.audit['audit_id']}.parquet").stat().st_size > 0
    assert not list(a.ws.exports.glob(".*tmp"))


def test_effect_targets_keep_colons_in_external_ids(tmp_path):
    # An effect's subject is `system:external_id`; the id itself may hold colons (object keys).
    sim = simulate(tmp_path / "ws", runs=5, seed=4)
    page = sim.workspace / "landing" / "stripe" / "orphan-colon.json"
    page.write_text(json.dumps({"object": "list", "data": [{
        "id": "re_orphan:part:2", "object": "refund", "amount": 100, "currency": "usd", "created": 1763600000,
        "charge": "ch_colon", "status": "succeeded", "metadata": {"reckon_intent_id": "int_undeclared_colon"}}]}))
    mtime = sim.export_time.timestamp()
    os.utime(page, (mtime, mtime))
    ws = Workspace.open(sim.workspace)
    run_audit(ws)
    with duckdb.connect(str(ws.database), read_only=True) as con:
        target, pre = con.execute("SELECT target_external_id, preconditions FROM repair_actions "
                                  "WHERE subject_id = 'stripe:re_orphan:part:2'").fetchone()
    assert target == "re_orphan:part:2"
    assert json.loads(pre)[0]["external_id"] == "re_orphan:part:2"


# --- the plan's JSON Schema ---------------------------------------------------------------

PLAN_SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "repair-plan.schema.json"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DUCKDB_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?\+00")


@pytest.fixture(scope="module")
def simulated_plans(audited, tmp_path_factory) -> list[Path]:
    """Every plan file the simulator's workspaces give: the demo's three days, and seed 2."""
    root = tmp_path_factory.mktemp("plans") / "demo"
    simulate(root, runs=120, seed=7)
    for day in (1, 2, 3):
        if day > 1:
            advance(root, day, 7)
        run_audit(Workspace.open(root))
    return sorted((root / "exports").glob("repair-plan-*.jsonl")) + sorted(
        audited(2).ws.exports.glob("repair-plan-*.jsonl"))


def test_every_line_of_every_simulated_plan_meets_the_schema(simulated_plans):
    schema = json.loads(PLAN_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert len(simulated_plans) == 4
    lines = 0
    checks = set()
    for path in simulated_plans:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            action = json.loads(line)
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(action)]
            assert errors == [], f"{path.name}:{n}: {errors[:3]}"
            checks |= {(p["check"], p["checked_against"]) for p in action["preconditions"]}
            lines += 1
    assert lines > 100 and checks == {("run_status", "workflow_log"), ("recorded_outcome", "workflow_log"),
                                      ("observed_state", "vendor"), ("object_state", "vendor")}


def test_plan_times_are_rfc3339(simulated_plans):
    times = 0
    for path in simulated_plans:
        for line in path.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            params = action["parameters"]
            for value in (params.get("recheck_after"), (params.get("receipt") or {}).get("observed_at"),
                          *((params.get("observed") or {}).get(k) for k in ("export_observed_at", "updated_at"))):
                if value is not None:
                    assert RFC3339.match(value), (action["action_id"], value)
                    times += 1
            assert not DUCKDB_TIME.search(line), action["action_id"]
    assert times > 50


def test_the_schema_names_every_mismatch_type_pattern_and_field(plan):
    a, _ = plan
    schema = json.loads(PLAN_SCHEMA.read_text(encoding="utf-8"))
    assert set(schema["properties"]["mismatch_type"]["enum"]) == {r.mismatch_type for r in load_rules()}
    assert set(schema["properties"]["pattern"]["enum"]) == set(REPAIR_PATTERNS)
    assert schema["required"] == [name for name, *_ in a.query("DESCRIBE repair_actions")]


def test_vendor_preconditions_name_the_vendors_own_fields(plan):
    """An observed_state check carries the object's fields as the vendor's export names them
    (the two exceptions the schema names: Zendesk's `via.channel` and `custom_fields`)."""
    a, actions = plan
    checked = 0
    with database.connect_read_copy(a.ws) as con:
        for act in actions:
            for pre in json.loads(act["preconditions"]):
                if pre["check"] == "observed_state" and pre["external_id"] and pre["fields"]:
                    raws = con.execute("SELECT raw FROM raw_observed WHERE system = ? AND external_id = ? AND raw "
                                       "IS NOT NULL", [pre["system"], pre["external_id"]]).fetchall()
                    names = {"via_channel", "custom_fields"}
                    for (raw,) in raws:
                        record = json.loads(raw)
                        names |= set(record) | set(record.get("properties") or {})  # HubSpot: its properties
                    assert set(pre["fields"]) <= names, (pre["system"], set(pre["fields"]) - names)
                    checked += 1
    assert checked > 10
