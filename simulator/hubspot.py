"""HubSpot CRM v3: contact list pages with properties and propertiesWithHistory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.model import Change, Contact, rfc3339
from simulator.output import Output, json_bytes
from simulator.world import World

PAGE_SIZE = 25  # HubSpot allows up to 100; small pages show paging in a demo
API = "https://api.hubapi.com/crm/v3/objects/contacts"


def contact_object(contact: Contact) -> dict[str, Any]:
    updated = rfc3339(contact.updated_at)
    properties = {name: contact.value(name) for name in contact.history}
    properties |= {"createdate": rfc3339(contact.created_at), "lastmodifieddate": updated,
                   "hs_object_id": contact.id, **contact.extra}  # fmt: skip
    history = {
        name: [
            {"value": c.value, "timestamp": rfc3339(c.at), **c.source}
            for c in sorted(changes, key=lambda c: c.at, reverse=True)
        ]
        for name, changes in contact.history.items()
    }
    return {"id": contact.id, "properties": properties, "propertiesWithHistory": history,
            "createdAt": rfc3339(contact.created_at), "updatedAt": updated, "archived": False}  # fmt: skip


def contact_from_object(obj: dict[str, Any]) -> Contact:
    """The contact a page shows (the inverse of `contact_object`), to change on a later day."""
    history = {
        name: [
            Change(e["value"], datetime.fromisoformat(e["timestamp"]),
                   {k: v for k, v in e.items() if k not in ("value", "timestamp")})
            for e in sorted(entries, key=lambda e: e["timestamp"])
        ]
        for name, entries in obj["propertiesWithHistory"].items()
    }  # fmt: skip
    derived = {"createdate", "lastmodifieddate", "hs_object_id", *history}
    extra = {k: v for k, v in obj["properties"].items() if k not in derived}
    return Contact(obj["id"], datetime.fromisoformat(obj["createdAt"]), history, extra)


def write_hubspot(world: World, out: Output) -> None:
    contacts = sorted(world.contacts.values(), key=lambda c: int(c.id))
    pages = [contacts[i : i + PAGE_SIZE] for i in range(0, len(contacts), PAGE_SIZE)] or [[]]
    with_history = world.conventions.actors == "known"
    for number, page in enumerate(pages, start=1):
        results = [contact_object(c) for c in page]
        if not with_history:  # an export that asked for properties only: no one named
            results = [{k: v for k, v in r.items() if k != "propertiesWithHistory"} for r in results]
        document: dict[str, Any] = {"results": results}
        if number < len(pages):
            after = str(int(page[-1].id) + 1)
            document["paging"] = {"next": {"after": after, "link": f"{API}?after={after}"}}
        out.landing("hubspot", f"contacts-page-{number}.json", json_bytes(document))
