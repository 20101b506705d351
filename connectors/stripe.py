"""Stripe refunds: list pages, bare refunds, and webhook events that carry refunds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.base import QuarantineSink, Reader
from connectors.files import JsonDocument, numbered_rows
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import (
    BadRecord,
    as_object,
    describe,
    dig,
    dumps,
    parse_epoch_seconds,
    require_str,
    without_none,
)

STATES = {
    "succeeded": "success",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}
# Events whose `data.object` is a refund; `charge.refunded` carries a charge instead.
REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
BUSINESS_FIELDS = (
    "amount", "currency", "charge", "payment_intent", "balance_transaction", "reason",
    "status", "failure_reason", "receipt_number", "metadata",
)  # fmt: skip
# Top-level fields Stripe documents for refunds and events (schema drift reports others).
DOCUMENTED = frozenset({
    "id", "object", "amount", "balance_transaction", "charge", "created", "currency", "description",
    "destination_details", "failure_balance_transaction", "failure_reason", "instructions_email", "metadata",
    "next_action", "payment_intent", "pending_reason", "presentment_details", "reason", "receipt_number",
    "source_transfer_reversal", "status", "transfer_reversal", "customer", "customer_account", "payment_method",
    "api_version", "context", "data", "livemode", "pending_webhooks", "request", "type", "account",
})
# Fields Stripe may expand from an id into the full object.
EXPANDABLE = frozenset({"charge", "payment_intent", "balance_transaction"})
# What changes as a refund moves through its own lifecycle (Stripe's doing, not an edit):
# a `refund.updated` whose `previous_attributes` names only these is no one's edit.
LIFECYCLE_FIELDS = frozenset({
    "status", "failure_reason", "failure_balance_transaction", "next_action", "pending_reason",
    "destination_details", "balance_transaction", "receipt_number", "instructions_email",
})

def epoch_seconds(value: Any, key: str) -> datetime:
    """Unix seconds; a reason names the field and describes the value, never quotes it whole."""
    try:
        return parse_epoch_seconds(value, key)
    except BadRecord:
        raise BadRecord(f"field '{key}' is not a Unix timestamp: {describe(value)}") from None


class StripeReader(Reader):
    """One row per refund version: a refund inside an event is versioned by the
    event's time; a listed or bare refund has no version time of its own."""

    name = "stripe"
    layer = "observed"
    schema = OBSERVED_SCHEMA
    known_fields = DOCUMENTED
    expected_fields = frozenset({"id", "object"})
    states = STATES
    # A refund's `created`, and the event's `created` that versions it.
    time_fields: ClassVar[dict[str, str]] = {"created_at": "created", "updated_at": "created"}

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        document = JsonDocument.check(path, list_key="data")
        build = self.noting(source_file, self.record_rows, self.latest_plausible(path), document.escapes)
        rows = numbered_rows(document.numbered(sink, source_file), sink, source_file, build)
        yield from self.to_batches(rows)

    def record_rows(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        kind = record.get("object")
        if kind == "refund":
            return [self.refund_row(record, None)]
        if kind == "event":
            return self.event_rows(record)
        raise BadRecord(f"field 'object' must be 'refund' or 'event', got {describe(kind)}")

    def event_rows(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = require_str(event, "type")
        if kind not in REFUND_EVENTS and kind != "charge.refunded":
            return []  # other events say nothing about refunds
        version = epoch_seconds(event.get("created"), "created")
        resource = dig(event, "data.object")
        if not isinstance(resource, dict):
            raise BadRecord(f"a {describe(kind)} event needs an object at 'data.object'")
        if kind in REFUND_EVENTS:
            changed = as_object(dig(event, "data.previous_attributes"), "data.previous_attributes")
            edited = version if set(changed) - LIFECYCLE_FIELDS else None
            return [self.refund_row(resource, version, edited)]
        # Since API 2022-11-15 a charge's refunds are not included unless expanded.
        refunds = dig(resource, "refunds.data")
        if refunds is None:
            return []
        if not isinstance(refunds, list):
            raise BadRecord("field 'data.object.refunds.data' must be an array")
        rows = []
        for index, refund in enumerate(refunds):
            if not isinstance(refund, dict):
                raise BadRecord(f"'data.object.refunds.data[{index}]' is not an object")
            try:
                rows.append(self.refund_row(refund, version))
            except BadRecord as exc:
                raise BadRecord(f"data.object.refunds.data[{index}]: {exc}") from exc
        return rows

    def refund_row(
        self, refund: dict[str, Any], version: datetime | None, edited: datetime | None = None
    ) -> dict[str, Any]:
        if refund.get("object", "refund") != "refund":
            raise BadRecord(f"field 'object' must be 'refund', got {describe(refund.get('object'))}")
        refund_id = require_str(refund, "id")
        status = require_str(refund, "status")
        if status not in STATES:
            raise BadRecord(f"unknown refund status {describe(status)} in field 'status'")
        amount = refund.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise BadRecord(f"field 'amount' must be an integer, got {describe(amount)}")
        if refund.get("metadata") is not None and not isinstance(refund["metadata"], dict):
            raise BadRecord("field 'metadata' must be an object")
        fields = {key: refund.get(key) for key in BUSINESS_FIELDS}
        for key in EXPANDABLE:
            if isinstance(fields[key], dict):
                fields[key] = fields[key].get("id")
        return {
            "system": self.options.system,
            "object_type": self.options.object_type or "refund",
            "external_id": refund_id,
            "correlation_keys": self.correlation_keys(refund),
            "state": STATES[status],
            "raw_status": status,
            "fields": dumps(without_none(fields)),
            "last_actor": None,
            "created_at": epoch_seconds(refund.get("created"), "created"),
            "updated_at": version,
            "merged_into": None,
            "edited_at": edited,
            "actor_writes": None,
            "raw": dumps(refund),
        }
