"""A mock vendor server's state from a simulated workspace, and back to landing files."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.live.clients import webhook_events
from connectors.live.transport import VENDORS
from reckon.workspace import Workspace
from simulator.live import Live
from simulator.output import Output, json_bytes
from simulator.stripe import list_page
from simulator.vendor_api.server import VendorServer
from simulator.vendor_api.vendors import activity_detail

# Where `export_landing` writes each vendor's files: the simulated workspace's sources.
LANDING = {
    "stripe": "landing/stripe/refunds-list-{tag}.json",
    "hubspot": "landing/hubspot/contacts-{tag}-page-1.json",
    "zendesk": "landing/zendesk/tickets-{tag}-page-1.json",
    "sendgrid": "landing/sendgrid/batch-{tag}-0001.json",
}


def system_vendors(ws: Workspace) -> dict[str, str]:
    """system -> vendor, for the systems a vendor connector exports."""
    return {s.system: s.connector for s in ws.config.sources if s.system and s.connector in VENDORS}


def from_workspace(root: Path, now: datetime | None = None, **options: Any) -> VendorServer:
    """A (not yet started) server holding what the workspace's landing files show now: the
    newest raw record of every refund, contact and ticket, and every message's newest event.
    `now` defaults to a minute after the latest audit's as-of (else the newest object version)."""
    live = Live.read(root)
    vendors = system_vendors(Workspace.open(root))
    if now is None:
        newest = max(
            (row["updated_at"] for row in live.objects.values() if row.get("updated_at")),
            default=None,
        )
        now = (
            live.as_of or newest or datetime.fromisoformat("2026-01-01T00:00:00+00:00")
        ) + timedelta(minutes=1)
    server = VendorServer(now=now, **options)
    state = server.state
    stores = {"stripe": state.refunds, "hubspot": state.contacts, "zendesk": state.tickets}
    for (system, external_id), row in sorted(live.objects.items()):
        vendor = vendors.get(system)
        raw = live.raw.get((system, external_id)) or (
            json.loads(row["raw"]) if row.get("raw") else None
        )
        if vendor is None or raw is None:
            continue
        if vendor == "sendgrid":
            if raw.get("sg_message_id"):
                detail = activity_detail(raw)
                state.messages[detail["msg_id"]] = detail
        elif vendor in stores and (vendor != "stripe" or raw.get("object") == "refund"):
            stores[vendor][str(raw["id"])] = json.loads(json.dumps(raw))
    return server


def export_landing(
    server: VendorServer, root: Path, tag: str, at: datetime | None = None
) -> list[Path]:
    """Everything the server holds now as NEW landing files (`refunds-list-<tag>.json`, ...)
    whose mtime is the export time (`at`, default the server's now), the way a later day of
    the simulation writes them: the next audit sees what changed."""
    with server.lock:
        state = server.state
        refunds = sorted(
            state.refunds.values(), key=lambda r: (r["created"], r["id"]), reverse=True
        )
        documents = {
            "stripe": list_page(refunds, "/v1/refunds"),
            "hubspot": {"results": sorted(state.contacts.values(), key=lambda c: int(c["id"]))},
            "zendesk": {
                "tickets": sorted(state.tickets.values(), key=lambda t: t["id"]),
                "end_of_stream": True,
            },
            "sendgrid": [
                e for m in sorted(state.messages) for e in webhook_events(state.messages[m])
            ],
        }
        documents = json.loads(json.dumps(documents))
    out = Output(Path(root))
    for vendor, document in documents.items():
        out.write(LANDING[vendor].format(tag=tag), json_bytes(document))
    out.stamp(at or server.now)
    return out.files
