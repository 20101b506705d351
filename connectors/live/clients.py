"""Read and write calls per vendor, on one `Transport` each. Reads return the vendor's own
records as it returned them (`Read`); writes return the vendor's answer (`Written`)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.live.transport import ApiSettings, Clock, NotFound, Response, SystemClock, Transport

PAGE_LIMIT = 100
MAX_PAGES = 50  # a search that pages past this is cut off: verify reads objects, not lists


@dataclass(frozen=True)
class Read:
    objects: list[dict[str, Any]]  # the vendor's records, in its own shape
    observed_at: datetime | None  # the (last) response's HTTP `Date`


@dataclass(frozen=True)
class Written:
    status: int
    body: Any  # the vendor's answer (None for 202/204)
    replayed: bool  # Stripe answered a repeated idempotency key with the first response
    observed_at: datetime | None
    object_id: str | None  # the object created or changed (SendGrid: the X-Message-Id)


def _written(response: Response, object_id: str | None) -> Written:
    return Written(response.status, response.body, response.replayed, response.date, object_id)


def _one(transport: Transport, path: str, unwrap: str | None = None, **kwargs: Any) -> Read:
    """A read of one object by id; a 404 is no object (at the 404's time)."""
    try:
        response = transport.request("GET", path, **kwargs)
    except NotFound as exc:
        return Read([], exc.date)
    body = (
        response.body.get(unwrap) if unwrap and isinstance(response.body, dict) else response.body
    )
    return Read([body] if isinstance(body, dict) else [], response.date)


class StripeApi:
    """Refunds: `GET /v1/refunds/{id}`, `GET /v1/refunds?charge=`, `GET /v1/refunds/search`,
    `POST /v1/refunds` (form-encoded, with `Idempotency-Key`)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def retrieve_refund(self, refund_id: str) -> Read:
        return _one(self.transport, f"/v1/refunds/{refund_id}")

    def refunds_for_charge(self, charge: str) -> Read:
        return self._pages("/v1/refunds", {"charge": charge, "limit": PAGE_LIMIT})

    def search_refunds(self, metadata_key: str, value: str) -> Read:
        """Stripe's search query language (`metadata['k']:'v'`). Stripe's Search API does not
        list refunds among its resources; a Stripe-compatible endpoint (the mock) serves it."""
        query = f"metadata['{_quoted(metadata_key)}']:'{_quoted(value)}'"
        return self._pages("/v1/refunds/search", {"query": query, "limit": PAGE_LIMIT})

    def create_refund(self, params: dict[str, Any], idempotency_key: str) -> Written:
        response = self.transport.request(
            "POST",
            "/v1/refunds",
            form=stripe_form(params),
            headers={"Idempotency-Key": idempotency_key},
        )
        return _written(
            response, response.body.get("id") if isinstance(response.body, dict) else None
        )

    def _pages(self, path: str, query: dict[str, Any]) -> Read:
        objects: list[dict[str, Any]] = []
        date = None
        for _ in range(MAX_PAGES):
            body, date = _body(self.transport.request("GET", path, query=query))
            data = [o for o in body.get("data") or [] if isinstance(o, dict)]
            objects.extend(data)
            if not body.get("has_more") or not data:
                break
            if body.get("next_page"):  # a search result page
                query = {**query, "page": body["next_page"]}
            else:
                query = {**query, "starting_after": data[-1]["id"]}
        return Read(objects, date)


def stripe_form(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Stripe's form encoding: nested maps as `metadata[key]=value`."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(stripe_form(value, name))
        elif value is not None:
            flat[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


# Email Activity's event names -> the Event Webhook's (connectors/sendgrid.py reads those).
ACTIVITY_EVENTS = {
    "bounced": "bounce",
    "opened": "open",
    "clicked": "click",
    "spam_report": "spamreport",
}


class SendGridApi:
    """Email Activity (`GET /v3/messages`, `GET /v3/messages/{msg_id}`) and `POST /v3/mail/send`.
    A send carries reckon's idempotency key in `custom_args`, so after a crash the send can be
    found again by `messages_with_arg`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def messages(self, query: str, limit: int = 1000) -> Read:
        body, date = _body(
            self.transport.request("GET", "/v3/messages", query={"query": query, "limit": limit})
        )
        return Read([m for m in body.get("messages") or [] if isinstance(m, dict)], date)

    def messages_with_arg(self, name: str, value: str, limit: int = 1000) -> Read:
        return self.messages(f"unique_args['{_quoted(name)}']=\"{_quoted(value)}\"", limit)

    def message(self, msg_id: str) -> Read:
        return _one(self.transport, f"/v3/messages/{msg_id}")

    def send(
        self, mail: dict[str, Any], idempotency_key: str, key_arg: str = "reckon_idempotency_key"
    ) -> Written:
        """`mail` is the v3 mail/send body; the key is added to its `custom_args`."""
        body = {
            **mail,
            "custom_args": {**(mail.get("custom_args") or {}), key_arg: idempotency_key},
        }
        response = self.transport.request("POST", "/v3/mail/send", json_body=body)
        return _written(response, response.headers.get("x-message-id"))


def webhook_events(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """An Email Activity message detail as the Event Webhook events it stands for (the shape
    the sendgrid connector reads): one per event, custom args as top-level keys."""
    args = detail.get("unique_args") or {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = {}
    categories = detail.get("categories") or []
    events = []
    for event in detail.get("events") or []:
        name = ACTIVITY_EVENTS.get(event.get("event_name"), event.get("event_name"))
        at = datetime.fromisoformat(str(event["processed"]).replace("Z", "+00:00")).astimezone(UTC)
        identity = f"{detail.get('msg_id')}|{name}|{event['processed']}".encode()
        webhook = {
            **(args if isinstance(args, dict) else {}),
            "email": detail.get("to_email"),
            "timestamp": int(at.timestamp()),
            "event": name,
            "sg_message_id": detail.get("msg_id"),
            "sg_event_id": hashlib.sha256(identity).hexdigest()[:22],
        }
        if categories:
            webhook["category"] = categories[0] if len(categories) == 1 else list(categories)
        for source, target in (
            ("reason", "reason"),
            ("bounce_type", "type"),
            ("attempt_num", "attempt"),
        ):
            if event.get(source) is not None:
                webhook[target] = str(event[source]) if target == "attempt" else event[source]
        events.append(webhook)
    return events


class HubSpotApi:
    """Contacts: `GET /crm/v3/objects/contacts/{id}`, `POST .../contacts/search`,
    `PATCH .../contacts/{id}`, `DELETE .../contacts/{id}` (archive)."""

    PATH = "/crm/v3/objects/contacts"

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def contact(self, contact_id: str, properties: list[str], with_history: bool = True) -> Read:
        query = {"properties": ",".join(properties)}
        if with_history:
            query["propertiesWithHistory"] = ",".join(properties)
        return _one(self.transport, f"{self.PATH}/{contact_id}", query=query)

    def search_contacts(self, property_name: str, value: str, properties: list[str]) -> Read:
        objects: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": property_name, "operator": "EQ", "value": value}]}
            ],
            "properties": properties,
            "limit": PAGE_LIMIT,
        }
        date = None
        for _ in range(MAX_PAGES):
            body, date = _body(
                self.transport.request("POST", f"{self.PATH}/search", json_body=request)
            )
            objects.extend(o for o in body.get("results") or [] if isinstance(o, dict))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            request = {**request, "after": after}
        return Read(objects, date)

    def update_contact(self, contact_id: str, properties: dict[str, str]) -> Written:
        response = self.transport.request(
            "PATCH", f"{self.PATH}/{contact_id}", json_body={"properties": properties}
        )
        return _written(response, contact_id)

    def archive_contact(self, contact_id: str) -> Written:
        return _written(self.transport.request("DELETE", f"{self.PATH}/{contact_id}"), contact_id)


class ZendeskApi:
    """Tickets: `GET /api/v2/tickets/{id}.json`, `GET /api/v2/tickets.json?external_id=`,
    `GET /api/v2/search.json?query=`, `PUT /api/v2/tickets/{id}.json`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def ticket(self, ticket_id: str | int) -> Read:
        return _one(self.transport, f"/api/v2/tickets/{ticket_id}.json", unwrap="ticket")

    def tickets_by_external_id(self, external_id: str) -> Read:
        body, date = _body(
            self.transport.request(
                "GET", "/api/v2/tickets.json", query={"external_id": external_id}
            )
        )
        return Read([t for t in body.get("tickets") or [] if isinstance(t, dict)], date)

    def search(self, query: str) -> Read:
        body, date = _body(
            self.transport.request("GET", "/api/v2/search.json", query={"query": query})
        )
        return Read(
            [
                t
                for t in body.get("results") or []
                if isinstance(t, dict) and t.get("result_type", "ticket") == "ticket"
            ],
            date,
        )

    def update_ticket(self, ticket_id: str | int, changes: dict[str, Any]) -> Written:
        """`changes` as Zendesk takes them: `status`, `custom_fields: [{id, value}]`, `tags`, ..."""
        response = self.transport.request(
            "PUT", f"/api/v2/tickets/{ticket_id}.json", json_body={"ticket": changes}
        )
        return _written(response, str(ticket_id))


Client = StripeApi | SendGridApi | HubSpotApi | ZendeskApi
CLIENTS: dict[str, type] = {
    "stripe": StripeApi,
    "sendgrid": SendGridApi,
    "hubspot": HubSpotApi,
    "zendesk": ZendeskApi,
}


def open_client(settings: ApiSettings, clock: Clock | None = None, seed: int = 0) -> Client:
    """The vendor's client on a transport of its own (its own rate limit)."""
    transport = Transport(settings, clock or SystemClock(), random.Random(seed))
    return CLIENTS[settings.vendor](transport)


def _body(response: Response) -> tuple[dict[str, Any], datetime | None]:
    return (response.body if isinstance(response.body, dict) else {}), response.date


def _quoted(text: str) -> str:
    """A value inside a vendor's quoted query string: quotes and backslashes escaped."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
