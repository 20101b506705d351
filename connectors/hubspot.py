"""HubSpot CRM v3 objects: list pages, single objects, or arrays of objects.

Besides one row per object, a survivor of merges gets one alias row per
absorbed id, because HubSpot stops listing absorbed records on their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.base import QuarantineSink, Reader
from connectors.files import JsonDocument, numbered_rows
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import BadRecord, dumps, parse_rfc3339, require_id

# History that says nothing about who last wrote the object's business data: values
# HubSpot computes itself (by source type, since hs_lead_status and other hs_* properties
# are business data) and its bookkeeping properties.
IGNORED_SOURCE_TYPES = frozenset({"CALCULATED", "ANALYTICS"})
IGNORED_PROPERTIES = frozenset(
    {"lastmodifieddate", "createdate", "hs_lastmodifieddate", "hs_createdate", "hs_object_id", "hs_merged_object_ids"}
)


def writers(history: Any) -> tuple[str | None, dict[str, str]]:
    """Who made the newest write among the properties that count (None without history),
    and each writer's newest write time (RFC 3339)."""
    if history is None:
        return None, {}
    if not isinstance(history, dict):
        raise BadRecord("field 'propertiesWithHistory' must be an object")
    newest: tuple[datetime, str] | None = None
    latest: dict[str, datetime] = {}
    for name in sorted(history):  # sorted: ties resolve the same way every time
        entries = history[name]
        if name in IGNORED_PROPERTIES or entries is None:
            continue
        if not isinstance(entries, list):
            raise BadRecord(f"field 'propertiesWithHistory.{name}' must be an array")
        for index, entry in enumerate(entries):
            where = f"propertiesWithHistory.{name}[{index}]"
            if not isinstance(entry, dict):
                raise BadRecord(f"field '{where}' must be an object")
            if entry.get("sourceType") in IGNORED_SOURCE_TYPES:
                continue
            at = parse_rfc3339(entry.get("timestamp"), f"{where}.timestamp")
            actor = actor_of(entry)
            if actor not in latest or at > latest[actor]:
                latest[actor] = at
            if newest is None or at > newest[0]:
                newest = (at, actor)
    return (newest[1] if newest else None), {actor: at.isoformat() for actor, at in sorted(latest.items())}


def actor_of(entry: dict[str, Any]) -> str:
    """A history entry's writer: a person (`user:<id>`), else `<sourceType>:<sourceId>`."""
    source_type = entry.get("sourceType") or "UNKNOWN"
    if entry.get("updatedByUserId") is not None:
        return f"user:{entry['updatedByUserId']}"
    if entry.get("sourceId") is not None:
        return f"{source_type}:{entry['sourceId']}"
    return str(source_type)


def merged_ids(properties: dict[str, Any], survivor: str) -> list[str]:
    """Absorbed ids from `hs_merged_object_ids` ("101;102"), in order, without repeats."""
    value = properties.get("hs_merged_object_ids")
    if value is None:
        return []
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadRecord("field 'properties.hs_merged_object_ids' must be a string")
    ids: list[str] = []
    for part in str(value).split(";"):
        part = part.strip()
        if part and part != survivor and part not in ids:
            ids.append(part)
    return ids


class HubSpotReader(Reader):
    name = "hubspot"
    layer = "observed"
    schema = OBSERVED_SCHEMA
    # A CRM v3 object's top-level fields; properties are a map (custom ones are normal).
    known_fields = frozenset({"id", "properties", "propertiesWithHistory", "createdAt", "updatedAt", "archived",
                              "archivedAt", "associations", "objectWriteTraceId", "url"})
    expected_fields = frozenset({"id", "properties"})
    id_form = "integer"
    states: ClassVar[dict[str, str]] = {"active": "success", "archived": "deleted", "merged": "deleted"}
    time_fields: ClassVar[dict[str, str]] = {"created_at": "createdAt", "updated_at": "updatedAt"}

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        document = JsonDocument.check(path, list_key="results")
        build = self.noting(source_file, self.object_rows, self.latest_plausible(path), document.escapes)
        rows = numbered_rows(document.numbered(sink, source_file), sink, source_file, build)
        yield from self.to_batches(rows)

    def object_rows(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        object_id = require_id(record, "id")
        properties = record.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise BadRecord("field 'properties' must be an object")
        archived = record.get("archived", False)
        if archived is None:
            archived = False
        if not isinstance(archived, bool):
            raise BadRecord(f"field 'archived' must be a boolean, got {archived!r}")
        updated_at = parse_rfc3339(record.get("updatedAt"), "updatedAt")
        actor, writes = writers(record.get("propertiesWithHistory"))
        object_type = self.options.object_type or "contact"
        rows = [
            {
                "system": self.options.system,
                "object_type": object_type,
                "external_id": object_id,
                "correlation_keys": self.correlation_keys(record),
                "state": "deleted" if archived else "success",
                "raw_status": "archived" if archived else "active",
                "fields": dumps(properties),
                "last_actor": actor,
                "created_at": parse_rfc3339(record.get("createdAt"), "createdAt"),
                "updated_at": updated_at,
                "merged_into": None,
                "edited_at": updated_at,
                "actor_writes": dumps(writes) if writes else None,
                # The history is summed up in last_actor; the rest is the record as read.
                "raw": dumps({key: value for key, value in record.items() if key != "propertiesWithHistory"}),
            }
        ]
        # Absorbed records vanish from listings; an alias row keeps them resolvable.
        for absorbed in merged_ids(properties, object_id):
            rows.append(
                {
                    "system": self.options.system,
                    "object_type": object_type,
                    "external_id": absorbed,
                    "correlation_keys": [],
                    "state": "deleted",
                    "raw_status": "merged",
                    "fields": "{}",
                    "last_actor": None,
                    "created_at": None,
                    "updated_at": updated_at,
                    "merged_into": object_id,
                    "edited_at": None,
                    "actor_writes": None,
                    "raw": None,
                }
            )
        return rows
