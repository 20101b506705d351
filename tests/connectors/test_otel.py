"""OTLP/JSON traces through the OTel reader: agent spans become native workflow events."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.otel import OtelReader
from reckon.config import ConfigError, parse_config
from tests.connectors.readers import public_sample, read_with

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


def test_public_sample_reads(tmp_path):
    """The opentelemetry-proto example: one server span without GenAI attributes."""
    path = public_sample("otlp/trace.json")
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


# --- span events, other instrumentations, content, protobuf-JSON ids -------------------


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def span(n: int, attrs: dict[str, Any], *, name: str = "execute_tool issue_refund", code: int = 1,
         message: str | None = None, events: list[dict] | None = None, **more: Any) -> dict[str, Any]:
    status = {"code": code, **({"message": message} if message is not None else {})}
    return {"traceId": TRACE, "spanId": f"{n:016x}", "parentSpanId": "00f067aa0ba902b7", "name": name,
            "startTimeUnixNano": str((1741255200 + n) * 10**9), "endTimeUnixNano": str((1741255201 + n) * 10**9),
            "attributes": [kv(k, v) for k, v in attrs.items()], "status": status,
            **({"events": events} if events is not None else {}), **more}  # fmt: skip


def exception(kind: str | None, message: str | None, **attrs: Any) -> dict[str, Any]:
    values = {"exception.type": kind, "exception.message": message, **attrs}
    return {"timeUnixNano": "1741255230000000000", "name": "exception",
            "attributes": [kv(k, v) for k, v in values.items() if v is not None]}  # fmt: skip


def write_spans(path, spans: list[dict[str, Any]], service: str = "support-agent"):
    resource = {"attributes": [kv("service.name", service)]}
    path.write_text(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}) + "\n")
    return path


def tool(name: str = "issue_refund", **attrs: Any) -> dict[str, Any]:
    args = json.dumps({"intent_id": f"int_{name}", "amount": 100})
    return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.call.arguments": args,
            **attrs}


def test_exception_events_give_the_message_and_the_kind(tmp_path):
    stack = "Traceback (most recent call last):\n  File \"tools.py\", line 9, in send\nRuntimeError"
    spans = [
        # The span: a timeout the exception's message reveals; the outcome is unknown.
        span(1, tool(), code=2, events=[exception("RuntimeError", "SMTP timeout while sending",
                                                  **{"exception.stacktrace": stack, "exception.escaped": True})]),
        span(2, tool(), code=2, events=[exception("ValueError", "card declined")]),
        span(3, tool(), code=2, events=[exception("asyncio.TimeoutError", None)]),
        span(4, tool(), code=2, events=[exception("httpx.ConnectTimeout", "")]),
        span(5, tool(**{"error.type": "PaymentDeclined"}), code=2, message="status text",
             events=[exception("stripe.CardError", "Your card was declined.")]),
        span(6, tool(), code=2, message="Deadline Exceeded"),  # no exception event: status.message
        span(7, tool(), code=2, message="upstream said no"),
        span(8, tool(), code=2, events=[{"name": "retry", "attributes": []},
                                        exception("grpc.DeadlineExceeded", "rpc ended")]),
        span(9, tool(), code=2, events=[exception("socket.timeout", "read")]),
    ]  # fmt: skip
    rows = read_with(OtelReader, write_spans(tmp_path / "t.jsonl", spans), OPTIONS, root=tmp_path).rows
    ends = [(r["source_record"], r["type"], r["error_kind"], r["error_message"]) for r in rows
            if r["type"] not in ("intent.declared", "action.attempted")]
    assert [(t, k, m) for _, t, k, m in ends] == [
        ("action.timed_out", "timeout", "SMTP timeout while sending"),
        ("action.failed", "ValueError", "card declined"),
        ("action.timed_out", "timeout", "asyncio.TimeoutError"),
        ("action.timed_out", "timeout", "httpx.ConnectTimeout"),
        ("action.failed", "PaymentDeclined", "Your card was declined."),
        ("action.timed_out", "timeout", "Deadline Exceeded"),
        ("action.failed", "error", "upstream said no"),
        ("action.timed_out", "timeout", "rpc ended"),
        ("action.timed_out", "timeout", "read"),
    ]
    assert all(stack not in json.dumps(r, default=str) for r in rows)  # the stack trace is not kept


def test_an_agent_span_exception_fails_the_run_with_its_message(tmp_path):
    agent = span(1, {"gen_ai.operation.name": "invoke_agent"}, name="invoke_agent Support Agent", code=2,
                 events=[exception("openai.RateLimitError", "Rate limit reached for gpt-4o")])
    rows = read_with(OtelReader, write_spans(tmp_path / "t.jsonl", [agent]), OPTIONS, root=tmp_path).rows
    assert [(r["type"], r["error_kind"], r["error_message"]) for r in rows] == [
        ("run.started", None, None), ("run.failed", "openai.RateLimitError", "Rate limit reached for gpt-4o"),
    ]  # fmt: skip


PYDANTIC_AI = {  # pydantic-ai's instrumentation (version 2): its own span and attribute names
    "gen_ai.tool.name": "issue_refund", "gen_ai.tool.call.id": "call_pyd_1",
    "tool_arguments": json.dumps({"intent_id": "int_pyd_1", "idempotency_key": "idem_pyd_1", "amount": 4200,
                                  "currency": "usd", "charge": "ch_1"}),
    "tool_response": json.dumps({"id": "re_pyd_1", "status": "succeeded"}),
    "logfire.msg": "running tool: issue_refund",
}  # fmt: skip
OPENINFERENCE = {  # OpenInference (Arize Phoenix) TOOL spans
    "openinference.span.kind": "TOOL", "tool.name": "issue_refund", "input.mime_type": "application/json",
    "input.value": json.dumps({"intent_id": "int_oi_1", "amount": 4200, "currency": "usd", "charge": "ch_2"}),
    "output.value": json.dumps({"id": "re_oi_1"}), "output.mime_type": "application/json",
}  # fmt: skip


@pytest.mark.parametrize(
    ("attrs", "name", "instrumentation", "intent", "receipt"),
    [
        (PYDANTIC_AI, "running tool", "pydantic_ai", "int_pyd_1", "re_pyd_1"),
        ({**PYDANTIC_AI, "gen_ai.operation.name": "execute_tool"}, "execute_tool issue_refund", "pydantic_ai",
         "int_pyd_1", "re_pyd_1"),
        (OPENINFERENCE, "issue_refund", "openinference", "int_oi_1", "re_oi_1"),
        (OPENINFERENCE, "issue_refund", ["genai", "pydantic_ai", "openinference"], "int_oi_1", "re_oi_1"),
    ],
)
def test_instrumentation_presets_read_their_arguments_and_results(tmp_path, attrs, name, instrumentation, intent,
                                                                  receipt):  # fmt: skip
    path = write_spans(tmp_path / "t.jsonl", [span(1, attrs, name=name)])
    result = read_with(OtelReader, path, {**OPTIONS, "instrumentation": instrumentation}, root=tmp_path)
    assert result.rejected == []
    rows = result.rows
    assert [(r["type"], r["intent_id"]) for r in rows] == [
        ("intent.declared", intent), ("action.attempted", intent), ("action.succeeded", intent),
    ]  # fmt: skip
    assert rows[-1]["receipt_external_id"] == receipt
    assert json.loads(rows[0]["expected"])["amount"] == 4200
    # The default (GenAI conventions) does not read these names: the call's id stands in.
    default = read_with(OtelReader, path, OPTIONS, root=tmp_path).rows
    assert all(r["intent_id"] != intent for r in default)


def test_argument_and_result_attributes_can_be_named(tmp_path):
    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund",
             "app.tool.args": json.dumps({"intent_id": "int_custom_1"}), "app.tool.out": json.dumps({"id": "re_c1"})}
    path = write_spans(tmp_path / "t.jsonl", [span(1, attrs)])
    options = {**OPTIONS, "arguments_attribute": "app.tool.args", "result_attribute": ["app.other", "app.tool.out"]}
    rows = read_with(OtelReader, path, options, root=tmp_path).rows
    assert [(r["type"], r["intent_id"], r["receipt_external_id"]) for r in rows] == [
        ("intent.declared", "int_custom_1", None), ("action.attempted", "int_custom_1", None),
        ("action.succeeded", "int_custom_1", "re_c1"),
    ]  # fmt: skip
    assert all("app.tool.args" not in (r["extra"] or "") and "re_c1" not in (r["extra"] or "") for r in rows)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"instrumentation": "langchain"}, "options.instrumentation: unknown instrumentation 'langchain'"),
        ({"instrumentation": ["genai", 3]}, "options.instrumentation"),
        ({"arguments_attribute": ""}, "options.arguments_attribute"),
        ({"result_attribute": {"a": "b"}}, "options.result_attribute"),
    ],
)
def test_instrumentation_options_are_validated(options, message):
    with pytest.raises(ValueError, match="options") as info:
        OtelReader.check_options({"tools": TOOLS, **options})
    assert message in str(info.value)


SECRET = "SECRET-CONVERSATION-CONTENT"


def test_conversation_content_is_never_kept(tmp_path):
    content = {
        "gen_ai.prompt": f"user: {SECRET}", "gen_ai.completion": f"assistant: {SECRET}",
        "gen_ai.prompt.0.content": SECRET, "gen_ai.completion.0.content": SECRET,
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"content": SECRET}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"content": SECRET}]}]),
        "gen_ai.system_instructions": SECRET, "gen_ai.tool.definitions": SECRET,
        "pydantic_ai.all_messages": json.dumps([{"role": "user", "parts": [{"content": SECRET}]}]),
        "all_messages_events": SECRET, "final_result": SECRET,
        "tool_arguments": json.dumps({"note": SECRET}), "tool_response": SECRET,
        "input.value": SECRET, "output.value": SECRET,
        "llm.input_messages.0.message.content": SECRET, "llm.output_messages.0.message.content": SECRET,
        "llm.prompts.0.prompt.text": SECRET, "llm.prompt_template.variables": SECRET,
        "gen_ai.tool.call.result": json.dumps({"id": "re_1", "note": SECRET}),
    }  # fmt: skip
    spans = [
        span(1, {"gen_ai.operation.name": "invoke_agent", **content}, name="invoke_agent Support Agent"),
        span(2, {**tool(), **content}),
        span(3, {"gen_ai.operation.name": "chat", **content}, name="chat gpt-4o"),
        span(4, {**tool(), **content}, startTimeUnixNano="soon"),  # quarantined: its excerpt too
    ]
    bad = span(5, {**content, **tool()}, traceId="zz")
    spans.append({"attributes": bad.pop("attributes"), **bad})  # content first: within the excerpt
    result = read_with(OtelReader, write_spans(tmp_path / "t.jsonl", spans), OPTIONS, root=tmp_path)
    assert len(result.rows) == 5 and len(result.rejected) == 2
    assert all(r["excerpt"] for r in result.rejected)
    for row in [*result.rows, *result.rejected]:
        assert SECRET not in json.dumps(row, default=str), row
    extra = json.loads(result.rows[0]["extra"])
    assert extra["attributes"] == {"gen_ai.operation.name": "invoke_agent"}
    assert result.rows[-1]["receipt_external_id"] == "re_1"  # read for the mapping, not kept


def b64(hex_id: str, urlsafe: bool = False, pad: bool = True) -> str:
    raw = bytes.fromhex(hex_id)
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if pad else text.rstrip("=")


@pytest.mark.parametrize(("urlsafe", "pad"), [(False, True), (True, False)])
def test_protobuf_json_base64_ids_are_read_as_hex(tmp_path, urlsafe, pad):
    """The public sample as protobuf's own JSON mapping writes it: ids as base64 bytes."""
    doc = json.loads(public_sample("otlp/trace.json").read_text())
    one = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId", "parentSpanId"):
        one[key] = b64(one[key], urlsafe, pad)
    one["attributes"].append(kv("gen_ai.operation.name", "invoke_agent"))
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(doc))
    result = read_with(OtelReader, path, {"workflow": "checkout"}, root=tmp_path)
    assert result.rejected == []
    rows = result.rows
    assert [(r["type"], r["run_id"]) for r in rows] == [
        ("run.started", "5b8efff798038103d269b633813fc60c"), ("run.completed", "5b8efff798038103d269b633813fc60c"),
    ]  # fmt: skip
    assert rows[0]["event_id"] == "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174:run.started"
    extra = json.loads(rows[0]["extra"])
    assert (extra["span_id"], extra["parent_span_id"]) == ("eee19b7ec3c1b174", "eee19b7ec3c1b173")


@pytest.mark.parametrize("bad", ["zz", b64("00" * 16), b64("ab" * 12), "5b8efff798038103d269b633813fc6"])
def test_ids_that_are_neither_hex_nor_base64_of_the_right_size_are_rejected(tmp_path, bad):
    path = write_spans(tmp_path / "t.jsonl", [span(1, {"gen_ai.operation.name": "invoke_agent"}, traceId=bad)])
    result = read_with(OtelReader, path, OPTIONS, root=tmp_path)
    assert result.rows == [] and "'traceId'" in result.rejected[0]["reason"]


@pytest.mark.parametrize("value", [False, 0, "", {}], ids=repr)
@pytest.mark.parametrize("where", ["resourceSpans", "scopeSpans", "spans"])
def test_span_lists_of_another_type_are_quarantined_not_read_as_no_spans(tmp_path, where, value):
    resource = {"resource": {"attributes": [kv("service.name", "support-agent")]}}
    good = {**resource, "scopeSpans": [{"spans": [span(1, tool())]}]}
    broken = {"resourceSpans": {"resourceSpans": value},
              "scopeSpans": {"resourceSpans": [{**resource, "scopeSpans": value}]},
              "spans": {"resourceSpans": [{**resource, "scopeSpans": [{"spans": value}]}]}}[where]  # fmt: skip
    lines = tmp_path / "traces.jsonl"
    lines.write_text(json.dumps(broken) + "\n" + json.dumps({"resourceSpans": [good]}) + "\n")
    document = tmp_path / "trace.json"
    document.write_text(json.dumps(broken))

    result = read_with(OtelReader, lines, OPTIONS, root=tmp_path)
    assert {r["source_record"] for r in result.rows} == {2}
    assert list(result.reasons()) == [1] and f"{where}' must be an array" in result.reasons()[1]
    result = read_with(OtelReader, document, OPTIONS, root=tmp_path)
    assert result.rows == [] and len(result.rejected) == 1
    assert f"{where}' must be an array" in result.rejected[0]["reason"]
    assert result.rejected[0]["source_file"] == "trace.json"
