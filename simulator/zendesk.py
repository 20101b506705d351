"""Zendesk: one incremental ticket export page (no end_time: observed at the file mtime)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from simulator.model import Ticket, rfc3339, unix
from simulator.output import Output, json_bytes
from simulator.world import World

API = "https://example.zendesk.com/api/v2"


def ticket_object(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id, "url": f"{API}/tickets/{ticket.id}.json",
        "external_id": ticket.external_id, "status": ticket.status, "priority": ticket.priority,
        "type": ticket.type, "subject": ticket.subject, "tags": list(ticket.tags),
        "custom_fields": [], "via": {"channel": ticket.channel},
        "requester_id": ticket.requester_id, "submitter_id": ticket.submitter_id,
        "assignee_id": ticket.assignee_id,
        "created_at": rfc3339(ticket.created_at), "updated_at": rfc3339(ticket.updated_at),
    }  # fmt: skip


def ticket_from_object(obj: dict[str, Any]) -> Ticket:
    """The ticket a page shows (the inverse of `ticket_object`), to change on a later day."""
    return Ticket(
        id=obj["id"], external_id=obj["external_id"], status=obj["status"],
        priority=obj["priority"], type=obj["type"], subject=obj["subject"], tags=list(obj["tags"]),
        channel=obj["via"]["channel"], requester_id=obj["requester_id"],
        submitter_id=obj["submitter_id"], assignee_id=obj["assignee_id"],
        created_at=datetime.fromisoformat(obj["created_at"]),
        updated_at=datetime.fromisoformat(obj["updated_at"]),
    )  # fmt: skip


def write_zendesk(world: World, out: Output) -> None:
    tickets = sorted(world.tickets, key=lambda t: (t.updated_at, t.id))
    last = tickets[-1].id if tickets else 0
    cursor = base64.urlsafe_b64encode(f"{unix(world.export_time)}.0||{last}|".encode()).decode()
    document = {
        "tickets": [ticket_object(t) for t in tickets],
        "after_cursor": cursor,
        "after_url": f"{API}/incremental/tickets/cursor.json?cursor={cursor}",
        "end_of_stream": True,
    }
    out.landing("zendesk", "tickets-page-1.json", json_bytes(document))
