"""The simulated external objects, in memory, before any vendor format is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# HubSpot history sources: who wrote a property value.
AGENT = {"sourceType": "INTEGRATION", "sourceId": "reckon-agent", "sourceLabel": "reckon-agent"}
HUMAN = {"sourceType": "CRM_UI", "sourceId": "userId:9001", "updatedByUserId": 9001}
IMPORT = {"sourceType": "IMPORT", "sourceId": "import-1", "sourceLabel": "contacts-import.csv"}

# Zendesk users: the agent's API user and the human support agent.
ZENDESK_API_USER = 900000000001
ZENDESK_HUMAN = 900000000042


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(at: datetime) -> int:
    return int(at.timestamp())


@dataclass
class RefundState:
    at: datetime
    status: str
    failure_reason: str | None = None


@dataclass
class Refund:
    id: str
    amount: int
    charge: str
    payment_intent: str
    balance_transaction: str
    metadata: dict[str, str]
    idempotency_key: str | None  # sent with the create request (None from the Dashboard)
    states: list[RefundState]  # oldest first; the last one is the current state
    redeliver: bool = False  # the refund.created webhook arrives twice
    exported: int = 0  # states already delivered as webhooks in an earlier day's export

    @property
    def created(self) -> datetime:
        return self.states[0].at


@dataclass
class MessageEvent:
    at: datetime
    event: str
    sg_event_id: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    x_message_id: str
    sg_message_id: str
    smtp_id: str
    email: str
    category: str
    custom_args: dict[str, str]
    events: list[MessageEvent] = field(default_factory=list)


@dataclass
class Change:
    value: str
    at: datetime
    source: dict[str, Any]


@dataclass
class Contact:
    id: str
    created_at: datetime
    history: dict[str, list[Change]] = field(default_factory=dict)  # oldest first
    extra: dict[str, str] = field(default_factory=dict)  # reckon_intent_id, hs_merged_object_ids

    def write(self, at: datetime, source: dict[str, Any], **values: str) -> None:
        for name, value in values.items():
            self.history.setdefault(name, []).append(Change(value, at, source))

    def value(self, name: str) -> str | None:
        changes = self.history.get(name)
        return changes[-1].value if changes else None

    @property
    def updated_at(self) -> datetime:
        return max([self.created_at] + [c.at for cs in self.history.values() for c in cs])


@dataclass
class Ticket:
    id: int
    external_id: str
    status: str
    priority: str
    type: str
    subject: str
    tags: list[str]
    channel: str
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    created_at: datetime
    updated_at: datetime
