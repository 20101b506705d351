"""Live re-verification: re-read, through the vendors' APIs, the objects the open findings
of the latest audit are about, and store what the vendors answered as live snapshots.

Targets: an intent finding reads its intent's object; a run finding the objects of every
intent of its run; an effect finding its object. An object is read by its stable key: its
id where the audit knows one (the matched object, the receipt, the target), else by the
intent's markers (intent id, idempotency keys) at the system's correlation paths. The
responses of one system become one file under `live/<source>/`, in the shape the system's
connector reads, and one snapshot of origin `live` whose `observed_at` is the newest
response's HTTP `Date`. A live read proves no absence (an object not found is not
recorded), so it never counts toward a system's freshness (rules/models/20_observed.sql).
The caller re-audits afterwards: the incremental audit recomputes the runs whose objects
changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.live import (
    ApiError,
    Client,
    Clock,
    MissingCredentials,
    Read,
    open_client,
    webhook_events,
)
from reckon import atomic, database
from reckon.config import Source
from reckon.locking import DEFAULT_TIMEOUT, workspace_lock
from reckon.snapshots import Snapshot, take_live_snapshot
from reckon.workspace import Workspace

LIVE_FOLDER = "live"

# The open findings to verify and the objects each touches (parameters, never pasted).
TARGETS_SQL = """
WITH chosen AS (
    SELECT finding_id, subject_kind, subject_id, run_id, system FROM open_findings
    WHERE ($finding::VARCHAR IS NULL OR finding_id = $finding) AND ($run::VARCHAR IS NULL OR run_id = $run)
)
SELECT c.finding_id, c.run_id, s.system, s.intent_id,
    list_distinct(list_filter([s.external_id, s.receipt_external_id, s.target_key], lambda x: x IS NOT NULL)) AS ids,
    list_distinct(list_filter([s.intent_id, s.idempotency_key, s.last_attempt_key], lambda x: x IS NOT NULL)) AS markers
FROM chosen c
JOIN intent_state s ON (c.subject_kind = 'intent' AND s.intent_id = c.subject_id)
    OR (c.subject_kind = 'run' AND s.run_id = c.subject_id)
WHERE s.system IS NOT NULL
UNION ALL
SELECT c.finding_id, c.run_id, c.system, NULL, [substr(c.subject_id, length(c.system) + 2)], []
FROM chosen c WHERE c.subject_kind = 'effect'
ORDER BY 1, 3, 4
"""


@dataclass(frozen=True)
class Target:
    finding_id: str
    run_id: str | None
    system: str
    intent_id: str | None
    ids: tuple[str, ...]  # the object's ids the audit knows
    markers: tuple[str, ...]  # what the agent wrote into it (searched when no id is known)


@dataclass
class SystemRead:
    system: str
    source: Source
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the vendor's record
    dates: list[datetime] = field(default_factory=list)
    lookups: int = 0  # reads by id or by marker (a search and the reads it leads to count once)
    errors: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None


@dataclass
class Verification:
    findings: list[str]  # the findings whose objects were read
    systems: dict[str, SystemRead]
    skipped: dict[str, str]  # system -> why it was not read (no api settings, no vendor source)

    @property
    def errors(self) -> list[str]:
        return [e for read in self.systems.values() for e in read.errors]

    @property
    def snapshots(self) -> list[Snapshot]:
        return [r.snapshot for r in self.systems.values() if r.snapshot is not None]


class UnknownFinding(LookupError):
    """`--finding` names no open finding of the latest audit."""


def targets(
    ws: Workspace, finding_id: str | None = None, run_id: str | None = None
) -> list[Target]:
    """The objects the open findings of the latest published audit touch."""
    with database.connect_read_copy(ws) as con:
        rows = con.execute(TARGETS_SQL, {"finding": finding_id, "run": run_id}).fetchall()
        if finding_id is not None and not rows:
            known = con.execute(
                "SELECT count(*) FROM open_findings WHERE finding_id = ?", [finding_id]
            ).fetchone()
            if not known[0]:
                raise UnknownFinding(f"no open finding {finding_id} in the latest audit")
    return [Target(f, r, s, i, tuple(ids), tuple(m)) for f, r, s, i, ids, m in rows]


def verify(
    ws: Workspace,
    finding_id: str | None = None,
    run_id: str | None = None,
    clock: Clock | None = None,
    lock_timeout: float = DEFAULT_TIMEOUT,
) -> Verification:
    """Read every target's object live and store one live snapshot per system read."""
    chosen = targets(ws, finding_id, run_id)
    systems: dict[str, SystemRead] = {}
    skipped: dict[str, str] = {}
    for system in sorted({t.system for t in chosen}):
        reason = _unreadable(ws, system)
        if reason:
            skipped[system] = reason
            continue
        source = next(
            s
            for s in ws.config.sources
            if s.system == system and s.connector == _vendor(ws, system)
        )
        systems[system] = SystemRead(system, source)
    # One thread per system: each vendor has its own rate limit. The reads touch no
    # workspace file, so the lock waits until they are done.
    readers = {system: _reader(ws, system, clock) for system in systems}
    with ThreadPoolExecutor(max_workers=max(1, len(systems))) as pool:
        for done in [
            pool.submit(_read_system, readers[s], r, [t for t in chosen if t.system == s])
            for s, r in systems.items()
        ]:
            done.result()
    with workspace_lock(ws.root, lock_timeout):
        for read in systems.values():
            read.snapshot = _store(ws, read)
    return Verification(
        sorted({t.finding_id for t in chosen if t.system in systems}), systems, skipped
    )


def _vendor(ws: Workspace, system: str) -> str | None:
    api = ws.config.systems[system].api
    return api.vendor if api else None


def _unreadable(ws: Workspace, system: str) -> str | None:
    api = ws.config.systems[system].api
    if api is None:
        return f"systems.{system}.api is not set in reckon.yaml"
    if not any(s.system == system and s.connector == api.vendor for s in ws.config.sources):
        return f"no source of system {system} uses the {api.vendor} connector, which reads its API's records"
    return None


# --- reading one system ------------------------------------------------------------------


def _reader(ws: Workspace, system: str, clock: Clock | None) -> VendorReads:
    """The system's vendor reads on a client of its own (it reads the analyst copy once)."""
    api = ws.config.systems[system].api
    return VENDOR_READS[api.vendor](open_client(api, clock=clock), ws, system)


def _read_system(reader: VendorReads, read: SystemRead, chosen: list[Target]) -> None:
    system = reader.ws.config.systems[read.system]
    done: dict[tuple[str, str], int] = {}  # lookup -> objects it found
    for target in chosen:
        by_marker = [(path, m) for path in system.correlation_paths for m in target.markers]
        # By id first; by marker when no id is known or no id found anything (a receipt
        # naming an object the system does not have).
        for lookups in ([("id", i) for i in target.ids], by_marker):
            found = 0
            for how, key in lookups:
                if (how, key) not in done:
                    try:
                        done[(how, key)] = _lookup(reader, read, how, key)
                    except MissingCredentials as exc:  # every other read would fail the same way
                        read.errors.append(str(exc))
                        return
                    except ApiError as exc:
                        read.errors.append(str(exc))
                        done[(how, key)] = 0
                found += done[(how, key)]
            if found:
                break


def _lookup(reader: VendorReads, read: SystemRead, how: str, key: str) -> int:
    """One read by id or by marker into `read`; the number of objects it found."""
    result = reader.by_id(key) if how == "id" else reader.by_marker(how, key)
    read.lookups += 1
    if result.observed_at is not None:
        read.dates.append(result.observed_at)
    for record in result.objects:
        read.records[reader.record_id(record)] = record
    return len(result.objects)


def _store(ws: Workspace, read: SystemRead) -> Snapshot | None:
    """The records as one file in the connector's shape, then its live snapshot."""
    if not read.records:
        return None
    observed_at = max(read.dates) if read.dates else datetime.now(UTC).replace(microsecond=0)
    vendor = read.source.connector
    records = [read.records[k] for k in sorted(read.records)]
    document = PAGES[vendor](records)
    data = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    digest = hashlib.sha256(data).hexdigest()[:16]
    final = ws.root / LIVE_FOLDER / read.source.name / f"{observed_at:%Y%m%dT%H%M%SZ}-{digest}.json"
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = atomic.staging_path(final)
        staging.write_bytes(data)
        os.utime(staging, (observed_at.timestamp(), observed_at.timestamp()))
        atomic.publish([(staging, final)])
    return take_live_snapshot(ws, read.source, final, observed_at)


# --- per vendor: how an object is read by id and by marker -----------------------------


class VendorReads:
    """Reads one system's objects; `record_id` names a record (to merge duplicates)."""

    def __init__(self, client: Client, ws: Workspace, system: str) -> None:
        self.client, self.ws, self.system = client, ws, system

    def record_id(self, record: dict[str, Any]) -> str:
        return str(record["id"])

    def by_id(self, external_id: str) -> Read:
        raise NotImplementedError

    def by_marker(self, path: str, marker: str) -> Read:
        """The objects carrying `marker` at the correlation `path` (empty when the API cannot search it)."""
        return Read([], None)


class StripeReads(VendorReads):
    def by_id(self, external_id: str) -> Read:
        return self.client.retrieve_refund(external_id)

    def by_marker(self, path: str, marker: str) -> Read:
        if not path.startswith("metadata."):
            return Read([], None)
        return self.client.search_refunds(path.removeprefix("metadata."), marker)


class HubSpotReads(VendorReads):
    """Contacts with the properties the system's exports showed, and their history (who
    wrote last). A property with no value is left out, as exports leave it out."""

    def __init__(self, client: Client, ws: Workspace, system: str) -> None:
        super().__init__(client, ws, system)
        with database.connect_read_copy(ws) as con:
            names = con.execute(
                "SELECT DISTINCT unnest(json_keys(fields)) AS name FROM observed WHERE system = ? "
                "ORDER BY name",
                [system],
            ).fetchall()
        paths = ws.config.systems[system].correlation_paths
        self.properties = sorted(
            {n for (n,) in names}
            | {p.removeprefix("properties.") for p in paths if p.startswith("properties.")}
        )

    def by_id(self, external_id: str) -> Read:
        return self._shown(self.client.contact(external_id, self.properties))

    def by_marker(self, path: str, marker: str) -> Read:
        if not path.startswith("properties."):
            return Read([], None)
        found = self.client.search_contacts(
            path.removeprefix("properties."), marker, self.properties
        )
        reads = [
            self.by_id(str(c["id"])) for c in found.objects
        ]  # again by id: the search has no history
        return Read(
            [o for r in reads for o in r.objects],
            max((r.observed_at for r in [found, *reads] if r.observed_at), default=None),
        )

    @staticmethod
    def _shown(read: Read) -> Read:
        for contact in read.objects:
            contact["properties"] = {
                k: v for k, v in (contact.get("properties") or {}).items() if v is not None
            }
        return read


class ZendeskReads(VendorReads):
    def by_id(self, external_id: str) -> Read:
        return self.client.ticket(external_id) if external_id.isdigit() else Read([], None)

    def by_marker(self, path: str, marker: str) -> Read:
        if path == "external_id":
            return self.client.tickets_by_external_id(marker)
        if path == "tags":
            return self.client.search(f"type:ticket tags:{marker}")
        return Read([], None)


class SendGridReads(VendorReads):
    """Messages from Email Activity, by their full message id (which the exports show in
    `sg_message_id`) or by a custom arg; each as its detail, turned into webhook events."""

    def __init__(self, client: Client, ws: Workspace, system: str) -> None:
        super().__init__(client, ws, system)
        with database.connect_read_copy(ws) as con:
            rows = con.execute(
                "SELECT external_id, fields ->> 'sg_message_id' FROM observed WHERE system = ? "
                "AND fields ->> 'sg_message_id' IS NOT NULL",
                [system],
            ).fetchall()
        self.full_ids = dict(rows)

    def record_id(self, record: dict[str, Any]) -> str:
        return str(record["msg_id"])

    def by_id(self, external_id: str) -> Read:
        full = self.full_ids.get(external_id)
        return self.client.message(full) if full else Read([], None)

    def by_marker(self, path: str, marker: str) -> Read:
        if "." in path:  # custom args are top-level keys of an event
            return Read([], None)
        found = self.client.messages_with_arg(path, marker)
        reads = [self.client.message(m["msg_id"]) for m in found.objects]
        return Read(
            [o for r in reads for o in r.objects],
            max((r.observed_at for r in [found, *reads] if r.observed_at), default=None),
        )


VENDOR_READS: dict[str, type[VendorReads]] = {
    "stripe": StripeReads,
    "hubspot": HubSpotReads,
    "zendesk": ZendeskReads,
    "sendgrid": SendGridReads,
}
# The file each vendor's records are stored as: the shape its connector reads.
PAGES: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "stripe": lambda records: {
        "object": "list",
        "data": records,
        "has_more": False,
        "url": "/v1/refunds",
    },
    "hubspot": lambda records: {"results": records},
    "zendesk": lambda records: {"tickets": records},
    "sendgrid": lambda records: [event for record in records for event in webhook_events(record)],
}
