"""OpenTelemetry traces as OTLP/JSON: agent spans per the GenAI semantic conventions.

Reads the collector file exporter's JSON Lines (one `TracesData` per line) and single
OTLP/JSON documents (`{"resourceSpans": [...]}`, streamed one ResourceSpans at a time),
maybe gzipped. A trace is a run. Spans whose `gen_ai.operation.name` is
`invoke_workflow` or `invoke_agent` give the run's start and end; `execute_tool` spans
of the tools named under `options.tools` give intents and their outcomes. Other spans
(model calls, HTTP, read-only tools) give no rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink, Reader
from connectors.files import is_json_lines, iter_document_items, iter_json_lines
from connectors.runtime_options import (
    ActionSpec,
    action_specs,
    check_runtime_options,
    option_str,
    option_strings,
    resolve_workflow,
    workflow_event,
)
from connectors.schema import EVENT_SCHEMA
from connectors.values import (
    BadRecord,
    as_object,
    dumps,
    not_after,
    parse_epoch_nanos,
    parse_nested_json,
    require_unicode,
)

RUN_OPERATIONS = frozenset({"invoke_workflow", "invoke_agent"})
TOOL_OPERATION = "execute_tool"
STATUS_ERROR = 2
STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
# error.type values that mean "the outcome is unknown" rather than "it failed".
TIMEOUT = re.compile(r"time.?out|timed.?out|deadline", re.IGNORECASE)

# OTLP/JSON Span fields (opentelemetry-proto trace/v1/trace.proto).
SPAN_FIELDS = frozenset(
    {
        "traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind",
        "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
        "events", "droppedEventsCount", "links", "droppedLinksCount", "status",
    }
)  # fmt: skip
# GenAI attributes of agent, workflow and tool spans (semantic conventions, development).
GEN_AI_ATTRIBUTES = frozenset(
    {
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system",
        "gen_ai.agent.id", "gen_ai.agent.name", "gen_ai.agent.description", "gen_ai.agent.version",
        "gen_ai.workflow.name", "gen_ai.conversation.id", "gen_ai.data_source.id",
        "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.type", "gen_ai.tool.description",
        "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.tool.definitions",
        "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
        "gen_ai.output.type", "gen_ai.token.type",
    }
)  # fmt: skip
# Content the conventions capture only on opt-in: read for the mapping, never copied to `extra`.
CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.input.messages",
        "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions",
    }
)  # fmt: skip
GEN_AI_FAMILIES = ("gen_ai.request.", "gen_ai.response.", "gen_ai.usage.", "gen_ai.openai.")


def attribute_value(value: Any, where: str) -> Any:
    """An OTLP AnyValue as a Python value (int64 may be a string or a number)."""
    if not isinstance(value, dict):
        raise BadRecord(f"{where} must be an AnyValue object")
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        raw = value["intValue"]
        try:
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ValueError
            return int(raw)
        except ValueError:
            raise BadRecord(f"{where}.intValue is not an integer: {raw!r}") from None
    if "doubleValue" in value:
        raw = value["doubleValue"]
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise BadRecord(f"{where}.doubleValue is not a number: {raw!r}")
        return raw
    if "bytesValue" in value:
        return value["bytesValue"]
    if "arrayValue" in value:
        items = as_object(value["arrayValue"], f"{where}.arrayValue").get("values") or []
        if not isinstance(items, list):
            raise BadRecord(f"{where}.arrayValue.values must be an array")
        return [attribute_value(item, f"{where}[{i}]") for i, item in enumerate(items)]
    if "kvlistValue" in value:
        return attributes(as_object(value["kvlistValue"], f"{where}.kvlistValue").get("values"), where)
    return None


def attributes(items: Any, where: str = "attributes") -> dict[str, Any]:
    """`[{key, value}]` as a dict."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise BadRecord(f"'{where}' must be an array of key/value objects")
    out = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise BadRecord(f"'{where}[{i}]' must be an object with a string 'key'")
        out[item["key"]] = attribute_value(item.get("value"), f"{where}.{item['key']}")
    return out


def text_attribute(attrs: dict[str, Any], key: str) -> str | None:
    value = attrs.get(key)
    return value if isinstance(value, str) else None


def hex_id(span: dict[str, Any], key: str, digits: int) -> str:
    """A trace or span id: `digits` hex digits, not all zero, lowercased."""
    value = span.get(key)
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-fA-F]{{{digits}}}", value) or not value.strip("0"):
        raise BadRecord(f"field '{key}' must be {digits} hex digits, not all zero: {value!r}")
    return value.lower()


def status_code(span: dict[str, Any]) -> int:
    status = as_object(span.get("status"), "status")
    code = status.get("code", 0)
    code = STATUS_NAMES.get(code, code) if isinstance(code, str) else code
    if isinstance(code, bool) or code not in (0, 1, 2):
        raise BadRecord(f"field 'status.code' must be 0, 1 or 2: {status.get('code')!r}")
    return code


def jsonish(value: Any) -> Any:
    """Tool arguments or results: JSON text is parsed; anything else stays as it is."""
    if isinstance(value, str):
        try:
            return parse_nested_json(value)
        except (ValueError, RecursionError):
            return value
    return value


class OtelReader(Reader):
    name = "otel"
    layer = "workflow"
    schema = EVENT_SCHEMA
    known_fields = SPAN_FIELDS | GEN_AI_ATTRIBUTES
    expected_fields = frozenset({"traceId", "spanId", "startTimeUnixNano", "endTimeUnixNano"})

    def __init__(self, options) -> None:
        super().__init__(options)
        opts = options.options
        self.tools = action_specs(opts, "tools")
        self.workflow_attribute = opts.get("workflow_attribute", "service.name")
        self.timeout_errors = set(opts.get("timeout_errors", []))

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        check_runtime_options(options, "tools", "workflow_attribute", "timeout_errors")
        option_str(options, "workflow_attribute")
        option_strings(options, "timeout_errors")

    def documented(self, name: str) -> bool:
        return name in self.known_fields or name.startswith(GEN_AI_FAMILIES)

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        latest = self.latest_plausible(path)
        yield from self.to_batches(self._rows(path, sink, source_file, latest))

    def _rows(self, path: Path, sink: QuarantineSink, source_file: str, latest: datetime) -> Iterator[dict]:
        """Spans numbered by line for JSON Lines; for a document, numbered in file order."""
        if is_json_lines(path):
            for line_no, traces in iter_json_lines(path, sink, source_file):
                for where, span, resource in self._spans(traces.get("resourceSpans"), 0):
                    yield from self._span_rows(where, span, resource, sink, source_file, latest, line_no, traces)
            return
        number = 0
        for index, resource_spans in iter_document_items(path, sink, source_file, "resourceSpans"):
            for where, span, resource in self._spans([resource_spans], index - 1):
                number += 1
                yield from self._span_rows(where, span, resource, sink, source_file, latest, number, resource_spans)

    @staticmethod
    def _spans(resource_spans: Any, first: int) -> Iterator[tuple[str, Any, dict[str, Any] | BadRecord]]:
        """(where, span, its resource's attributes or the BadRecord that spoils them)."""
        if not isinstance(resource_spans, list):
            yield "resourceSpans", None, BadRecord("'resourceSpans' must be an array")
            return
        for i, rs in enumerate(resource_spans, start=first):
            at = f"resourceSpans[{i}]"
            try:
                if not isinstance(rs, dict):
                    raise BadRecord(f"'{at}' must be an object")
                resource = as_object(rs.get("resource"), f"{at}.resource")
                resource = attributes(resource.get("attributes"), f"{at}.resource.attributes")
                require_unicode(resource)
                scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans")) or []
                if not isinstance(scopes, list):
                    raise BadRecord(f"'{at}.scopeSpans' must be an array")
            except BadRecord as exc:
                yield at, None, exc
                continue
            for j, scope in enumerate(scopes):
                spans = scope.get("spans") if isinstance(scope, dict) else None
                if not isinstance(spans, list):
                    yield f"{at}.scopeSpans[{j}]", None, BadRecord("'spans' must be an array")
                    continue
                for k, span in enumerate(spans):
                    yield f"{at}.scopeSpans[{j}].spans[{k}]", span, resource

    def _span_rows(self, where, span, resource, sink, source_file, latest, number, raw) -> Iterator[dict]:
        try:
            if isinstance(resource, BadRecord):
                raise resource
            if not isinstance(span, dict):
                raise BadRecord("a span must be an object")
            require_unicode(span)
            rows = self.span_rows(span, resource, latest, source_file)
        except BadRecord as exc:
            sink.reject(source_file, number, f"{where}: {exc}", span if isinstance(span, dict) else raw)
            return
        for row in rows:
            row["source_file"] = source_file
            row["source_record"] = number
            yield row

    def span_rows(
        self, span: dict[str, Any], resource: dict[str, Any], latest: datetime, source_file: str
    ) -> list[dict]:
        """The event rows of one span (none for spans that are not agent work)."""
        attrs = attributes(span.get("attributes"))
        operation = text_attribute(attrs, "gen_ai.operation.name")
        gen_ai = [key for key in attrs if key.startswith("gen_ai.")]
        if gen_ai:  # drift is tallied over GenAI spans: their fields and GenAI attributes
            self.note_fields(source_file, [*span, *gen_ai])
        if operation == TOOL_OPERATION:
            spec = self.tools.get(text_attribute(attrs, "gen_ai.tool.name"))
            if spec is None:
                return []  # a tool the mapping does not name has no side effect we audit
        elif operation not in RUN_OPERATIONS:
            return []
        trace_id = hex_id(span, "traceId", 32)
        span_id = hex_id(span, "spanId", 16)
        start = not_after(parse_epoch_nanos(span.get("startTimeUnixNano"), "startTimeUnixNano"), latest, "startTimeUnixNano")
        end_raw = span.get("endTimeUnixNano")
        end = None
        if end_raw not in (None, 0, "0"):
            end = not_after(parse_epoch_nanos(end_raw, "endTimeUnixNano"), latest, "endTimeUnixNano")
            if end < start:
                raise BadRecord("field 'endTimeUnixNano' is before 'startTimeUnixNano'")
        code = status_code(span)
        name = attrs.get(self.workflow_attribute, resource.get(self.workflow_attribute))
        base = {
            "run_id": trace_id,
            "workflow": resolve_workflow(self.options.options, name if isinstance(name, str) else None),
            "extra": dumps(
                {
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "span_name": span.get("name"),
                    "attributes": {k: v for k, v in attrs.items() if k not in CONTENT_ATTRIBUTES},
                }
            ),
        }
        error_type = attrs.get("error.type")
        failed = code == STATUS_ERROR or error_type is not None
        message = as_object(span.get("status"), "status").get("message")
        message = str(message) if message not in (None, "") else None
        if operation in RUN_OPERATIONS:
            return self._run_rows(span_id, base, start, end, failed, error_type, message)
        return self._tool_rows(spec, span_id, attrs, base, start, end, failed, error_type, message)

    def _run_rows(self, span_id, base, start, end, failed, error_type, message) -> list[dict]:
        rows = [workflow_event(event_id=f"{base['run_id']}:{span_id}:run.started", ts=start, type="run.started", **base)]
        if end is not None:
            kind = "run.failed" if failed else "run.completed"
            rows.append(
                workflow_event(
                    event_id=f"{base['run_id']}:{span_id}:{kind}", ts=end, type=kind,
                    status="failed" if failed else "completed",
                    error_kind=str(error_type) if failed and error_type is not None else None,
                    error_message=message if failed else None, **base,
                )
            )  # fmt: skip
        return rows

    def _tool_rows(
        self, spec: ActionSpec, span_id, attrs, base, start, end, failed, error_type, message
    ) -> list[dict]:
        arguments = jsonish(attrs.get("gen_ai.tool.call.arguments"))
        call_id = text_attribute(attrs, "gen_ai.tool.call.id")
        intent = spec.intent_fields(arguments, str(call_id) if call_id else f"{base['run_id']}:{span_id}")
        ids = f"{base['run_id']}:{span_id}"
        rows = [
            workflow_event(event_id=f"{ids}:intent.declared", ts=start, type="intent.declared",
                           expected=spec.expected_values(arguments), **intent, **base),
            workflow_event(event_id=f"{ids}:action.attempted", ts=start, type="action.attempted", **intent, **base),
        ]  # fmt: skip
        if end is None:
            return rows  # still open when exported: the attempt alone is what is known
        if failed:
            kind, error_kind = self.error_kind(error_type)
            rows.append(
                workflow_event(event_id=f"{ids}:{kind}", ts=end, type=kind, error_kind=error_kind,
                               error_message=message or (str(error_type) if error_type else None), **intent, **base)
            )  # fmt: skip
        else:
            receipt = spec.receipt_id(jsonish(attrs.get("gen_ai.tool.call.result")))
            rows.append(
                workflow_event(event_id=f"{ids}:action.succeeded", ts=end, type="action.succeeded",
                               receipt_external_id=receipt, **intent, **base)
            )  # fmt: skip
        return rows

    def error_kind(self, error_type: Any) -> tuple[str, str]:
        """(event type, error kind): a timeout leaves the outcome unknown."""
        text = "" if error_type is None else str(error_type)
        if text in self.timeout_errors or TIMEOUT.search(text):
            return "action.timed_out", "timeout"
        if re.fullmatch(r"5\d\d", text):
            return "action.failed", "http_5xx"
        if re.fullmatch(r"4\d\d", text):
            return "action.failed", "http_4xx"
        return "action.failed", text or "error"
