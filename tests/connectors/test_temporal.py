"""Temporal workflow histories through the Temporal reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.temporal import TemporalReader, event_type
from tests.connectors.readers import public_sample, read_with

ACTIVITIES = {
    "IssueRefund": {
        "action": "stripe.refund.create",
        "step": "issue_refund",
        "intent_id": "intent_id",
        "idempotency_key": "idempotency_key",
        "receipt": "id",
        "expected": {"amount": "amount", "currency": "currency", "charge": "charge"},
    },
    "SendReceipt": {"action": "postmark.message.send", "step": "send_receipt", "intent_id": "intent_id"},
    "UploadReceipt": {"action": "s3.document.upload", "step": "upload_receipt", "intent_id": "intent_id",
                      "target": "key"},
}
OPTIONS = {"activities": ACTIVITIES, "workflows": {"RefundWorkflow": "refund_order"}}
RUN = "6c1a8f0e-5b7d-4c21-9a3e-2f4d8b6e1a90"


def test_new_style_history_maps_activities_to_recorded_states():
    result = read_with(TemporalReader, "temporal/refund_history.json", OPTIONS)
    rows = result.rows
    assert [(r["source_record"], r["type"], r["intent_id"]) for r in rows] == [
        (1, "run.started", None),
        # LookupOrder (events 5-7) is not a mapped activity: no rows
        (8, "intent.declared", "int_refund_8813"),
        (9, "action.attempted", "int_refund_8813"),
        (10, "action.succeeded", "int_refund_8813"),
        (13, "intent.declared", "int_notify_8813"),
        (14, "action.attempted", "int_notify_8813"),
        (15, "action.failed", "int_notify_8813"),
        (16, "intent.declared", "int_upload_8813"),
        (17, "action.attempted", "int_upload_8813"),
        (18, "action.timed_out", "int_upload_8813"),
        (21, "run.completed", None),
    ]
    assert {(r["run_id"], r["workflow"]) for r in rows} == {(RUN, "refund_order")}
    assert rows[0]["ts"] == datetime(2025, 3, 6, 11, 0, 0, 123456, tzinfo=UTC)
    assert rows[1]["event_id"] == f"{RUN}:8:intent.declared"
    assert rows[1]["idempotency_key"] == "idem_refund_8813_t1"
    assert json.loads(rows[1]["expected"]) == {"amount": 990, "currency": "eur", "charge": "ch_3QzA1"}
    assert rows[2]["attempt"] == 3
    assert rows[3]["receipt_external_id"] == "re_3QzA1Temporal"
    assert (rows[6]["error_kind"], rows[6]["error_message"]) == ("PostmarkInactiveRecipient", "422 Inactive recipient")
    assert (rows[7]["target_object_type"], rows[7]["target_key"]) == ("document", "receipts/int_upload_8813/receipt.pdf")
    assert (rows[9]["error_kind"], rows[9]["error_message"]) == (
        "timeout", "activity ScheduleToClose timeout (SCHEDULE_TO_CLOSE)",
    )  # fmt: skip


def test_bad_events_are_quarantined_by_position():
    reasons = read_with(TemporalReader, "temporal/refund_history.json", OPTIONS).reasons()
    assert sorted(reasons) == [19, 20]
    assert "names event 99" in reasons[19]
    assert "'eventTime'" in reasons[20]


def test_event_type_spellings():
    assert event_type("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED") == "ActivityTaskScheduled"
    assert event_type("ActivityTaskScheduled") == "ActivityTaskScheduled"
    assert event_type("EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW") == "WorkflowExecutionContinuedAsNew"


def test_public_helloworld_completes_with_a_receipt():
    path = public_sample("temporal/helloworld.json")
    options = {"activities": {"Activity": {"action": "s3.document.upload", "receipt": ""}}}
    result = read_with(TemporalReader, path, options, root=path.parent)
    rows = result.rows
    assert result.rejected == []
    assert [(r["source_record"], r["type"]) for r in rows] == [
        (1, "run.started"), (5, "intent.declared"), (6, "action.attempted"), (7, "action.succeeded"),
        (11, "run.completed"),
    ]  # fmt: skip
    assert rows[0]["run_id"] == "b0b495a5-0428-412b-875a-0a941998f773" and rows[0]["workflow"] == "Workflow"
    assert rows[3]["receipt_external_id"] == "Hello Temporal!"  # the JSON payload, decoded
    assert result.reader.field_drift() == ([], [])


def test_public_rainbow_activity_timeout_and_failed_run():
    path = public_sample("temporal/rainbowstatusesworkflow.json")
    options = {"activities": {"LongActivity": {"action": "postmark.message.send"}}}
    rows = read_with(TemporalReader, path, options, root=path.parent).rows
    assert [r["type"] for r in rows] == [
        "run.started", "intent.declared", "action.attempted", "action.timed_out", "run.failed",
    ]
    timed_out = rows[3]
    assert (timed_out["error_kind"], timed_out["error_message"]) == ("timeout", "activity timeout (StartToClose)")
    assert rows[2]["attempt"] == 1
    assert (rows[4]["status"], rows[4]["error_message"]) == ("failed", "activity error")


def test_public_cancellation_is_a_failed_action():
    path = public_sample("temporal/cancel_fake_progress_history.json")
    options = {"activities": {"fakeProgress": {"action": "s3.document.upload"}}, "workflow": "uploads"}
    rows = read_with(TemporalReader, path, options, root=path.parent).rows
    assert [(r["type"], r["error_kind"]) for r in rows] == [
        ("run.started", None), ("intent.declared", None), ("action.attempted", None),
        ("action.failed", "canceled"), ("run.completed", None),
    ]  # fmt: skip
    assert {r["workflow"] for r in rows} == {"uploads"}  # the default for names not mapped
    rows = read_with(TemporalReader, path, {"activities": options["activities"]}, root=path.parent).rows
    assert {r["workflow"] for r in rows} == {"cancelFakeProgress"}  # without one, names pass through


def test_renamed_and_added_fields_are_drift(tmp_path):
    path = public_sample("temporal/helloworld.json")
    history = json.loads(path.read_text())
    for event in history["events"]:
        event["eventTimestamp"] = event.pop("eventTime")  # a vendor renamed a field
    copy = tmp_path / "renamed.json"
    copy.write_text(json.dumps(history))
    result = read_with(TemporalReader, copy, {}, root=tmp_path)
    assert result.table.num_rows == 0 and len(result.rejected) == len(history["events"])
    assert result.reader.field_drift() == (["eventTimestamp"], ["eventTime"])


def test_unreadable_start_leaves_activities_without_a_workflow(tmp_path):
    events = [
        {"eventId": "1", "eventType": "WorkflowExecutionStarted", "eventTime": "not a time"},
        {"eventId": "2", "eventType": "ActivityTaskScheduled", "eventTime": "2025-03-06T11:00:00Z",
         "activityTaskScheduledEventAttributes": {"activityId": "2", "activityType": {"name": "IssueRefund"}}},
    ]
    path = tmp_path / "run-7.json"
    path.write_text(json.dumps({"events": events}))
    result = read_with(TemporalReader, path, {"activities": ACTIVITIES}, root=tmp_path)
    assert result.table.num_rows == 0
    assert "no workflow name" in result.reasons()[2]
    rows = read_with(TemporalReader, path, {"activities": ACTIVITIES, "workflow": "refund_order"}, root=tmp_path).rows
    assert [(r["run_id"], r["workflow"], r["intent_id"]) for r in rows] == [("run-7", "refund_order", "run-7:2")]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"activities": {"IssueRefund": {"action": "stripe.refund"}}}, "is not system.object.verb"),
        ({"activities": {"IssueRefund": {"action": "stripe.refund.create", "expected": ["amount"]}}},
         "options.activities.IssueRefund.expected: expected a mapping"),
        ({"workflow": 3}, "options.workflow: expected a non-empty string"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(ValueError, match="options") as info:
        TemporalReader.check_options(options)
    assert message in str(info.value)


def test_failure_messages_are_found_down_the_cause_chain(tmp_path):
    def at(n: int) -> str:
        return f"2025-03-06T11:00:{n:02d}Z"

    scheduled = {"activityId": "5", "activityType": {"name": "SendReceipt"}}
    failure = {"message": "", "source": "TypeScriptSDK", "cause": {
        "message": "", "cause": {"message": "SMTP 421 service not available",
                                 "applicationFailureInfo": {"type": "SmtpError"}}}}  # fmt: skip
    events = [
        {"eventId": "1", "eventType": "WorkflowExecutionStarted", "eventTime": at(0),
         "workflowExecutionStartedEventAttributes": {"workflowType": {"name": "RefundWorkflow"},
                                                     "originalExecutionRunId": "run-cause"}},
        {"eventId": "5", "eventType": "ActivityTaskScheduled", "eventTime": at(1),
         "activityTaskScheduledEventAttributes": scheduled},
        {"eventId": "6", "eventType": "ActivityTaskFailed", "eventTime": at(2),
         "activityTaskFailedEventAttributes": {"scheduledEventId": "5", "failure": failure}},
        {"eventId": "7", "eventType": "WorkflowExecutionFailed", "eventTime": at(3),
         "workflowExecutionFailedEventAttributes": {"failure": {"cause": {"message": "activity error", "cause": failure}}}},
    ]  # fmt: skip
    path = tmp_path / "run-cause.json"
    path.write_text(json.dumps({"events": events}))
    rows = read_with(TemporalReader, path, OPTIONS, root=tmp_path).rows
    assert [(r["type"], r["error_message"]) for r in rows] == [
        ("run.started", None), ("intent.declared", None),
        ("action.failed", "SMTP 421 service not available"),
        ("run.failed", "activity error"),  # the first non-empty message down the chain
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["ActivityTaskRetried", "EVENT_TYPE_ACTIVITY_TASK_RETRIED", "EVENT_TYPE_UNSPECIFIED"])
def test_an_unknown_event_type_is_quarantined_not_skipped(tmp_path, kind):
    # a type this reader does not know may carry an activity's attempt or outcome
    events = [
        {"eventId": "1", "eventType": "WorkflowExecutionStarted", "eventTime": "2025-03-06T11:00:00Z",
         "workflowExecutionStartedEventAttributes": {"workflowType": {"name": "RefundWorkflow"}}},
        {"eventId": "2", "eventType": "ActivityTaskScheduled", "eventTime": "2025-03-06T11:00:00Z",
         "activityTaskScheduledEventAttributes": {"activityId": "2", "activityType": {"name": "IssueRefund"}}},
        {"eventId": "3", "eventType": kind, "eventTime": "2025-03-06T11:00:01Z",
         "activityTaskRetriedEventAttributes": {"scheduledEventId": "2", "attempt": 2}},
        {"eventId": "4", "eventType": "TimerFired", "eventTime": "2025-03-06T11:00:02Z"},  # known: no rows
    ]  # fmt: skip
    path = tmp_path / "run-8.json"
    path.write_text(json.dumps({"events": events}))
    result = read_with(TemporalReader, path, OPTIONS, root=tmp_path)
    assert [r["source_record"] for r in result.rows] == [1, 2]
    assert result.reasons() == {3: f"unknown event type {kind!r} in field 'eventType'"}
