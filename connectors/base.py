"""What every connector shares: the reader contract, its options, and quarantine.

A connector turns one raw export file into canonical Arrow record batches
(see `schema.py`). It never raises on bad data: a malformed line or record
goes to the quarantine sink with its file, line/record number and reason,
and reading continues with the next one.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from connectors.schema import QUARANTINE_SCHEMA
from connectors.values import (
    CLOCK_SKEW,
    bounded,
    dig,
    excerpt,
    not_after,
    require_unicode,
    storable,
)

BATCH_ROWS = 50_000
BATCH_BYTES = 4 << 20  # of JSON text per batch: a page of large records stays small in memory


@dataclass
class SourceOptions:
    """What a connector needs to know about the source it reads (from reckon.yaml)."""

    source: str
    system: str | None = None
    object_type: str | None = None
    # Dotted paths into a raw record whose values may carry our correlation key.
    correlation_paths: list[str] = field(default_factory=list)
    # Only values matching this pattern count as correlation keys (our markers).
    correlation_pattern: re.Pattern[str] = re.compile(r".+")
    # Root the `source_file` column is written relative to.
    root: Path = Path(".")
    # Connector-specific settings from reckon.yaml (`sources.<name>.options`).
    options: dict[str, Any] = field(default_factory=dict)
    batch_rows: int = BATCH_ROWS

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


@dataclass
class QuarantineSink:
    """Collects rejected records; the snapshot writer persists them beside the good rows."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, source_file: str, record: int, reason: str, raw: Any = None) -> None:
        self.rows.append(
            {
                "source": self.source,
                "source_file": source_file,
                "source_record": record,
                # A reason may quote a value with a lone surrogate, or a long one: cut to REASON_CHARS.
                "reason": bounded(storable(reason)),
                "excerpt": excerpt(raw),
            }
        )

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=QUARANTINE_SCHEMA)


class Reader(ABC):
    """One reader per source format. Subclasses set `name` and `schema`."""

    name: ClassVar[str]
    layer: ClassVar[str]  # "workflow" (events) or "observed" (objects)
    schema: ClassVar[pa.Schema]
    # Schema drift: the top-level fields of a record the format documents (empty: the
    # reader does not track drift) and those every record carries. A reader reports
    # the fields of each raw record it reads with `note_fields`.
    known_fields: ClassVar[frozenset[str]] = frozenset()
    expected_fields: ClassVar[frozenset[str]] = frozenset()
    # Observed readers: how the system spells an object's id canonically (ID_FORMS), and
    # its status words -> normalized states (what `$state` in a field mapping reads).
    id_form: ClassVar[str] = "verbatim"
    states: ClassVar[dict[str, str]] = {}
    # Status words that can only follow others (an opened message was delivered; a closed
    # ticket was solved): an intended earlier word holds on an object showing a later one.
    status_implies: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Records dropped as identical copies of one read before (webhook retries), over every
    # file this reader read: neither rows nor quarantine, so counted here.
    repeats_dropped: int = 0
    # Row columns holding the record's own times, each with the record field it comes from
    # (for the reason), that `check_times` bounds by the export (readers that check as they
    # parse call `values.not_after` themselves).
    time_fields: ClassVar[dict[str, str]] = {}

    def __init__(self, options: SourceOptions) -> None:
        self.options = options
        self.fields_seen: dict[str, set[str]] = {}  # source_file -> raw fields seen

    def note_fields(self, source_file: str, names: Iterable[str]) -> None:
        """Tally the raw top-level fields of one record (or of a whole file's header)."""
        self.fields_seen.setdefault(source_file, set()).update(names)

    def noting(
        self,
        source_file: str,
        build: Callable[[dict[str, Any]], Any],
        latest: datetime | None = None,
        escapes: bool = True,
    ) -> Callable[[dict[str, Any]], Any]:
        """`build`, tallying each record's top-level fields first (for schema drift); a
        record with a lone surrogate is bad before either (see `values.require_unicode`),
        looked for only when the file's text `escapes` a surrogate (`values.surrogate_escape`).
        With `latest` (see `latest_plausible`), a record whose rows are dated after it is bad."""

        def noted(record: dict[str, Any]) -> Any:
            if escapes:
                require_unicode(record)
            self.note_fields(source_file, record)
            built = build(record)
            if latest is not None:
                for row in built if isinstance(built, list) else [built]:
                    self.check_times(row, latest)
            return built

        return noted

    def check_times(self, row: dict[str, Any], latest: datetime) -> None:
        """Raise BadRecord when one of the row's `time_fields` is after `latest`: such a
        record cannot be true, and it would outrank every later version of its object."""
        for column, key in self.time_fields.items():
            value = row.get(column)
            if value is not None:
                not_after(value, latest, key)

    def documented(self, name: str) -> bool:
        """Whether the format documents this field (a reader may match families of names)."""
        return name in self.known_fields

    def field_drift(self) -> tuple[list[str], list[str]]:
        """(added, missing) over the files read: fields no documentation names, and
        expected fields absent from every record of a file that had records."""
        added: set[str] = set()
        missing: set[str] = set()
        for seen in self.fields_seen.values():
            if self.known_fields:
                added.update(name for name in seen if not self.documented(name))
            missing.update(self.expected_fields - seen)
        return sorted(added), sorted(missing)

    def observed_row(self, default_type: str, **values: Any) -> dict[str, Any]:
        """A row of OBSERVED_SCHEMA from this source (source_file/record are added later);
        `values` name its external_id, state and whatever else the record has."""
        row = {
            "system": self.options.system,
            "object_type": self.options.object_type or default_type,
            "correlation_keys": [],
            "raw_status": None,
            "fields": None,
            "last_actor": None,
            "created_at": None,
            "updated_at": None,
            "merged_into": None,
            "edited_at": None,
            "actor_writes": None,
            "raw": None,
        }
        row.update(values)
        return row

    def status_vocabulary(self) -> dict[str, str]:
        """The system's status words and the normalized state each means."""
        return dict(self.states)

    def latest_plausible(self, path: Path) -> datetime:
        """No record can be newer than the export holding it: its export time (or the
        file's mtime) plus a day of clock skew. Later timestamps are bad records."""
        return self.latest_after(path, self.exported_at(path))

    @staticmethod
    def latest_after(path: Path, exported: datetime | None) -> datetime:
        """`latest_plausible` for an export time already read (None: the file's mtime)."""
        if exported is None:
            exported = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        try:
            return exported + CLOCK_SKEW
        except OverflowError:  # an export dated in year 9999's last day: no time is later
            return datetime.max.replace(tzinfo=UTC)

    @abstractmethod
    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        """Yield canonical batches for one file; reject bad records into `sink`."""

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Reject unusable `options` with a ValueError naming the key (none by default)."""
        if options:
            raise ValueError(f"connector '{cls.name}' takes no options (got {', '.join(sorted(options))})")

    def exported_at(self, path: Path) -> datetime | None:
        """The export's own timestamp, where the format has one."""
        return None

    def handoff(self, path: Path) -> Any:
        """What this reader kept of `path` while finding its export time (a checked
        document), for a reader in another process to `take` instead of reading it again;
        None when it kept nothing. The state leaves this reader."""
        return None

    def take(self, path: Path, kept: Any) -> None:
        """Receive what another reader's `handoff` gave for `path` (kept by none here)."""
        return None

    def to_batches(self, rows: Iterable[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
        """Group canonical row dicts into record batches of bounded size: at most
        `batch_rows` rows, or BATCH_BYTES of their JSON text (large vendor records)."""
        chunk: list[dict[str, Any]] = []
        text = 0
        for row in rows:
            chunk.append(row)
            text += len(row.get("raw") or "") + len(row.get("fields") or "")
            if len(chunk) >= self.options.batch_rows or text >= BATCH_BYTES:
                yield pa.RecordBatch.from_pylist(chunk, schema=self.schema)
                chunk, text = [], 0
        if chunk:
            yield pa.RecordBatch.from_pylist(chunk, schema=self.schema)

    def correlation_keys(self, record: dict[str, Any]) -> list[str]:
        """Values at the configured correlation paths that look like our markers."""
        return self.markers(dig(record, path) for path in self.options.correlation_paths)

    def markers(self, values: Iterable[Any], keys: list[str] | None = None) -> list[str]:
        """`keys` plus the values (or list items) that look like our markers, in order, once."""
        keys = [] if keys is None else keys
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str | int) and not isinstance(item, bool):
                    text = str(item)
                    if self.options.correlation_pattern.fullmatch(text) and text not in keys:
                        keys.append(text)
        return keys
