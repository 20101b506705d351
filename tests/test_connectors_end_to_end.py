"""An audit over the formats agent platforms emit: OTel traces, Temporal histories (the
public samples), Stripe, Postmark and an S3 Inventory report find the expected mismatches."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import duckdb
import pytest
import yaml

from pipelines.checks import snapshot_checks
from pipelines.resources import ReckonWorkspace
from pipelines.runner import run_audit
from reckon.snapshots import list_snapshots
from reckon.workspace import Workspace
from tests.connectors.conftest import VENDORS
from tests.connectors.readers import PUBLIC_FIXTURES

RAINBOW_RUN = "ce42fef2-e58b-4ae1-a7ae-74aa04c3fae5"
HELLO_RUN = "b0b495a5-0428-412b-875a-0a941998f773"
TRACE_RUN = "4bf92f3577b34da6a3ce929d0e0e4736"

CONFIG = {
    "version": 1,
    "correlation": {"key_pattern": "(int|idem)_[0-9a-z_]+"},
    "sources": {
        "agent_traces": {
            "connector": "otel",
            "paths": ["landing/traces/*.jsonl"],
            "options": {
                "workflows": {"support-agent": "refund_order"},
                "tools": {
                    "issue_refund": {"action": "stripe.refund.create", "intent_id": "intent_id",
                                     "idempotency_key": "idempotency_key", "receipt": "id",
                                     "expected": {"amount": "amount", "currency": "currency", "charge": "charge"}},
                    "send_receipt_email": {"action": "postmark.message.send", "step": "send_receipt",
                                           "intent_id": "intent_id", "receipt": "MessageID"},
                    "upload_receipt": {"action": "s3.document.upload", "intent_id": "intent_id", "receipt": "key"},
                },
            },
        },
        "temporal_histories": {
            "connector": "temporal",
            "paths": ["landing/temporal/*.json"],
            "options": {"activities": {
                "LongActivity": {"action": "postmark.message.send"},
                "Activity": {"action": "s3.document.upload", "receipt": ""},
            }},
        },
        "stripe_refunds": {"connector": "stripe", "system": "stripe", "paths": ["landing/stripe/*.json"]},
        "postmark_events": {"connector": "postmark", "system": "postmark", "paths": ["landing/postmark/*.jsonl"]},
        "receipts_inventory": {
            "connector": "s3_inventory",
            "system": "s3",
            "paths": ["landing/s3/**/manifest.json"],
            "options": {"correlation_key_from_key": "(?:^|/)(int_[0-9a-z_]+)/"},
        },
    },
    "systems": {
        "stripe": {"object_type": "refund", "correlation_paths": ["metadata.reckon_intent_id"],
                   "natural_key": ["charge"], "settle_window": "1h"},
        "postmark": {"object_type": "message", "correlation_paths": ["Metadata.reckon_intent_id"], "settle_window": "30m"},
        "s3": {"object_type": "document", "settle_window": "1h"},
    },
    "catalog": {
        "refund_order": {
            "completion_window": "2h",
            "steps": [
                {"step": "issue_refund", "action": "stripe.refund.create", "reversible": True,
                 "compensation": "stripe.refund.reverse", "safe_to_retry": True},
                {"step": "send_receipt", "action": "postmark.message.send"},
                {"step": "upload_receipt", "action": "s3.document.upload", "safe_to_retry": True},
            ],
        }
    },
}

REFUND = {
    "id": "re_3QxR2aLkdIwHu7ix1Refund", "object": "refund", "amount": 4200, "currency": "usd",
    "charge": "ch_3QxR2aLkdIwHu7ix0snN0B15", "created": 1741255210, "status": "succeeded",
    "reason": "requested_by_customer", "metadata": {"reckon_intent_id": "int_refund_8812"},
}  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    temporal = PUBLIC_FIXTURES / "temporal"
    root = tmp_path_factory.mktemp("connectors") / "ws"
    landing = root / "landing"
    for folder in ("traces", "temporal", "stripe", "postmark"):
        (landing / folder).mkdir(parents=True)
    (root / "reckon.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    shutil.copy(VENDORS / "otel/agent_traces.jsonl", landing / "traces")
    # The workspace holds its own landing copy; the repository never does.
    for name in ("rainbowstatusesworkflow.json", "helloworld.json"):
        shutil.copy(temporal / name, landing / "temporal")
    (landing / "stripe" / "refunds.json").write_text(json.dumps({"object": "list", "data": [REFUND], "has_more": False}))
    shutil.copy(VENDORS / "postmark/webhooks.jsonl", landing / "postmark")
    shutil.copytree(VENDORS / "s3_inventory", landing / "s3")
    ws = Workspace.open(root)
    run_audit(ws)
    return ws


def findings(ws: Workspace) -> set[tuple[str, str]]:
    with duckdb.connect(str(ws.database), read_only=True) as con:
        return set(con.execute("SELECT subject_id, mismatch_type FROM findings").fetchall())


def test_expected_mismatches_are_found(workspace):
    found = findings(workspace)
    # The tool span timed out, but the refund exists (matched by the intent id in metadata).
    assert ("int_refund_8812", "receipt_missing") in found
    # The upload tool returned a key the inventory does not list.
    assert ("int_upload_8812", "phantom_receipt") in found
    # Temporal's public sample: LongActivity timed out and Postmark shows nothing for it.
    assert (f"{RAINBOW_RUN}:6", "attempt_lost") in found
    # helloworld's activity "succeeded" with a receipt no inventory row has.
    assert (f"{HELLO_RUN}:5", "phantom_receipt") in found
    # The receipt email was delivered: no finding for it.
    assert not {f for f in found if f[0] == "int_notify_8812"}


def test_workflow_layers_read_like_the_native_log(workspace):
    with duckdb.connect(str(workspace.database), read_only=True) as con:
        outcomes = dict(con.execute("SELECT intent_id, outcome FROM recorded").fetchall())
        runs = dict(con.execute("SELECT run_id, status FROM recorded_runs").fetchall())
        quarantine = con.execute("SELECT source, source_record FROM quarantine ORDER BY ALL").fetchall()
    assert outcomes["int_refund_8812"] == "timed_out"
    assert outcomes["int_notify_8812"] == "succeeded"
    assert outcomes[f"{RAINBOW_RUN}:6"] == "timed_out"
    assert runs == {TRACE_RUN: "complete", RAINBOW_RUN: "failed", HELLO_RUN: "complete"}
    assert quarantine == [
        ("agent_traces", 3), ("agent_traces", 5),
        ("postmark_events", 7), ("postmark_events", 8), ("postmark_events", 9), ("postmark_events", 10),
        ("receipts_inventory", 2), ("receipts_inventory", 6), ("receipts_inventory", 7),
    ]  # fmt: skip


def test_snapshot_manifests_record_schema_drift(workspace):
    snaps = {s.source: s for s in list_snapshots(workspace)}
    assert snaps["agent_traces"].fields_added == ["gen_ai.tool.call.status"]
    assert snaps["receipts_inventory"].observed_at == "2025-03-07T00:00:00+00:00"
    for name in ("temporal_histories", "postmark_events", "receipts_inventory"):
        assert (snaps[name].fields_added, snaps[name].fields_missing) == ([], [])
    manifest = json.loads((snaps["agent_traces"].folder / "_manifest.json").read_text())
    assert {"rows", "quarantined", "files", "fields_added", "fields_missing"} <= set(manifest)


def test_dagster_schema_drift_check_warns(workspace):
    def drift_check(source: str) -> dg.AssetCheckResult:
        config = next(s for s in workspace.config.sources if s.name == source)
        check = next(c for c in snapshot_checks(config, 0.05) if any(k.name == "schema_drift" for k in c.check_keys))
        return check(workspace=ReckonWorkspace(root=str(workspace.root)))

    drift = drift_check("agent_traces")
    assert drift.passed is False and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["fields_added"].value == "gen_ai.tool.call.status"
    assert drift.metadata["fields_missing"].value == "-"
    assert drift_check("temporal_histories").passed is True
