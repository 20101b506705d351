"""Property tests (Hypothesis) for every connector: truncated files, invalid UTF-8, wrong
types, missing required fields, unknown fields, huge lines, duplicate ids, timestamps
without offset or in the future, empty files, gzip that ends early. Never a crash; every
bad record quarantined with its file, number and reason; every good one kept."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.event_log import EventLogReader
from connectors.generic import GenericReader
from connectors.hubspot import HubSpotReader
from connectors.otel import OtelReader
from connectors.postmark import PostmarkReader
from connectors.s3_inventory import S3InventoryReader
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.temporal import TemporalReader
from connectors.zendesk import ZendeskReader
from tests.connectors.hostile import (
    BAD,
    GOOD,
    SILENT,
    Format,
    check,
    check_fuzzed,
    damages,
    fuzzed,
    records,
    write,
)

TS = "2025-03-06T10:00:00Z"
NAIVE = "2025-03-06T10:00:00"
FUTURE = "2099-01-01T00:00:00Z"
BAD_BYTES = b'{"name": "caf\xe9 \xff"}'


def merged(base: dict, extra: dict) -> dict:
    return {**extra, **base}


def without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


# --- workflow logs ------------------------------------------------------------------


def event(n, extra, **changes):
    return merged({"event_id": f"ev_{n}", "ts": TS, "type": "run.started", "run_id": f"run_{n}",
                   "workflow": "refund_order", **changes}, extra)  # fmt: skip


EVENT_LOG = Format(EventLogReader, "lines", suffix=".jsonl", templates=[
    (GOOD, lambda n, x: event(n, x)),
    (GOOD, lambda n, x: event(0, x)),  # the same event_id again: the recorded layer dedupes
    (BAD, lambda n, x: event(n, x, ts=FUTURE)),  # after its export, as every connector judges
    (BAD, lambda n, x: without(event(n, x), "run_id")),
    (BAD, lambda n, x: event(n, x, ts=NAIVE)),
    (BAD, lambda n, x: event(n, x, type="run.exploded")),
    (BAD, lambda n, x: event(n, x, event_id=["not", "a", "string"])),
    (BAD, lambda n, x: BAD_BYTES),
    (BAD, lambda n, x: b'{"event_id": "ev_cut", "ts": '),
    (BAD, lambda n, x: b"[1, 2]"),
])  # fmt: skip


def span_line(n, extra, operation="execute_tool", **changes):
    attributes = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": operation}},
        {"key": "gen_ai.tool.name", "value": {"stringValue": "issue_refund"}},
        {"key": "gen_ai.tool.call.arguments", "value": {"stringValue": json.dumps({"intent_id": f"int_{n}"})}},
    ]
    span = {"traceId": f"{n:032x}", "spanId": f"{n:016x}", "name": "execute_tool issue_refund",
            "startTimeUnixNano": str(1741255200 * 10**9 + n), "endTimeUnixNano": 1741255201 * 10**9,
            "attributes": attributes, "status": {"code": 1}, **extra, **changes}  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "support-agent"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "x"}, "spans": [span]}]}]}


OTEL = Format(
    OtelReader, "lines", suffix=".jsonl", many_per_record=True,
    options={"tools": {"issue_refund": {"action": "stripe.refund.create", "intent_id": "intent_id"}},
             "workflows": {"support-agent": "refund_order"}},
    templates=[
        (GOOD, lambda n, x: span_line(n, x)),
        (GOOD, lambda n, x: span_line(1, x)),  # the same span again
        (GOOD, lambda n, x: span_line(n, x, operation="invoke_agent", traceId=f"{n:032X}")),
        (SILENT, lambda n, x: span_line(n, x, operation="chat")),
        (SILENT, lambda n, x: {"resourceSpans": []}),
        (BAD, lambda n, x: span_line(n, x, traceId="zz")),
        (BAD, lambda n, x: span_line(n, x, startTimeUnixNano=None)),
        (BAD, lambda n, x: span_line(n, x, startTimeUnixNano="4070908800000000000")),  # 2099
        (BAD, lambda n, x: span_line(n, x, attributes={"gen_ai.operation.name": "execute_tool"})),
        (BAD, lambda n, x: span_line(n, x, status={"code": 9})),
        (BAD, lambda n, x: {"resourceSpans": {"not": "an array"}}),
        (BAD, lambda n, x: BAD_BYTES),
        (BAD, lambda n, x: b'{"resourceSpans": [{"scopeSpans": '),
    ],
)  # fmt: skip


def temporal_event(n, extra, kind="ActivityTaskScheduled", **changes):
    attributes = {"activityId": str(n), "activityType": {"name": "IssueRefund"}}
    if kind == "WorkflowExecutionStarted":
        attributes = {"workflowType": {"name": "RefundWorkflow"}, "originalExecutionRunId": "run-1"}
    key = kind[0].lower() + kind[1:] + "EventAttributes"
    return {"eventId": n, "eventTime": TS, "eventType": kind, key: attributes, **extra, **changes}


TEMPORAL = Format(
    TemporalReader, "array", suffix=".json", list_key="events",
    options={"activities": {"IssueRefund": {"action": "stripe.refund.create"}}},
    prefix=[(GOOD, lambda n, x: temporal_event(n, x, "WorkflowExecutionStarted"))],
    templates=[
        (GOOD, lambda n, x: temporal_event(n, x)),
        (GOOD, lambda n, x: temporal_event(n, x, eventId=str(n), eventType="EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")),
        (GOOD, lambda n, x: temporal_event(1, x, "WorkflowExecutionStarted")),  # a duplicate event
        (SILENT, lambda n, x: temporal_event(n, x, "WorkflowTaskScheduled")),
        (SILENT, lambda n, x: temporal_event(n, x, "TimerFired")),
        (BAD, lambda n, x: temporal_event(n, x, eventTime=NAIVE)),
        (BAD, lambda n, x: temporal_event(n, x, eventTime=FUTURE)),
        (BAD, lambda n, x: without(temporal_event(n, x), "eventType")),
        (BAD, lambda n, x: temporal_event(n, x, eventId="five")),
        (BAD, lambda n, x: temporal_event(n, x, "ActivityTaskCompleted", activityTaskCompletedEventAttributes={
            "scheduledEventId": "999999"})),
        (BAD, lambda n, x: temporal_event(n, x, activityTaskScheduledEventAttributes=["not", "an", "object"])),
        (BAD, lambda n, x: "an event is an object"),
    ],
)  # fmt: skip

# --- systems of record ----------------------------------------------------------


def inventory_row(n, extra, **changes):
    row = {"Bucket": "docs", "Key": quote_plus(f"receipts/int_{n}/r é+{n}.pdf"), "VersionId": f"v{n}",
           "IsLatest": "true", "IsDeleteMarker": "false", "Size": str(n), "LastModifiedDate": "2025-03-06T10:00:00.000Z"}
    row.update(changes)
    values = list(row.values())
    return [*values, extra["huge"]] if "huge" in extra else values


S3 = Format(
    S3InventoryReader, "csv", suffix=".csv",
    options={"file_schema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate",
             "correlation_key_from_key": "(int_[0-9]+)/"},
    templates=[
        (GOOD, lambda n, x: inventory_row(n, {})),
        (GOOD, lambda n, x: inventory_row(1, {})),  # the same version listed twice
        (GOOD, lambda n, x: inventory_row(n, {}, IsDeleteMarker="true", Size="")),
        (BAD, lambda n, x: inventory_row(n, {}, Size="ten")),
        (BAD, lambda n, x: inventory_row(n, {}, IsLatest="maybe")),
        (BAD, lambda n, x: inventory_row(n, {}, LastModifiedDate=NAIVE)),
        (BAD, lambda n, x: inventory_row(n, {}, LastModifiedDate=FUTURE)),
        (BAD, lambda n, x: inventory_row(n, {}, Key="%FF%FE")),
        (BAD, lambda n, x: inventory_row(n, {}, Key="")),
        (BAD, lambda n, x: inventory_row(n, {"huge": "x" * 200_000})),  # longer than any CSV field may be
        (BAD, lambda n, x: inventory_row(n, {})[:3]),
        (BAD, lambda n, x: b'"docs","caf\xe9","v","true","false","1","2025-03-06T10:00:00Z"'),
    ],
)  # fmt: skip


def postmark_event(n, extra, **changes):
    return merged({"RecordType": "Delivery", "MessageID": f"msg-{n}", "Recipient": f"u{n}@example.com",
                   "DeliveredAt": TS, "Metadata": {"reckon_intent_id": f"int_{n}"}, **changes}, extra)  # fmt: skip


POSTMARK = Format(PostmarkReader, "lines", suffix=".jsonl", correlation_paths=("Metadata.reckon_intent_id",),
                  templates=[
    (GOOD, lambda n, x: postmark_event(n, x)),
    (GOOD, lambda n, x: postmark_event(1, x)),  # a retried webhook
    (GOOD, lambda n, x: without(postmark_event(n, x, RecordType="Bounce", Type="HardBounce", BouncedAt=TS),
                                "DeliveredAt")),
    (BAD, lambda n, x: postmark_event(n, x, RecordType="Inbound")),
    (BAD, lambda n, x: without(postmark_event(n, x), "MessageID")),
    (BAD, lambda n, x: postmark_event(n, x, MessageID=12)),
    (BAD, lambda n, x: postmark_event(n, x, DeliveredAt=NAIVE)),
    (BAD, lambda n, x: postmark_event(n, x, DeliveredAt=FUTURE)),
    (BAD, lambda n, x: postmark_event(n, x, Metadata="int_1")),
    (BAD, lambda n, x: BAD_BYTES),
    (BAD, lambda n, x: b'{"RecordType": "Deliv'),
    (BAD, lambda n, x: b'"a string"'),
])  # fmt: skip

GENERIC_OPTIONS = {"external_id": "id", "status": "status", "status_map": {"success": ["ok"], "failed": ["error"]},
                   "updated_at": "ts", "correlation_keys": ["intent"]}  # fmt: skip


def generic_record(n, extra, **changes):
    return merged({"id": f"r{n}", "status": "ok", "ts": TS, "intent": f"int_{n}", **changes}, extra)


def generic_row(n, **changes):
    record = generic_record(n, {}, **changes)
    return [record["id"], record["status"], record["ts"], record["intent"]]


GENERIC_CSV = Format(GenericReader, "csv", suffix=".csv", options=GENERIC_OPTIONS, header=["id", "status", "ts", "intent"],
                     templates=[
    (GOOD, lambda n, x: generic_row(n)),
    (GOOD, lambda n, x: generic_row(1)),  # the same id again: another version
    (GOOD, lambda n, x: generic_row(n, status="error", intent="")),
    (BAD, lambda n, x: generic_row(n, id="")),
    (BAD, lambda n, x: generic_row(n, status="exploded")),
    (BAD, lambda n, x: generic_row(n, ts=NAIVE)),
    (BAD, lambda n, x: generic_row(n, ts=FUTURE)),
    (BAD, lambda n, x: generic_row(n)[:2]),
    (BAD, lambda n, x: b'"r9","ok","2025-03-06T10:00:00Z","\xff"'),
])  # fmt: skip

GENERIC_JSONL = Format(GenericReader, "lines", suffix=".jsonl", options=GENERIC_OPTIONS, templates=[
    (GOOD, lambda n, x: generic_record(n, x)),
    (GOOD, lambda n, x: generic_record(n, x, id=n)),  # an integer id
    (BAD, lambda n, x: generic_record(n, x, id=None)),
    (BAD, lambda n, x: generic_record(n, x, id=[1])),
    (BAD, lambda n, x: generic_record(n, x, status=None)),
    (BAD, lambda n, x: generic_record(n, x, ts=12)),
    (BAD, lambda n, x: BAD_BYTES),
])  # fmt: skip

# --- the vendor connectors that came before (whole-document JSON, SendGrid lines) -----


def refund(n, extra, **changes):
    return merged({"id": f"re_{n}", "object": "refund", "status": "succeeded", "amount": 100, "currency": "usd",
                   "created": 1741255200, **changes}, extra)  # fmt: skip


STRIPE = Format(StripeReader, "array", suffix=".json", list_key="data", whole_file=True, templates=[
    (GOOD, lambda n, x: refund(n, x)),
    (GOOD, lambda n, x: refund(1, x)),
    (BAD, lambda n, x: refund(n, x, status="weird")),
    (BAD, lambda n, x: refund(n, x, amount="100")),
    (BAD, lambda n, x: without(refund(n, x), "id")),
    (BAD, lambda n, x: refund(n, x, created="tomorrow")),
])  # fmt: skip


def contact(n, extra, **changes):
    return merged({"id": str(n), "properties": {"email": f"u{n}@example.com"}, "createdAt": TS,
                   "updatedAt": "2025-03-06T10:00:00.123Z", "archived": False, **changes}, extra)  # fmt: skip


HUBSPOT = Format(HubSpotReader, "array", suffix=".json", list_key="results", whole_file=True, templates=[
    (GOOD, lambda n, x: contact(n, x)),
    (GOOD, lambda n, x: contact(1, x)),
    (BAD, lambda n, x: contact(n, x, updatedAt=NAIVE)),
    (BAD, lambda n, x: contact(n, x, archived="no")),
    (BAD, lambda n, x: contact(n, x, id=[n])),
    (BAD, lambda n, x: "a contact is an object"),
])  # fmt: skip


def ticket(n, extra, **changes):
    return merged({"id": n, "status": "open", "created_at": TS, "updated_at": TS, **changes}, extra)


ZENDESK = Format(ZendeskReader, "array", suffix=".json", list_key="tickets", whole_file=True, templates=[
    (GOOD, lambda n, x: ticket(n, x)),
    (GOOD, lambda n, x: ticket(n, x, id=str(n))),
    (BAD, lambda n, x: ticket(n, x, id="abc")),
    (BAD, lambda n, x: ticket(n, x, status="exploded")),
    (BAD, lambda n, x: ticket(n, x, created_at=NAIVE)),
])  # fmt: skip


def sendgrid_event(n, extra, **changes):
    return merged({"email": f"u{n}@example.com", "timestamp": 1741255200 + n, "event": "delivered",
                   "sg_event_id": f"sg_ev_{n}", "sg_message_id": f"msg{n}.filter0001", **changes}, extra)  # fmt: skip


SENDGRID = Format(SendGridReader, "lines", suffix=".jsonl", templates=[
    (GOOD, lambda n, x: sendgrid_event(n, x)),
    (SILENT, lambda n, x: sendgrid_event(0, {}, event="open")),  # a retry: the same event again (see below)
    (BAD, lambda n, x: sendgrid_event(n, x, event="exploded")),
    (BAD, lambda n, x: without(sendgrid_event(n, x), "timestamp")),
    (BAD, lambda n, x: BAD_BYTES),
])  # fmt: skip

FORMATS = {
    "event_log": EVENT_LOG, "otel": OTEL, "temporal": TEMPORAL, "s3_inventory": S3, "postmark": POSTMARK,
    "generic_csv": GENERIC_CSV, "generic_jsonl": GENERIC_JSONL, "stripe": STRIPE, "hubspot": HUBSPOT,
    "zendesk": ZENDESK, "sendgrid": SENDGRID,
}  # fmt: skip


def first_duplicate_is_kept(fmt: Format, items):
    """SendGrid keeps the first copy of a repeated event: make it good."""
    if fmt is not SENDGRID:
        return items
    out, seen = [], False
    for kind, value in items:
        if kind == SILENT and not seen:
            kind, seen = GOOD, True
        out.append((kind, value))
    return out


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_hostile_files_never_crash_and_the_counts_add_up(name):
    fmt = FORMATS[name]

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(items=records(fmt), damage=damages(fmt), cut=st.floats(0.0, 0.99), blanks=st.lists(st.booleans(), max_size=10))
    def run(items, damage, cut, blanks):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            written = write(fmt, root, first_duplicate_is_kept(fmt, items), damage, cut, blanks)
            check(fmt, written, root)

    run()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_arbitrary_values_in_valid_records_never_crash(name):
    fmt = FORMATS[name]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values=fuzzed(fmt))
    def run(values):
        with tempfile.TemporaryDirectory() as folder:
            check_fuzzed(fmt, values, Path(folder))

    run()
