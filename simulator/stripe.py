"""Stripe: a Refunds list page (current state) and an Events list page (webhook history,
with duplicate and out-of-order deliveries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from simulator.model import Refund, RefundState, unix
from simulator.output import Output, json_bytes
from simulator.world import World

API_VERSION = "2024-06-20"
SWAP_SHARE = 0.15
REDELIVER_SHARE = 0.05


def list_page(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def refund_object(refund: Refund, state: RefundState) -> dict[str, Any]:
    return {
        "id": refund.id, "object": "refund", "amount": refund.amount, "currency": "usd",
        "created": unix(refund.created), "charge": refund.charge,
        "payment_intent": refund.payment_intent, "balance_transaction": refund.balance_transaction,
        "metadata": dict(refund.metadata), "reason": "requested_by_customer",
        "status": state.status, "failure_reason": state.failure_reason, "receipt_number": None,
        "destination_details": {"type": "card", "card": {"type": "refund"}},
    }  # fmt: skip


def refund_from_object(obj: dict[str, Any]) -> Refund:
    """The refund a list page shows (the inverse of `refund_object`), to change on a later
    day: its current state counts as already delivered, so only new states make webhooks."""
    state = RefundState(datetime.fromtimestamp(obj["created"], UTC), obj["status"], obj["failure_reason"])
    return Refund(
        id=obj["id"], amount=obj["amount"], charge=obj["charge"],
        payment_intent=obj["payment_intent"], balance_transaction=obj["balance_transaction"],
        metadata=dict(obj["metadata"]), idempotency_key=None, states=[state], exported=1,
    )  # fmt: skip


def refund_events(world: World, refund: Refund) -> list[tuple[dict[str, Any], bool]]:
    """(event, delivered twice) for each state change not yet delivered: refund.created,
    then refund.updated (and refund.failed when it failed)."""
    ids = world.ids
    events = []
    previous: RefundState | None = None
    for index, state in enumerate(refund.states):
        if index < refund.exported:
            previous = state
            continue
        data: dict[str, Any] = {"object": refund_object(refund, state)}
        if previous is None:
            kinds = ["refund.created"]
            request = {"id": ids.alnum("req_", 14), "idempotency_key": refund.idempotency_key}
        else:
            kinds = ["refund.updated"] + (["refund.failed"] if state.status == "failed" else [])
            request = {"id": None, "idempotency_key": None}
        for kind in kinds:
            event = {
                "id": ids.alnum("evt_", 24), "object": "event", "api_version": API_VERSION,
                "created": unix(state.at), "livemode": False, "pending_webhooks": 0,
                "request": request, "type": kind,
                "data": dict(data),
            }  # fmt: skip
            if kind == "refund.updated" and previous is not None:
                event["data"]["previous_attributes"] = {
                    "status": previous.status,
                    "failure_reason": previous.failure_reason,
                }
            twice = (
                refund.redeliver and kind == "refund.created"
            ) or world.rng.random() < REDELIVER_SHARE
            events.append((event, twice))
        previous = state
    return events


def write_stripe(world: World, out: Output) -> None:
    rng = world.rng
    refunds = sorted(world.refunds, key=lambda r: (unix(r.created), r.id), reverse=True)
    current = [refund_object(r, r.states[-1]) for r in refunds]
    out.landing("stripe", "refunds-list.json", json_bytes(list_page(current, "/v1/refunds")))

    deliveries = [pair for r in world.refunds for pair in refund_events(world, r)]
    deliveries.sort(key=lambda pair: (pair[0]["created"], pair[0]["id"]), reverse=True)
    events = [event for event, _ in deliveries]
    for i in range(len(events) - 1):
        if rng.random() < SWAP_SHARE:
            events[i], events[i + 1] = events[i + 1], events[i]
    for event, twice in deliveries:
        if twice:
            events.insert(rng.randint(0, len(events)), event)
    out.landing("stripe", "events-0001.json", json_bytes(list_page(events, "/v1/events")))
