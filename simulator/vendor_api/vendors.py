"""The four vendors' objects and endpoints, in their real shapes (docs/vendor-formats.md).

Stripe refunds (with idempotency keys: the first response is stored and replayed, marked
`Idempotent-Replayed: true`; the same key with other parameters is a 409
`idempotency_error`), SendGrid messages (Email Activity and mail/send), HubSpot contacts,
Zendesk tickets. Every applied change is counted per object and per idempotency key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.model import rfc3339, unix

# A person in the CRM, the default writer of an `edit` (HubSpot's history names them).
PERSON = {"sourceType": "CRM_UI", "sourceId": "userId:4242", "updatedByUserId": 4242}
# The executor's private app (reckon.yaml's `agent_actors: ["INTEGRATION:reckon-agent"]`).
INTEGRATION = {"sourceType": "INTEGRATION", "sourceId": "reckon-agent"}
HUBSPOT_DEFAULTS = ("createdate", "lastmodifieddate", "hs_object_id")
WEBHOOK_KEYS = frozenset(
    {
        "email",
        "timestamp",
        "event",
        "sg_event_id",
        "sg_message_id",
        "smtp-id",
        "category",
        "reason",
        "status",
        "response",
        "type",
        "attempt",
        "ip",
        "useragent",
        "url",
        "tls",
    }
)
TO_ACTIVITY = {
    "bounce": "bounced",
    "open": "opened",
    "click": "clicked",
    "spamreport": "spam_report",
}
_SEARCH = re.compile(r"metadata\['((?:[^'\\]|\\.)*)'\]:'((?:[^'\\]|\\.)*)'")
_ACTIVITY = re.compile(
    r"""(unique_args\['(?:[^'\\]|\\.)*'\]|msg_id|to_email|status)\s*=\s*"((?:[^"\\]|\\.)*)\""""
)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"error": {"type": kind, "message": message}})


@dataclass
class VendorState:
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # msg_id -> Email Activity detail
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # str(id) -> ticket
    idempotency: dict[str, tuple[str, Reply]] = field(
        default_factory=dict
    )  # key -> (params digest, first reply)
    effects: Counter = field(default_factory=Counter)
    effects_by_key: Counter = field(default_factory=Counter)
    new_refund_status: str = "succeeded"  # what a created refund shows first
    sequence: int = 0  # ids of created objects

    def serve(
        self,
        vendor: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        now: datetime,
    ) -> Reply:
        handler = getattr(self, f"_{vendor}")
        try:
            return handler(method, path, {k: v[-1] for k, v in query.items()}, headers, body, now)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"bad request: {type(exc).__name__}")

    def _applied(self, vendor: str, object_id: str, key: str | None = None) -> None:
        self.effects[(vendor, object_id)] += 1
        if key:
            self.effects_by_key[key] += 1

    def _next_id(self, kind: str) -> str:
        self.sequence += 1
        return hashlib.sha256(f"{kind}|{self.sequence}".encode()).hexdigest()[:24]

    # --- Stripe ---------------------------------------------------------------------

    def _stripe(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        now: datetime,
    ) -> Reply:
        if method == "GET" and path == "/v1/refunds/search":
            match = _SEARCH.fullmatch(query.get("query", "").strip())
            if not match:
                return _error(400, "unsupported search query")
            key, value = _unescape(match[1]), _unescape(match[2])
            found = [r for r in self._refunds_desc() if (r.get("metadata") or {}).get(key) == value]
            return Reply(
                200,
                {
                    "object": "search_result",
                    "data": found,
                    "has_more": False,
                    "next_page": None,
                    "url": "/v1/refunds/search",
                },
            )
        if method == "GET" and path == "/v1/refunds":
            found = [
                r for r in self._refunds_desc() if query.get("charge") in (None, r.get("charge"))
            ]
            if "starting_after" in query:
                ids = [r["id"] for r in found]
                found = (
                    found[ids.index(query["starting_after"]) + 1 :]
                    if query["starting_after"] in ids
                    else []
                )
            limit = int(query.get("limit", 10))
            return Reply(
                200,
                {
                    "object": "list",
                    "data": found[:limit],
                    "has_more": len(found) > limit,
                    "url": "/v1/refunds",
                },
            )
        if method == "GET" and path.startswith("/v1/refunds/"):
            refund = self.refunds.get(path.rsplit("/", 1)[1])
            return Reply(200, refund) if refund else _error(404, "No such refund")
        if method == "POST" and path == "/v1/refunds":
            return self._create_refund(
                dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)),
                headers.get("idempotency-key"),
                now,
            )
        return _error(404, f"Unrecognized request URL ({method}: {path})")

    def _refunds_desc(self) -> list[dict[str, Any]]:
        return sorted(self.refunds.values(), key=lambda r: (r["created"], r["id"]), reverse=True)

    def _create_refund(self, form: dict[str, str], key: str | None, now: datetime) -> Reply:
        digest = hashlib.sha256(json.dumps(sorted(form.items())).encode()).hexdigest()
        if key is not None and key in self.idempotency:
            first_digest, first = self.idempotency[key]
            if first_digest != digest:
                return _error(
                    409,
                    f"Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                    "idempotency_error",
                )
            return Reply(first.status, first.body, {**first.headers, "Idempotent-Replayed": "true"})
        charge = form.get("charge")
        if not charge and not form.get("payment_intent"):
            return _error(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
        metadata = {
            name[len("metadata[") : -1]: value
            for name, value in form.items()
            if name.startswith("metadata[") and name.endswith("]")
        }
        refund_id = "re_" + self._next_id("refund")
        refund = {
            "id": refund_id, "object": "refund", "amount": int(form.get("amount") or 0), "currency": "usd",
            "created": unix(now), "charge": charge, "payment_intent": form.get("payment_intent"),
            "balance_transaction": "txn_" + refund_id[3:], "metadata": metadata,
            "reason": form.get("reason"), "status": self.new_refund_status, "failure_reason": None,
            "receipt_number": None, "destination_details": {"type": "card", "card": {"type": "refund"}},
        }  # fmt: skip
        self.refunds[refund_id] = refund
        self._applied("stripe", refund_id, key)
        reply = Reply(
            200, copy.deepcopy(refund), {"Request-Id": "req_" + self._next_id("request")[:14]}
        )
        if key is not None:
            self.idempotency[key] = (digest, reply)
        return reply

    # --- SendGrid -------------------------------------------------------------------

    def _sendgrid(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        now: datetime,
    ) -> Reply:
        if method == "GET" and path == "/v3/messages":
            conditions = _ACTIVITY.findall(query.get("query", ""))
            found = [
                m
                for m in self.messages.values()
                if all(self._activity_match(m, f, _unescape(v)) for f, v in conditions)
            ]
            found.sort(
                key=lambda m: (m["events"][-1]["processed"] if m["events"] else "", m["msg_id"]),
                reverse=True,
            )
            return Reply(
                200, {"messages": [_summary(m) for m in found[: int(query.get("limit", 10))]]}
            )
        if method == "GET" and path.startswith("/v3/messages/"):
            message = self.messages.get(urllib.parse.unquote(path[len("/v3/messages/") :]))
            return Reply(200, message) if message else _error(404, "message not found", "not_found")
        if method == "POST" and path == "/v3/mail/send":
            return self._send(json.loads(body), now)
        return _error(404, "not found", "not_found")

    @staticmethod
    def _activity_match(message: dict[str, Any], name: str, value: str) -> bool:
        if name.startswith("unique_args"):
            return (
                str(
                    (message.get("unique_args") or {}).get(
                        _unescape(name[len("unique_args['") : -2])
                    )
                )
                == value
            )
        return str(_summary(message).get(name)) == value

    def _send(self, mail: dict[str, Any], now: datetime) -> Reply:
        to = mail["personalizations"][0]["to"][0]["email"]
        args = {str(k): str(v) for k, v in (mail.get("custom_args") or {}).items()}
        message_id = self._next_id("message")[:22]
        msg_id = f"{message_id}.filterdrecv-5645d9c87f-6r4pl-1-5F1F0D8F-2.0"
        self.messages[msg_id] = {
            "from_email": (mail.get("from") or {}).get("email"), "msg_id": msg_id, "subject": mail.get("subject"),
            "to_email": to, "status": "processed", "template_id": mail.get("template_id"),
            "categories": list(mail.get("categories") or []), "unique_args": args,
            "events": [{"event_name": "processed", "processed": rfc3339(now)}],
            "outbound_ip": "168.245.0.1", "outbound_ip_type": "dedicated",
        }  # fmt: skip
        self._applied("sendgrid", message_id, args.get("reckon_idempotency_key"))
        return Reply(202, None, {"X-Message-Id": message_id})

    # --- HubSpot --------------------------------------------------------------------

    def _hubspot(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        now: datetime,
    ) -> Reply:
        base = "/crm/v3/objects/contacts"
        if method == "POST" and path == f"{base}/search":
            return self._search_contacts(json.loads(body))
        if not path.startswith(f"{base}/"):
            return _error(404, "not found", "NOT_FOUND")
        contact = self.contacts.get(path[len(base) + 1 :])
        if contact is None or (contact.get("archived") and query.get("archived") != "true"):
            return Reply(
                404,
                {
                    "status": "error",
                    "message": "resource not found",
                    "category": "OBJECT_NOT_FOUND",
                },
            )
        if method == "GET":
            return Reply(
                200,
                _contact_view(
                    contact,
                    _names(query.get("properties")),
                    _names(query.get("propertiesWithHistory")),
                ),
            )
        if method == "PATCH":
            self._write_properties(contact, json.loads(body)["properties"], now, INTEGRATION)
            self._applied("hubspot", contact["id"])
            return Reply(200, _contact_view(contact, None, []))
        if method == "DELETE":
            contact.update(archived=True, archivedAt=rfc3339(now), updatedAt=rfc3339(now))
            self._applied("hubspot", contact["id"])
            return Reply(204)
        return _error(405, "method not allowed")

    def _search_contacts(self, request: dict[str, Any]) -> Reply:
        filters = [
            f for group in request.get("filterGroups") or [] for f in group.get("filters") or []
        ]
        found = [
            c
            for c in sorted(self.contacts.values(), key=lambda c: int(c["id"]))
            if not c.get("archived")
            and all(
                str(c["properties"].get(f["propertyName"])) == str(f.get("value")) for f in filters
            )
        ]
        start = int(request.get("after") or 0)
        limit = int(request.get("limit") or 10)
        page = found[start : start + limit]
        body: dict[str, Any] = {
            "total": len(found),
            "results": [_contact_view(c, request.get("properties"), []) for c in page],
        }
        if start + limit < len(found):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Reply(200, body)

    @staticmethod
    def _write_properties(
        contact: dict[str, Any], changes: dict[str, Any], now: datetime, writer: dict[str, Any]
    ) -> None:
        history = contact.setdefault("propertiesWithHistory", {})
        for name, value in changes.items():
            text = None if value is None else str(value)
            contact["properties"][name] = text
            history.setdefault(name, []).insert(
                0, {"value": text, "timestamp": rfc3339(now), **writer}
            )
        contact["properties"]["lastmodifieddate"] = rfc3339(now)
        contact["updatedAt"] = rfc3339(now)

    # --- Zendesk --------------------------------------------------------------------

    def _zendesk(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        now: datetime,
    ) -> Reply:
        if method == "GET" and path == "/api/v2/tickets.json":
            found = [
                t
                for t in self._tickets()
                if query.get("external_id") in (None, t.get("external_id"))
            ]
            return Reply(
                200,
                {"tickets": found, "next_page": None, "previous_page": None, "count": len(found)},
            )
        if method == "GET" and path == "/api/v2/search.json":
            terms = dict(
                term.split(":", 1) for term in query.get("query", "").split() if ":" in term
            )
            found = [
                {**t, "result_type": "ticket"}
                for t in self._tickets()
                if terms.get("type", "ticket") == "ticket"
                and all(
                    _term_holds(t.get(k), v.strip('"')) for k, v in terms.items() if k != "type"
                )
            ]
            return Reply(
                200,
                {
                    "results": found,
                    "count": len(found),
                    "next_page": None,
                    "previous_page": None,
                    "facets": None,
                },
            )
        match = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path)
        ticket = self.tickets.get(match[1]) if match else None
        if ticket is None:
            return Reply(404, {"error": "RecordNotFound", "description": "Not found"})
        if method == "GET":
            return Reply(200, {"ticket": ticket})
        if method == "PUT":
            if ticket["status"] == "closed":
                return Reply(
                    422,
                    {
                        "error": "RecordInvalid",
                        "description": "Record validation errors",
                        "details": {
                            "status": [{"description": "Status: closed prevents ticket update"}]
                        },
                    },
                )
            changes = json.loads(body)["ticket"]
            _merge_ticket(ticket, changes)
            ticket["updated_at"] = rfc3339(now)
            self._applied("zendesk", str(ticket["id"]))
            return Reply(
                200,
                {
                    "ticket": ticket,
                    "audit": {"ticket_id": ticket["id"], "created_at": rfc3339(now), "events": []},
                },
            )
        return _error(405, "method not allowed")

    def _tickets(self) -> list[dict[str, Any]]:
        return sorted(self.tickets.values(), key=lambda t: t["id"])

    # --- between plan and execution ---------------------------------------------------

    def edit(
        self,
        vendor: str,
        object_id: str,
        changes: dict[str, Any],
        now: datetime,
        by: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if vendor == "hubspot":
            contact = self.contacts[object_id]
            properties = changes.get("properties") or {}
            self._write_properties(contact, properties, now, by or PERSON)
            _merge(contact, {k: v for k, v in changes.items() if k != "properties"})
            return contact
        if vendor == "zendesk":
            ticket = self.tickets[str(object_id)]
            _merge_ticket(ticket, changes)
            ticket["updated_at"] = rfc3339(now)
            return ticket
        if vendor == "sendgrid":
            message = self.messages[object_id]
            event = changes.get("event")
            if event:  # a new event arrives: {"event": "delivered"} (webhook names are fine)
                message["events"].append(
                    {
                        "event_name": TO_ACTIVITY.get(event, event),
                        "processed": rfc3339(now),
                        **{k: v for k, v in changes.items() if k != "event"},
                    }
                )
                message["status"] = _summary(message)["status"]
            return message
        records = {"stripe": self.refunds}[vendor]
        _merge(records[object_id], changes)
        return records[object_id]


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _merge_ticket(ticket: dict[str, Any], changes: dict[str, Any]) -> None:
    """Zendesk's update: fields replaced, `custom_fields` merged by id."""
    fields = {str(f["id"]): f for f in ticket.get("custom_fields") or []}
    for item in changes.get("custom_fields") or []:
        fields[str(item["id"])] = {"id": item["id"], "value": item.get("value")}
    _merge(ticket, {k: v for k, v in changes.items() if k != "custom_fields"})
    if "custom_fields" in changes:
        ticket["custom_fields"] = list(fields.values())


def _term_holds(value: Any, term: str) -> bool:
    """A Zendesk search term `field:value`: equal, or one of a list's items (`tags:x`)."""
    return term in map(str, value) if isinstance(value, list) else str(value) == term


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [n for n in value.split(",") if n]


def _contact_view(
    contact: dict[str, Any], properties: list[str] | None, history: list[str] | None
) -> dict:
    """A contact as the API returns it: the asked properties (all when none are named) plus
    HubSpot's defaults, and the history of the properties asked with history."""
    props = contact["properties"]
    shown = (
        props if properties is None else {n: props.get(n) for n in [*HUBSPOT_DEFAULTS, *properties]}
    )
    view = {
        k: copy.deepcopy(v)
        for k, v in contact.items()
        if k not in ("properties", "propertiesWithHistory")
    }
    view["properties"] = dict(shown)
    if history:
        kept = contact.get("propertiesWithHistory") or {}
        view["propertiesWithHistory"] = {n: copy.deepcopy(kept[n]) for n in history if n in kept}
    return view


def _summary(message: dict[str, Any]) -> dict[str, Any]:
    """Email Activity's list entry for a message."""
    names = [e["event_name"] for e in message.get("events") or []]
    status = (
        "not_delivered"
        if {"bounced", "dropped"} & set(names)
        else "delivered"
        if {"delivered", "opened", "clicked"} & set(names)
        else "processed"
    )
    return {
        "from_email": message.get("from_email"),
        "msg_id": message["msg_id"],
        "subject": message.get("subject"),
        "to_email": message.get("to_email"),
        "status": status,
        "opens_count": names.count("opened"),
        "clicks_count": names.count("clicked"),
        "last_event_time": max((e["processed"] for e in message.get("events") or []), default=None),
    }


def activity_detail(event: dict[str, Any]) -> dict[str, Any]:
    """A message's Email Activity detail from its newest Event Webhook event (as a landing
    file shows it): its custom args are the event's non-reserved keys."""
    at = datetime.fromtimestamp(int(event["timestamp"]), UTC)
    name = str(event["event"]).lower()
    category = event.get("category")
    detail_event = {"event_name": TO_ACTIVITY.get(name, name), "processed": rfc3339(at)}
    if event.get("reason"):
        detail_event["reason"] = event["reason"]
    message = {
        "from_email": "noreply@example.com", "msg_id": event["sg_message_id"], "subject": None,
        "to_email": event.get("email"), "template_id": None,
        "categories": category if isinstance(category, list) else [category] if category else [],
        "unique_args": {k: v for k, v in event.items() if k not in WEBHOOK_KEYS},
        "events": [detail_event], "outbound_ip": "168.245.0.1", "outbound_ip_type": "dedicated",
    }  # fmt: skip
    message["status"] = _summary(message)["status"]
    return message
