"""Temporal workflow histories as JSON (`{"events": [...]}`, as `temporal workflow show
--output json` and the SDKs' replay files write them), one workflow execution per file.

Events are streamed one at a time. Both spellings of event types are read
(`ActivityTaskScheduled` and `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`); int64 values may be
strings or numbers. Activities named under `options.activities` become intents:
scheduled -> intent.declared, started -> action.attempted, completed -> action.succeeded
(receipt read from the result), failed -> action.failed, timed out -> action.timed_out,
canceled -> action.failed (error kind `canceled`). The execution's started, completed,
continued-as-new, failed, timed-out, terminated and canceled events set the run status.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink, Reader
from connectors.files import iter_json_records, numbered_rows
from connectors.runtime_options import (
    ActionSpec,
    action_specs,
    check_runtime_options,
    resolve_workflow,
    workflow_event,
)
from connectors.schema import EVENT_SCHEMA
from connectors.values import BadRecord, as_object, dig, not_after, parse_nested_json, parse_rfc3339

# temporalio/api enums/v1/event_type.proto, in the short spelling. Another type is a bad
# record: skipping it could drop an activity's attempt or outcome unseen.
EVENT_TYPES = (
    "WorkflowExecutionStarted", "WorkflowExecutionCompleted", "WorkflowExecutionFailed",
    "WorkflowExecutionTimedOut", "WorkflowTaskScheduled", "WorkflowTaskStarted",
    "WorkflowTaskCompleted", "WorkflowTaskTimedOut", "WorkflowTaskFailed",
    "ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted", "ActivityTaskFailed",
    "ActivityTaskTimedOut", "ActivityTaskCancelRequested", "ActivityTaskCanceled",
    "TimerStarted", "TimerFired", "TimerCanceled", "WorkflowExecutionCancelRequested",
    "WorkflowExecutionCanceled", "RequestCancelExternalWorkflowExecutionInitiated",
    "RequestCancelExternalWorkflowExecutionFailed", "ExternalWorkflowExecutionCancelRequested",
    "MarkerRecorded", "WorkflowExecutionSignaled", "WorkflowExecutionTerminated",
    "WorkflowExecutionContinuedAsNew", "StartChildWorkflowExecutionInitiated",
    "StartChildWorkflowExecutionFailed", "ChildWorkflowExecutionStarted",
    "ChildWorkflowExecutionCompleted", "ChildWorkflowExecutionFailed",
    "ChildWorkflowExecutionCanceled", "ChildWorkflowExecutionTimedOut",
    "ChildWorkflowExecutionTerminated", "SignalExternalWorkflowExecutionInitiated",
    "SignalExternalWorkflowExecutionFailed", "ExternalWorkflowExecutionSignaled",
    "UpsertWorkflowSearchAttributes", "WorkflowExecutionUpdateAccepted",
    "WorkflowExecutionUpdateRejected", "WorkflowExecutionUpdateCompleted",
    "WorkflowPropertiesModifiedExternally", "ActivityPropertiesModifiedExternally",
    "WorkflowPropertiesModified", "WorkflowExecutionUpdateAdmitted", "NexusOperationScheduled",
    "NexusOperationStarted", "NexusOperationCompleted", "NexusOperationFailed",
    "NexusOperationCanceled", "NexusOperationTimedOut", "NexusOperationCancelRequested",
    "WorkflowExecutionOptionsUpdated", "NexusOperationCancelRequestCompleted",
    "NexusOperationCancelRequestFailed",
)  # fmt: skip
KNOWN_TYPES = frozenset(EVENT_TYPES)
EVENT_FIELDS = frozenset(
    {"eventId", "eventTime", "eventType", "version", "taskId", "workerMayIgnore", "userMetadata", "links", "principal"}
)
RUN_STATUS = {
    "WorkflowExecutionCompleted": ("run.completed", "completed"),
    "WorkflowExecutionContinuedAsNew": ("run.completed", "continued_as_new"),
    "WorkflowExecutionFailed": ("run.failed", "failed"),
    "WorkflowExecutionTimedOut": ("run.failed", "timed_out"),
    "WorkflowExecutionTerminated": ("run.failed", "terminated"),
    "WorkflowExecutionCanceled": ("run.failed", "canceled"),
}
ACTIVITY_OUTCOMES = {
    "ActivityTaskStarted": "action.attempted",
    "ActivityTaskCompleted": "action.succeeded",
    "ActivityTaskFailed": "action.failed",
    "ActivityTaskTimedOut": "action.timed_out",
    "ActivityTaskCanceled": "action.failed",
}
TERMINAL = frozenset(ACTIVITY_OUTCOMES) - {"ActivityTaskStarted"}
JSON_ENCODINGS = frozenset({"json/plain", "json/protobuf"})


def event_type(value: Any) -> str:
    """The short spelling of an event type (`EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` ->
    `ActivityTaskScheduled`)."""
    if not isinstance(value, str) or not value:
        raise BadRecord(f"missing or non-string required field 'eventType': {value!r}")
    kind = value
    if value.startswith("EVENT_TYPE_"):
        kind = "".join(part.capitalize() for part in value[len("EVENT_TYPE_") :].split("_"))
    if kind not in KNOWN_TYPES:
        raise BadRecord(f"unknown event type {value!r} in field 'eventType'")
    return kind


def attributes_key(kind: str) -> str:
    return kind[0].lower() + kind[1:] + "EventAttributes"


def int64(value: Any, key: str) -> int:
    """An int64 given as a number or a decimal string."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadRecord(f"field '{key}' must be an integer (number or string), got {value!r}")


def payload_value(payload: Any) -> Any:
    """One Payload's value: JSON payloads decoded, others as text, undecodable as None."""
    if not isinstance(payload, dict):
        return None
    metadata = payload.get("metadata")
    encoding = _text_field(metadata.get("encoding") if isinstance(metadata, dict) else None)
    data = payload.get("data")
    if data is None or encoding == "binary/null":
        return None
    raw = _b64(data) if isinstance(data, str) else None
    if raw is None:
        return data  # already decoded by the exporter
    if encoding in JSON_ENCODINGS:
        try:
            return parse_nested_json(raw)
        except (ValueError, RecursionError):
            return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def payloads_value(payloads: Any) -> Any:
    """`{"payloads": [...]}`: one payload's value, or a list for several arguments."""
    items = payloads.get("payloads") if isinstance(payloads, dict) else None
    if not isinstance(items, list) or not items:
        return None
    values = [payload_value(p) for p in items]
    return values[0] if len(values) == 1 else values


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _text_field(value: Any) -> str | None:
    """Payload metadata values are base64 in proto JSON; some exporters write them plain."""
    if not isinstance(value, str):
        return None
    raw = _b64(value)
    if raw is not None:
        try:
            decoded = raw.decode("ascii")
            if "/" in decoded:
                return decoded
        except UnicodeDecodeError:
            pass
    return value


# How far down a failure's `cause` chain a message is looked for.
CAUSE_DEPTH = 32


def failure_message(failure: Any) -> str | None:
    """A Failure's message: the first non-empty one down its `cause` chain (a workflow's
    failure often wraps the activity's, whose text is the cause's), with the timeout type
    where the failure is a timeout."""
    if not isinstance(failure, dict):
        return None
    message = None
    cause: Any = failure
    for _ in range(CAUSE_DEPTH):
        if not isinstance(cause, dict):
            break
        if cause.get("message") not in (None, ""):
            message = str(cause["message"])
            break
        cause = cause.get("cause")
    timeout = dig(failure, "timeoutFailureInfo.timeoutType")
    if timeout:
        timeout = str(timeout).removeprefix("TIMEOUT_TYPE_")
        message = f"{message} ({timeout})" if message else str(timeout)
    return message


class TemporalReader(Reader):
    name = "temporal"
    layer = "workflow"
    schema = EVENT_SCHEMA
    known_fields = EVENT_FIELDS | {attributes_key(kind) for kind in EVENT_TYPES}
    expected_fields = frozenset({"eventId", "eventTime", "eventType"})

    def __init__(self, options) -> None:
        super().__init__(options)
        self.activities = action_specs(options.options, "activities")

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        check_runtime_options(options, "activities")

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        history = _History(self, path.name.split(".")[0], self.latest_plausible(path))

        build = self.noting(source_file, history.event_rows)
        events = iter_json_records(path, sink, source_file, "events")
        yield from self.to_batches(numbered_rows(events, sink, source_file, build))


class _History:
    """What reading one history remembers: the run, and activities scheduled but not
    yet finished (finished ones are dropped, so memory follows open activities)."""

    def __init__(self, reader: TemporalReader, fallback_run_id: str, latest: datetime) -> None:
        self.reader = reader
        self.options = reader.options.options
        self.run_id = fallback_run_id
        self.workflow_name: str | None = None
        self.latest = latest
        # scheduledEventId -> (spec, intent columns) for mapped activities, None for others
        self.open: dict[int, tuple[ActionSpec, dict[str, Any]] | None] = {}

    def event_rows(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event_type(event.get("eventType"))
        event_id = int64(event.get("eventId"), "eventId")
        ts = not_after(parse_rfc3339(event.get("eventTime"), "eventTime"), self.latest, "eventTime")
        attrs = as_object(event.get(attributes_key(kind)), attributes_key(kind))
        if kind == "WorkflowExecutionStarted":
            self.run_id = str(attrs.get("originalExecutionRunId") or attrs.get("firstExecutionRunId") or self.run_id)
            name = dig(attrs, "workflowType.name")
            self.workflow_name = name if isinstance(name, str) and name else None
            return [self._event(event_id, kind, ts, "run.started", status="running")]
        if kind in RUN_STATUS:
            type_, status = RUN_STATUS[kind]
            failed = type_ == "run.failed"
            return [
                self._event(event_id, kind, ts, type_, status=status,
                            error_kind=status if failed else None,
                            error_message=failure_message(attrs.get("failure")) if failed else None)
            ]  # fmt: skip
        if kind == "ActivityTaskScheduled":
            return self._scheduled(event_id, kind, ts, attrs)
        if kind in ACTIVITY_OUTCOMES:
            return self._outcome(event_id, kind, ts, attrs)
        return []  # workflow tasks, timers, signals...: nothing the audit compares

    def _scheduled(self, event_id: int, kind: str, ts: datetime, attrs: dict[str, Any]) -> list[dict]:
        activity = dig(attrs, "activityType.name")
        if not isinstance(activity, str) or not activity:
            raise BadRecord(f"field '{attributes_key(kind)}.activityType.name' is missing")
        spec = self.reader.activities.get(activity)
        if spec is None:
            self.open[event_id] = None
            return []
        arguments = payloads_value(attrs.get("input"))
        activity_id = attrs.get("activityId") or str(event_id)
        intent = spec.intent_fields(arguments, f"{self.run_id}:{activity_id}")
        self.open[event_id] = (spec, intent)
        return [
            self._event(event_id, kind, ts, "intent.declared", expected=spec.expected_values(arguments), **intent)
        ]

    def _outcome(self, event_id: int, kind: str, ts: datetime, attrs: dict[str, Any]) -> list[dict]:
        key = f"{attributes_key(kind)}.scheduledEventId"
        scheduled = int64(attrs.get("scheduledEventId"), key)
        if scheduled not in self.open:
            raise BadRecord(f"field '{key}' names event {scheduled}, which is not an ActivityTaskScheduled read before it")
        entry = self.open.pop(scheduled) if kind in TERMINAL else self.open[scheduled]
        if entry is None:
            return []
        spec, intent = entry
        type_ = ACTIVITY_OUTCOMES[kind]
        values: dict[str, Any] = dict(intent)
        if kind == "ActivityTaskStarted":
            attempt = attrs.get("attempt")
            values["attempt"] = int64(attempt, "attempt") if attempt is not None else None
            if values["attempt"] is not None and not 1 <= values["attempt"] < 2**31:
                raise BadRecord(f"field 'attempt' must be an integer >= 1, got {attempt!r}")
        elif kind == "ActivityTaskCompleted":
            values["receipt_external_id"] = spec.receipt_id(payloads_value(attrs.get("result")))
        elif kind == "ActivityTaskTimedOut":
            values.update(error_kind="timeout", error_message=failure_message(attrs.get("failure")))
        elif kind == "ActivityTaskCanceled":
            values.update(error_kind="canceled", error_message="activity canceled")
        else:
            failure = attrs.get("failure")
            error_type = dig(failure, "applicationFailureInfo.type") if isinstance(failure, dict) else None
            values.update(error_kind=str(error_type) if error_type else "activity_failed",
                          error_message=failure_message(failure))  # fmt: skip
        return [self._event(event_id, kind, ts, type_, **values)]

    def _event(self, event_id: int, kind: str, ts: datetime, type_: str, **values: Any) -> dict[str, Any]:
        return workflow_event(
            event_id=f"{self.run_id}:{event_id}:{type_}",
            ts=ts,
            type=type_,
            run_id=self.run_id,
            workflow=resolve_workflow(self.options, self.workflow_name),
            extra=json.dumps({"temporal_event_id": event_id, "temporal_event_type": kind}, sort_keys=True),
            **values,
        )
