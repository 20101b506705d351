"""OTLP/JSON traces through the OTel reader: agent spans become native workflow events."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from connectors.otel import OtelReader
from reckon.config import ConfigError, parse_config
from tests.connectors.readers import read_with, shared_sample

TOOLS = {
    "issue_refund": {
        "action": "stripe.refund.create",
        "intent_id": "intent_id",
        "idempotency_key": "idempotency_key",
        "receipt": "id",
        "expected": {"amount": "amount", "currency": "currency", "charge": "charge"},
    },
    "send_receipt_email": {"action": "postmark.message.send", "step": "send_receipt", "intent_id": "intent_id",
                           "receipt": "MessageID"},
    "upload_receipt": {"action": "s3.document.upload", "intent_id": "intent_id", "receipt": "key"},
}
OPTIONS = {"tools": TOOLS, "workflows": {"support-agent": "refund_order"}}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(1741255200 + seconds, tz=UTC)


def test_file_exporter_lines_become_events():
    result = read_with(OtelReader, "otel/agent_traces.jsonl", OPTIONS)
    rows = result.rows
    summary = [(r["source_record"], r["type"], r["intent_id"], r["ts"]) for r in rows]
    assert summary == [
        (1, "run.started", None, at(0)),
        (1, "run.completed", None, at(60)),
        # chat span and the unmapped lookup_order tool give no rows
        (2, "intent.declared", "int_refund_8812", at(6)),
        (2, "action.attempted", "int_refund_8812", at(6)),
        (2, "action.timed_out", "int_refund_8812", at(36)),
        (2, "intent.declared", "int_notify_8812", at(40)),
        (2, "action.attempted", "int_notify_8812", at(40)),
        (2, "action.succeeded", "int_notify_8812", at(41)),
        (2, "intent.declared", "int_upload_8812", at(42)),
        (2, "action.attempted", "int_upload_8812", at(42)),
        (2, "action.succeeded", "int_upload_8812", at(44)),
    ]
    assert {r["run_id"] for r in rows} == {TRACE}
    assert {r["workflow"] for r in rows} == {"refund_order"}
    assert len({r["event_id"] for r in rows}) == len(rows)
    assert all(r["source_file"] == "fixtures/vendors/otel/agent_traces.jsonl" for r in rows)


def test_tool_span_fields():
    rows = read_with(OtelReader, "otel/agent_traces.jsonl", OPTIONS).rows
    declared = next(r for r in rows if r["type"] == "intent.declared" and r["intent_id"] == "int_refund_8812")
    assert (declared["step"], declared["action"], declared["system"]) == ("issue_refund", "stripe.refund.create", "stripe")
    assert declared["idempotency_key"] == "idem_refund_8812_a1"
    assert json.loads(declared["expected"]) == {"amount": 4200, "currency": "usd", "charge": "ch_3QxR2aLkdIwHu7ix0snN0B15"}
    timed_out = next(r for r in rows if r["type"] == "action.timed_out")
    assert (timed_out["error_kind"], timed_out["error_message"]) == ("timeout", "POST /v1/refunds timed out after 30s")
    assert timed_out["event_id"] == f"{TRACE}:53995c3f42cd8ad8:action.timed_out"
    sent = next(r for r in rows if r["type"] == "action.succeeded" and r["step"] == "send_receipt")
    assert sent["receipt_external_id"] == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert json.loads(sent["receipt"]) == {"external_id": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"}
    extra = json.loads(sent["extra"])
    assert extra["span_id"] == "7a085853722dc6d2" and extra["attributes"]["gen_ai.tool.call.id"] == "call_mail_1"
    assert "gen_ai.tool.call.arguments" not in extra["attributes"]


def test_bad_lines_and_spans_are_quarantined_with_their_line():
    result = read_with(OtelReader, "otel/agent_traces.jsonl", OPTIONS)
    reasons = result.reasons()
    assert sorted(reasons) == [3, 5]  # line 4 is blank
    assert reasons[3].startswith("malformed JSON")
    assert "resourceSpans[0].scopeSpans[0].spans[0]" in reasons[5] and "'traceId'" in reasons[5]


def test_single_document_with_uppercase_hex_ids_and_numbered_spans():
    result = read_with(OtelReader, "otel/trace_document.json", OPTIONS)
    rows = result.rows
    assert result.rejected == []
    assert [(r["source_record"], r["type"]) for r in rows] == [
        (1, "run.started"), (1, "run.completed"),
        (2, "intent.declared"), (2, "action.attempted"), (2, "action.succeeded"),
    ]  # fmt: skip
    assert {r["run_id"] for r in rows} == {"0af7651916cd43dd8448eb211c80319c"}
    assert rows[-1]["receipt_external_id"] == "re_3QyT7bLkdIwHu7ix0Refund"
    assert rows[-1]["event_id"].startswith("0af7651916cd43dd8448eb211c80319c:c0ffee00deadbeef:")


def test_unknown_gen_ai_attribute_is_reported_as_drift():
    reader = read_with(OtelReader, "otel/agent_traces.jsonl", OPTIONS).reader
    assert reader.field_drift() == (["gen_ai.tool.call.status"], [])


def test_public_sample_reads_in_place(tmp_path):
    """The opentelemetry-proto example: one server span without GenAI attributes."""
    path = shared_sample("otlp/trace.json")
    result = read_with(OtelReader, path, {"workflow": "checkout"}, root=path.parent)
    assert result.table.num_rows == 0 and result.rejected == []
    # The same envelope with GenAI attributes added: ids are uppercase hex, times strings.
    doc = json.loads(path.read_text())
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] += [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
        {"key": "gen_ai.agent.name", "value": {"stringValue": "Checkout Agent"}},
    ]
    copy = tmp_path / "trace.json"
    copy.write_text(json.dumps(doc))
    result = read_with(OtelReader, copy, {"workflows": {"my.service": "checkout"}}, root=tmp_path)
    rows = result.rows
    assert [(r["type"], r["run_id"], r["workflow"]) for r in rows] == [
        ("run.started", "5b8efff798038103d269b633813fc60c", "checkout"),
        ("run.completed", "5b8efff798038103d269b633813fc60c", "checkout"),
    ]
    assert rows[0]["ts"] == datetime(2018, 12, 13, 14, 51, 0, tzinfo=UTC)
    assert result.reader.field_drift() == ([], [])


def test_workflow_attribute_and_timeouts_are_configurable(tmp_path):
    line = {
        "resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
            "traceId": "11111111111111111111111111111111", "spanId": "2222222222222222",
            "startTimeUnixNano": 1741255200000000000, "endTimeUnixNano": "1741255201000000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                {"key": "gen_ai.tool.name", "value": {"stringValue": "issue_refund"}},
                {"key": "gen_ai.agent.name", "value": {"stringValue": "Refunder"}},
                {"key": "error.type", "value": {"stringValue": "ReadTimeout"}},
                {"key": "gen_ai.tool.call.arguments", "value": {"kvlistValue": {"values": [
                    {"key": "intent_id", "value": {"stringValue": "int_kv_1"}},
                    {"key": "amount", "value": {"intValue": "100"}}]}}},
            ],
            "status": {"code": "STATUS_CODE_ERROR"},
        }]}]}]
    }  # fmt: skip
    path = tmp_path / "traces.json.gz"
    path.write_bytes(gzip.compress((json.dumps(line) + "\n" + json.dumps(line) + "\n").encode()))
    options = {"tools": TOOLS, "workflow_attribute": "gen_ai.agent.name", "workflows": {"Refunder": "refund_order"}}
    rows = read_with(OtelReader, path, options, root=tmp_path).rows
    assert [(r["source_record"], r["type"]) for r in rows][:3] == [
        (1, "intent.declared"), (1, "action.attempted"), (1, "action.timed_out"),
    ]
    assert rows[0]["workflow"] == "refund_order" and rows[0]["intent_id"] == "int_kv_1"
    assert json.loads(rows[0]["expected"]) == {"amount": 100}
    reader = read_with(OtelReader, path, {**options, "timeout_errors": ["ESOCKETTIMEDOUT"]}, root=tmp_path).reader
    assert reader.error_kind("503") == ("action.failed", "http_5xx")
    assert reader.error_kind("ESOCKETTIMEDOUT") == ("action.timed_out", "timeout")
    assert reader.error_kind("java.net.UnknownHostException") == ("action.failed", "java.net.UnknownHostException")


def test_future_span_is_rejected(tmp_path):
    span = {"traceId": "11111111111111111111111111111111", "spanId": "2222222222222222",
            "startTimeUnixNano": "4070908800000000000", "endTimeUnixNano": "4070908801000000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]}
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    result = read_with(OtelReader, path, {"workflow": "refund_order"}, root=tmp_path)
    assert result.table.num_rows == 0
    assert "in the future" in result.rejected[0]["reason"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tools": {"issue_refund": {}}}, "options.tools.issue_refund.action: required"),
        ({"tools": {"issue_refund": {"action": "refund"}}}, "is not system.object.verb"),
        ({"tools": {"issue_refund": {"action": "stripe.refund.create", "recipt": "id"}}},
         "options.tools.issue_refund.recipt: unknown option"),
        ({"workflows": ["refund_order"]}, "options.workflows: expected a mapping"),
        ({"tool": {}}, "options.tool: unknown option"),
    ],
)
def test_options_are_validated_in_reckon_yaml(tmp_path, options, message):
    config = {
        "version": 1,
        "systems": {},
        "sources": {"traces": {"connector": "otel", "paths": ["landing/*.jsonl"], "options": options}},
    }
    with pytest.raises(ConfigError, match=r"sources\.traces\.options") as info:
        parse_config(config, tmp_path)
    assert message in str(info.value)
