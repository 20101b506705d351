"""HubSpot CRM v3: contact list pages with properties and propertiesWithHistory."""

from __future__ import annotations

from typing import Any

from reckon.simulator.model import Contact, rfc3339
from reckon.simulator.output import Output, json_bytes
from reckon.simulator.world import World

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


def write_hubspot(world: World, out: Output) -> None:
    contacts = sorted(world.contacts.values(), key=lambda c: int(c.id))
    pages = [contacts[i : i + PAGE_SIZE] for i in range(0, len(contacts), PAGE_SIZE)] or [[]]
    for number, page in enumerate(pages, start=1):
        document: dict[str, Any] = {"results": [contact_object(c) for c in page]}
        if number < len(pages):
            after = str(int(page[-1].id) + 1)
            document["paging"] = {"next": {"after": after, "link": f"{API}?after={after}"}}
        out.write(f"landing/hubspot/contacts-page-{number}.json", json_bytes(document))
