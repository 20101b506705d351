"""OpenTelemetry traces as OTLP/JSON: agent spans per the GenAI semantic conventions.

Reads the collector file exporter's JSON Lines (one `TracesData` per line) and single
OTLP/JSON documents (`{"resourceSpans": [...]}`, streamed one ResourceSpans at a time),
maybe gzipped. Ids are hex, or base64 bytes as protobuf's own JSON mapping writes them.
A trace is a run. Spans whose `gen_ai.operation.name` is `invoke_workflow` or
`invoke_agent` give the run's start and end; `execute_tool` spans of the tools named
under `options.tools` give intents and their outcomes. Other spans (model calls, HTTP,
read-only tools) give no rows. Instrumentations that name things otherwise (pydantic-ai,
OpenInference) are read through presets (`options.instrumentation`).

An `exception` span event gives a failed call's message and type; a timeout (by type or
message) leaves the outcome unknown: `action.timed_out`. Conversation content (prompts,
completions, messages, tool arguments and results) is read for the mapping only and
never written to a row, nor to a quarantine excerpt.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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
    option_choices,
    option_str,
    option_strings,
    resolve_workflow,
    workflow_event,
)
from connectors.schema import EVENT_SCHEMA
from connectors.values import (
    BadRecord,
    as_object,
    describe,
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
# Error or exception types that mean "the outcome is unknown" rather than "it failed"
# (TimeoutError, asyncio.TimeoutError, socket.timeout, ReadTimeout, DeadlineExceeded...),
# and messages that say so.
TIMEOUT = re.compile(r"time.?out|timed.?out|deadline", re.IGNORECASE)
TIMEOUT_MESSAGE = re.compile(r"time-?out|timed[ _-]?out|deadline[ _-]?exceeded", re.IGNORECASE)

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
        "gen_ai.output.type", "gen_ai.token.type", "gen_ai.prompt", "gen_ai.completion",
    }
)  # fmt: skip
# Conversation content (prompts, completions, messages, instructions, tool arguments and
# results, retrieved documents) as the GenAI conventions (current and deprecated),
# pydantic-ai, OpenInference and OpenLLMetry name it, and exception stack traces: read for
# the mapping where named, never written to any column (nor a quarantine excerpt).
CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.input.messages",
        "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions",
        "gen_ai.prompt", "gen_ai.completion", "all_messages_events", "final_result", "tool_arguments",
        "tool_response", "input.value", "output.value", "llm.input_messages", "llm.output_messages",
        "llm.prompts", "llm.choices", "llm.function_call", "llm.tools", "llm.prompt_template.template",
        "llm.prompt_template.variables", "retrieval.documents", "reranker.query", "reranker.input_documents",
        "reranker.output_documents", "embedding.embeddings", "embedding.text", "message.content",
        "tool.parameters", "traceloop.entity.input", "traceloop.entity.output", "exception.message",
        "exception.stacktrace",
    }
)  # fmt: skip
CONTENT_PREFIXES = (
    "gen_ai.prompt.", "gen_ai.completion.", "pydantic_ai.", "llm.input_messages.", "llm.output_messages.",
    "llm.prompts.", "llm.choices.", "llm.tools.", "llm.prompt_template.", "retrieval.documents.",
    "reranker.input_documents.", "reranker.output_documents.", "embedding.embeddings.", "message.",
    "input.", "output.",
)  # fmt: skip
GEN_AI_FAMILIES = ("gen_ai.request.", "gen_ai.response.", "gen_ai.usage.", "gen_ai.openai.")


@dataclass(frozen=True)
class Instrumentation:
    """Where one instrumentation library puts what the reader needs. `gen_ai.operation.name`
    always counts; a span without it may be told by its name or a span-kind attribute."""

    name: str
    arguments: tuple[str, ...]  # attributes holding a tool call's arguments
    results: tuple[str, ...]  # ... and its result
    tool_names: tuple[str, ...] = ("gen_ai.tool.name",)
    call_ids: tuple[str, ...] = ("gen_ai.tool.call.id",)
    span_names: dict[str, str] = field(default_factory=dict)  # span name -> operation
    kind_attribute: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # its value -> operation

    def operation(self, span: dict[str, Any], attrs: dict[str, Any]) -> str | None:
        if self.kind_attribute is not None:
            kind = text_attribute(attrs, self.kind_attribute)
            if kind in self.kinds:
                return self.kinds[kind]
        name = span.get("name")
        return self.span_names.get(name) if isinstance(name, str) else None


PRESETS = {
    # The OpenTelemetry GenAI semantic conventions (and pydantic-ai from instrumentation version 3).
    "genai": Instrumentation("genai", ("gen_ai.tool.call.arguments",), ("gen_ai.tool.call.result",)),
    # pydantic-ai's default instrumentation (version 2): `running tool` / `agent run` spans.
    "pydantic_ai": Instrumentation(
        "pydantic_ai", ("tool_arguments",), ("tool_response",),
        span_names={"running tool": TOOL_OPERATION, "agent run": "invoke_agent"},
    ),
    # OpenInference (Arize Phoenix and its instrumentors): TOOL and AGENT span kinds.
    "openinference": Instrumentation(
        "openinference", ("input.value",), ("output.value",), tool_names=("tool.name",),
        call_ids=("tool.id", "tool_call.id"), kind_attribute="openinference.span.kind",
        kinds={"TOOL": TOOL_OPERATION, "AGENT": "invoke_agent"},
    ),
}  # fmt: skip
DEFAULT_INSTRUMENTATION = "genai"


def is_content(name: str) -> bool:
    """Whether an attribute (by the conventions' names) holds conversation content."""
    return name in CONTENT_ATTRIBUTES or name.startswith(CONTENT_PREFIXES)


def _once(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


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


_HEX = re.compile("[0-9a-fA-F]+")
_BASE64 = re.compile("[A-Za-z0-9+/_-]+={0,2}")


def _base64_bytes(text: str, size: int) -> bytes | None:
    """`size` bytes from base64 (standard or URL-safe, padded or not, as protobuf's JSON
    mapping accepts), else None."""
    body = text.rstrip("=")
    if not _BASE64.fullmatch(text) or len(body) != -(-size * 4 // 3):
        return None
    padded = body + "=" * (-len(body) % 4)
    if text not in (body, padded):
        return None
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def id_text(value: Any, digits: int) -> str | None:
    """A trace or span id as lowercase hex: `digits` hex digits (OTLP/JSON) or base64 of
    `digits / 2` bytes (protobuf's JSON mapping); None when it is neither, or all zero."""
    if not isinstance(value, str):
        return None
    if len(value) == digits and _HEX.fullmatch(value):
        text = value.lower()
    else:
        raw = _base64_bytes(value, digits // 2)
        text = raw.hex() if raw is not None else None
    return text if text and text.strip("0") else None


def hex_id(span: dict[str, Any], key: str, digits: int) -> str:
    """A trace or span id as lowercase hex (see `id_text`), else a bad record."""
    text = id_text(span.get(key), digits)
    if text is None:
        raise BadRecord(
            f"field '{key}' must be {digits} hex digits or base64 of {digits // 2} bytes, not all zero: "
            f"{describe(span.get(key))}"
        )
    return text


def exception_event(span: dict[str, Any], attrs: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """(type, message) of the span's `exception` event (the last that escaped, else the
    last); without one, of `exception.*` span attributes; None when there is neither. A
    malformed event is passed over: it cannot spoil the span's other facts."""
    found: dict[str, Any] | None = None
    events = span.get("events")
    for index, event in enumerate(events if isinstance(events, list) else []):
        if not isinstance(event, dict) or event.get("name") != "exception":
            continue
        try:
            values = attributes(event.get("attributes"), f"events[{index}].attributes")
        except BadRecord:
            continue
        if found is None or found.get("exception.escaped") is not True or values.get("exception.escaped") is True:
            found = values
    if found is None:
        if "exception.type" not in attrs and "exception.message" not in attrs:
            return None
        found = attrs
    kind, message = found.get("exception.type"), found.get("exception.message")
    return (
        str(kind) if isinstance(kind, str | int) and not isinstance(kind, bool) and kind != "" else None,
        message if isinstance(message, str) and message else None,
    )


def without_content(value: Any, content: Callable[[str], bool] = is_content) -> Any:
    """An OTLP value (a span, a ResourceSpans, a TracesData) without its content
    attributes (`{key, value}` items whose key is `content`), for quarantine excerpts."""

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            return [
                walk(child) for child in item
                if not (isinstance(child, dict) and isinstance(child.get("key"), str) and content(child["key"]))
            ]  # fmt: skip
        if isinstance(item, dict):
            return {key: walk(child) for key, child in item.items()}
        return item

    try:
        return walk(value)
    except RecursionError:
        return None


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
        self.timeout_errors = set(option_strings(opts, "timeout_errors"))
        names = option_choices(opts, "instrumentation", PRESETS) or [DEFAULT_INSTRUMENTATION]
        self.presets = [PRESETS[name] for name in names]
        # Attribute names tried in order: the configured ones, then each preset's.
        self.arguments = _once([*option_strings(opts, "arguments_attribute"), *(a for p in self.presets for a in p.arguments)])
        self.results = _once([*option_strings(opts, "result_attribute"), *(a for p in self.presets for a in p.results)])
        self.tool_names = _once(a for p in self.presets for a in p.tool_names)
        self.call_ids = _once(a for p in self.presets for a in p.call_ids)
        self.named_content = frozenset(self.arguments) | frozenset(self.results)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        check_runtime_options(options, "tools", "workflow_attribute", "timeout_errors", "instrumentation",
                              "arguments_attribute", "result_attribute")  # fmt: skip
        option_str(options, "workflow_attribute")
        option_strings(options, "timeout_errors")
        option_choices(options, "instrumentation", PRESETS, noun="instrumentation")
        option_strings(options, "arguments_attribute")
        option_strings(options, "result_attribute")

    def is_content(self, name: str) -> bool:
        return is_content(name) or name in self.named_content

    def operation(self, span: dict[str, Any], attrs: dict[str, Any]) -> str | None:
        """`gen_ai.operation.name`, else what the configured instrumentations tell."""
        operation = text_attribute(attrs, "gen_ai.operation.name")
        for preset in self.presets:
            if operation is not None:
                break
            operation = preset.operation(span, attrs)
        return operation

    @staticmethod
    def first(attrs: dict[str, Any], names: Iterable[str]) -> Any:
        """The value of the first of `names` the span has."""
        return next((attrs[name] for name in names if attrs.get(name) is not None), None)

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
        for index, resource_spans in iter_document_items(path, sink, source_file, "resourceSpans", listed=True):
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
                scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans"))
                if scopes is None:
                    scopes = []  # no spans: absent and null mean the same; false, 0, "" or {} do not
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
            shown = span if isinstance(span, dict) else raw
            sink.reject(source_file, number, f"{where}: {exc}", without_content(shown, self.is_content))
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
        operation = self.operation(span, attrs)
        gen_ai = [key for key in attrs if key.startswith("gen_ai.")]
        if gen_ai:  # drift is tallied over GenAI spans: their fields and GenAI attributes
            self.note_fields(source_file, [*span, *gen_ai])
        if operation == TOOL_OPERATION:
            tool = self.first(attrs, self.tool_names)
            spec = self.tools.get(tool) if isinstance(tool, str) else None
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
        parent = id_text(span.get("parentSpanId"), 16)
        base = {
            "run_id": trace_id,
            "workflow": resolve_workflow(self.options.options, name if isinstance(name, str) else None),
            "extra": dumps(
                {
                    "trace_id": trace_id,
                    "span_id": span_id,
                    **({"parent_span_id": parent} if parent else {}),
                    "span_name": span.get("name"),
                    # Never conversation content: the audit needs ids, names and kinds.
                    "attributes": {k: v for k, v in attrs.items() if not self.is_content(k)},
                }
            ),
        }
        error_type = attrs.get("error.type")
        error_type = None if error_type in (None, "") else str(error_type)
        failed = code == STATUS_ERROR or error_type is not None
        exception = exception_event(span, attrs) or (None, None)
        status_message = as_object(span.get("status"), "status").get("message")
        status_message = str(status_message) if status_message not in (None, "") else None
        error = _Error(error_type, exception[0], exception[1] or status_message)
        if operation in RUN_OPERATIONS:
            return self._run_rows(span_id, base, start, end, failed, error)
        return self._tool_rows(spec, span_id, attrs, base, start, end, failed, error)

    def _run_rows(self, span_id, base, start, end, failed, error: _Error) -> list[dict]:
        rows = [workflow_event(event_id=f"{base['run_id']}:{span_id}:run.started", ts=start, type="run.started", **base)]
        if end is not None:
            kind = "run.failed" if failed else "run.completed"
            rows.append(
                workflow_event(
                    event_id=f"{base['run_id']}:{span_id}:{kind}", ts=end, type=kind,
                    status="failed" if failed else "completed",
                    error_kind=(error.type or error.exception_type) if failed else None,
                    error_message=error.message if failed else None, **base,
                )
            )  # fmt: skip
        return rows

    def _tool_rows(self, spec: ActionSpec, span_id, attrs, base, start, end, failed, error: _Error) -> list[dict]:
        arguments = jsonish(self.first(attrs, self.arguments))
        call_id = self.first(attrs, self.call_ids)
        call_id = str(call_id) if isinstance(call_id, str | int) and not isinstance(call_id, bool) else None
        intent = spec.intent_fields(arguments, call_id if call_id else f"{base['run_id']}:{span_id}")
        ids = f"{base['run_id']}:{span_id}"
        rows = [
            workflow_event(event_id=f"{ids}:intent.declared", ts=start, type="intent.declared",
                           expected=spec.expected_values(arguments), **intent, **base),
            workflow_event(event_id=f"{ids}:action.attempted", ts=start, type="action.attempted", **intent, **base),
        ]  # fmt: skip
        if end is None:
            return rows  # still open when exported: the attempt alone is what is known
        if failed:
            kind, error_kind = self.error_kind(error.type, error.exception_type, error.message)
            message = error.message or error.type or error.exception_type
            rows.append(
                workflow_event(event_id=f"{ids}:{kind}", ts=end, type=kind, error_kind=error_kind,
                               error_message=message, **intent, **base)
            )  # fmt: skip
        else:
            receipt = spec.receipt_id(jsonish(self.first(attrs, self.results)))
            rows.append(
                workflow_event(event_id=f"{ids}:action.succeeded", ts=end, type="action.succeeded",
                               receipt_external_id=receipt, **intent, **base)
            )  # fmt: skip
        return rows

    def error_kind(self, error_type: Any, exception_type: str | None = None, message: str | None = None) -> tuple[str, str]:
        """(event type, error kind): a timeout (by `error.type`, the exception's type or
        the message) leaves the outcome unknown; other errors are kinds of failure."""
        types = [str(kind) for kind in (error_type, exception_type) if kind not in (None, "")]
        if any(kind in self.timeout_errors or TIMEOUT.search(kind) for kind in types) or (
            message and TIMEOUT_MESSAGE.search(message)
        ):
            return "action.timed_out", "timeout"
        text = types[0] if types else ""
        if re.fullmatch(r"5\d\d", text):
            return "action.failed", "http_5xx"
        if re.fullmatch(r"4\d\d", text):
            return "action.failed", "http_4xx"
        return "action.failed", text or "error"


@dataclass(frozen=True)
class _Error:
    """What a span says went wrong: `error.type`, the exception's type, and the message
    (the exception's, else the span status's)."""

    type: str | None
    exception_type: str | None
    message: str | None
