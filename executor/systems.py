"""The live systems as the executor sees them, through the vendor API clients
(connectors/live): fresh reads for the preconditions, as the canonical rows reckon's own
connectors make of the vendor's records (so a live read compares with the plan's values
exactly as an export would), and the operations it can carry out.

| operation | call | key | landed when (a live re-read) |
| --- | --- | --- | --- |
| `stripe.refund.create` | POST /v1/refunds | `Idempotency-Key`; also `metadata.reckon_idempotency_key` | a refund carries the key in its metadata |
| `sendgrid.message.send` | POST /v3/mail/send | `custom_args.reckon_idempotency_key` | Email Activity has a message with that custom arg |
| `hubspot.contact.update` | PATCH the contact's properties | none at HubSpot | the contact shows every patched value |
| `zendesk.ticket.update` | PUT the ticket | none at Zendesk | the ticket shows every intended value |
| `hubspot.contact.archive` | DELETE the contact (archive) | none | the contact is gone (404) |
| `zendesk.ticket.close` / `.reopen` | PUT status closed / open | none | the ticket has that status |

Anything else (a Stripe refund cannot be reversed through this client, nor patched; creates
without an idempotency key) is left to a person. Field names in `expected` and
`patch_fields` are the workflow's: they are written under the system's own names from the
system's `fields` mapping in reckon.yaml, values translated by its `values`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import Reader
from connectors.live import (
    ApiError,
    ApiSettings,
    Client,
    Conflict,
    MissingCredentials,
    RetriesExhausted,
    open_client,
    webhook_events,
)
from connectors.values import BadRecord
from executor.run import Refused, Uncertain, Unreadable
from reckon.config import System
from reckon.preconditions import source_reader
from reckon.verify import VENDOR_READS, VendorReads
from reckon.workspace import Workspace

KEY_ARG = "reckon_idempotency_key"  # where a send or a refund carries the plan's key
INTENT_ARG = "reckon_intent_id"
NEVER = datetime.min.replace(tzinfo=UTC)  # a version with no time sorts first


def vendor_field(system: System, name: str, value: Any = None) -> tuple[str, Any]:
    """An intended field as the system names it, and its value as the system spells it."""
    mapping = next((m for m in system.fields if m.field == name), None)
    if mapping is None or mapping.kind not in ("raw", "fields"):
        return name, value
    return mapping.path.split(".")[-1], mapping.values.get(str(value), value)


# A vendor's record -> the canonical rows its connector makes of it.
ROWS: dict[str, Callable[[Any, dict[str, Any]], list[dict[str, Any]]]] = {
    "stripe": lambda reader, record: [reader.refund_row(record, None)],
    "hubspot": lambda reader, record: reader.object_rows(record)[:1],
    "zendesk": lambda reader, record: [reader.ticket_row(record)],
    "sendgrid": lambda reader, record: [reader.event_row(e) for e in webhook_events(record)],
}


@dataclass
class LiveSystems:
    """reckon.preconditions.Vendor over the APIs (read as `reckon verify` reads them,
    reckon/verify.py), and the executor's operations."""

    ws: Workspace
    clients: dict[str, Client]  # system -> its client
    reads: dict[str, VendorReads]  # system -> how its objects are read by id and by marker
    # system -> (vendor, the connector that reads its records)
    readers: dict[str, tuple[str, Reader]]

    @property
    def vendor(self) -> LiveSystems:
        return self

    # --- reads (reckon.preconditions.Vendor) ----------------------------------------------

    def object(self, system: str, external_id: str) -> dict[str, Any] | None:
        """The object's canonical row; of a message's events, the newest settled one."""
        with unreadable(f"{system} {external_id}"):
            rows = self._rows(system, self._reads(system).by_id(external_id).objects)
        return max(
            rows, key=lambda r: (r["state"] != "pending", r["updated_at"] or NEVER), default=None
        )

    def carriers(self, system: str, keys: set[str]) -> list[str]:
        found = set()
        with unreadable(f"{system}'s objects carrying {', '.join(sorted(keys))}"):
            for path in self.ws.config.systems[system].correlation_paths:
                for key in sorted(keys):
                    rows = self._rows(system, self._reads(system).by_marker(path, key).objects)
                    found.update(
                        r["external_id"] for r in rows if keys & set(r["correlation_keys"] or [])
                    )
        return sorted(found)

    def _reads(self, system: str) -> VendorReads:
        if system not in self.reads:
            raise Unreadable(
                f"no API configured for {system} (systems.{system}.api in reckon.yaml)"
            )
        return self.reads[system]

    def _rows(self, system: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        vendor, reader = self.readers[system]
        return [row for record in records for row in ROWS[vendor](reader, record)]

    # --- operations ------------------------------------------------------------------------

    def operation(self, action: dict[str, Any]) -> Operation | str:
        system_name, params = action["target_system"], action["parameters"]
        name = params.get("operation")
        if system_name not in self.clients:
            return f"no API configured for {system_name} (systems.{system_name}.api in reckon.yaml)"
        vendor = self.readers[system_name][0]
        build = OPERATIONS.get((vendor, name, "patch_fields" in params))
        if build is None:
            what = "no counter-operation" if action["pattern"] == "compensation" else "no call"
            return (
                f"{name} on {system_name}: {what} the executor can make safely (a person decides)"
            )
        if action["target_external_id"] is None and vendor in ("hubspot", "zendesk"):
            return f"{name}: no target object to act on"
        return Operation(self, action, *build)


@contextmanager
def unreadable(what: str) -> Iterator[None]:
    """A read that fails (no answer, a refusal, a record reckon cannot read) is Unreadable."""
    try:
        yield
    except MissingCredentials:
        raise
    except (ApiError, BadRecord) as exc:
        raise Unreadable(f"could not read {what}: {exc}") from exc


@dataclass
class Operation:
    """One action's call and its re-read, bound to the systems."""

    systems: LiveSystems
    action: dict[str, Any]
    call: Callable[[Operation], dict[str, Any]]
    look: Callable[[Operation], dict[str, Any] | None]

    @property
    def client(self) -> Any:
        return self.systems.clients[self.action["target_system"]]

    @property
    def config(self) -> System:
        return self.systems.ws.config.systems[self.action["target_system"]]

    def values(self, fields: dict[str, Any]) -> dict[str, Any]:
        return dict(vendor_field(self.config, k, v) for k, v in fields.items())

    def act(self) -> dict[str, Any]:
        try:
            return self.call(self)
        except MissingCredentials:
            raise
        except RetriesExhausted as exc:
            raise Uncertain(str(exc)) from exc
        except (Conflict, ApiError) as exc:
            raise Refused(str(exc)) from exc

    def landed(self) -> dict[str, Any] | None:
        with unreadable(f"{self.action['target_system']} for {self.action['action_id']}"):
            return self.look(self)


def _refund(op: Operation) -> dict[str, Any]:
    a = op.action
    params = {**op.values(a["parameters"]["expected"] or {}),
              "metadata": {INTENT_ARG: a["subject_id"], KEY_ARG: a["idempotency_key"]}}  # fmt: skip
    written = op.client.create_refund(params, a["idempotency_key"])
    return {"external_id": written.object_id, "replayed": written.replayed}


def _refund_landed(op: Operation) -> dict[str, Any] | None:
    found = op.client.search_refunds(KEY_ARG, op.action["idempotency_key"]).objects
    return {"external_id": found[0]["id"]} if found else None


def _send(op: Operation) -> dict[str, Any]:
    a = op.action
    values = op.values(a["parameters"]["expected"] or {})
    mail = {"personalizations": [{"to": [{"email": values.get("email")}]}],
            "categories": [values["category"]] if values.get("category") else [],
            "custom_args": {INTENT_ARG: a["subject_id"]}}  # fmt: skip
    return {"external_id": op.client.send(mail, a["idempotency_key"], KEY_ARG).object_id}


def _send_landed(op: Operation) -> dict[str, Any] | None:
    found = op.client.messages_with_arg(KEY_ARG, op.action["idempotency_key"]).objects
    return {"external_id": found[0]["msg_id"].split(".", 1)[0]} if found else None


def _patch(op: Operation) -> dict[str, Any]:
    target = op.action["target_external_id"]
    op.client.update_contact(target, {k: str(v) for k, v in _patch_values(op).items()})
    return {"external_id": target}


def _patch_values(op: Operation) -> dict[str, Any]:
    return op.values(op.action["parameters"]["patch_fields"])


def _patch_landed(op: Operation) -> dict[str, Any] | None:
    wanted = {k: str(v) for k, v in _patch_values(op).items()}
    found = op.client.contact(
        op.action["target_external_id"], sorted(wanted), with_history=False
    ).objects
    shows = found and all((found[0].get("properties") or {}).get(k) == v for k, v in wanted.items())
    return {"external_id": op.action["target_external_id"]} if shows else None


def _ticket_changes(op: Operation) -> dict[str, Any]:
    compensation = {"zendesk.ticket.close": "closed", "zendesk.ticket.reopen": "open"}
    operation = op.action["parameters"]["operation"]
    if operation in compensation:
        return {"status": compensation[operation]}
    return op.values(op.action["parameters"]["expected"] or {})


def _update_ticket(op: Operation) -> dict[str, Any]:
    target = op.action["target_external_id"]
    op.client.update_ticket(target, _ticket_changes(op))
    return {"external_id": target}


def _ticket_landed(op: Operation) -> dict[str, Any] | None:
    found = op.client.ticket(op.action["target_external_id"]).objects
    shows = found and all(found[0].get(k) == v for k, v in _ticket_changes(op).items())
    return {"external_id": op.action["target_external_id"]} if shows else None


def _archive(op: Operation) -> dict[str, Any]:
    op.client.archive_contact(op.action["target_external_id"])
    return {"external_id": op.action["target_external_id"]}


def _archive_landed(op: Operation) -> dict[str, Any] | None:
    gone = not op.client.contact(op.action["target_external_id"], [], with_history=False).objects
    return {"external_id": op.action["target_external_id"]} if gone else None


# (vendor, operation, is a patch) -> (call, landed)
OPERATIONS: dict[tuple[str, str, bool], tuple[Callable, Callable]] = {
    ("stripe", "stripe.refund.create", False): (_refund, _refund_landed),
    ("sendgrid", "sendgrid.message.send", False): (_send, _send_landed),
    ("hubspot", "hubspot.contact.update", True): (_patch, _patch_landed),
    ("zendesk", "zendesk.ticket.update", False): (_update_ticket, _ticket_landed),
    ("zendesk", "zendesk.ticket.close", False): (_update_ticket, _ticket_landed),
    ("zendesk", "zendesk.ticket.reopen", False): (_update_ticket, _ticket_landed),
    ("hubspot", "hubspot.contact.archive", False): (_archive, _archive_landed),
}


def open_systems(
    ws: Workspace, apis: dict[str, ApiSettings] | None = None, **client_options: Any
) -> LiveSystems:
    """The clients of the systems that have an API (`apis`, by default each system's `api`
    in reckon.yaml) and a source read by that vendor's connector."""
    if apis is None:
        apis = {
            name: system.api for name, system in ws.config.systems.items() if system.api is not None
        }
    sources = {(s.system, s.connector): s for s in ws.config.sources}
    usable = {
        name: settings for name, settings in apis.items() if (name, settings.vendor) in sources
    }
    clients = {name: open_client(settings, **client_options) for name, settings in usable.items()}
    readers = {name: (settings.vendor, source_reader(ws, sources[(name, settings.vendor)]))
               for name, settings in usable.items()}  # fmt: skip
    reads = {
        name: VENDOR_READS[usable[name].vendor](client, ws, name)
        for name, client in clients.items()
    }
    return LiveSystems(ws, clients, reads, readers)
