"""Immutable Parquet snapshots of a source's landing files.

Layout (hive-style): snapshots/source=<name>/observed_date=<YYYY-MM-DD>/snapshot_id=<id>/
holding data.parquet, quarantine.parquet and _manifest.json. A snapshot is built in
a temporary folder and renamed into place in one step, so a reader never sees a
partial one. Its id is a hash of the files it read (path, size, content hash and
observed_at) and of how they were read, so re-snapshotting unchanged files is a
no-op. A file's identity is its content: content already in a snapshot of the source is
never read twice, under any path or modification time (one whose path, size and
modification time are unchanged is not even hashed again), and keeps the export time it
was first read with. `reckon verify` stores the vendors' API responses the same way
(`take_live_snapshot`), as snapshots of origin `live`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors import CONNECTORS, SourceOptions
from connectors.base import QuarantineSink, Reader
from connectors.schema import with_snapshot_columns
from reckon import atomic
from reckon.config import Source, parse_fixed_time
from reckon.file_reads import FileReads
from reckon.workspace import Refused, Workspace

MANIFEST = "_manifest.json"
ROW_GROUP_ROWS = 500_000
ROW_GROUP_BYTES = 64 << 20
FORMAT_VERSION = 1
EXPORT, LIVE = "export", "live"  # a snapshot's origin


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    observed_at: str
    rows: int = 0
    quarantined: int = 0
    mtime_ns: int | None = None  # for the quick check only; not part of the snapshot id
    repeats_dropped: int = 0  # records identical to one read before in the file (webhook retries)
    refused: str | None = None  # why a matched landing path is not read (quarantined as its record 0)


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    source: str
    connector: str
    layer: str
    system: str | None
    observed_at: str  # newest observed_at of its files (RFC 3339, UTC)
    rows: int
    quarantined: int
    files: list[FileEntry]
    folder: Path
    # Schema drift seen while reading (Reader.field_drift): raw fields the format does
    # not document, and documented fields no record of a file carried.
    fields_added: list[str] = field(default_factory=list)
    fields_missing: list[str] = field(default_factory=list)
    repeats_dropped: int = 0  # records identical to one read before (webhook retries): dropped, counted
    # `export` (landing files) or `live` (API responses `reckon verify` read, observed at
    # the responses' time); a live snapshot holds only the objects read.
    origin: str = "export"

    @property
    def data_file(self) -> Path:
        return self.folder / "data.parquet"

    @property
    def quarantine_file(self) -> Path:
        return self.folder / "quarantine.parquet"


def source_options(ws: Workspace, source: Source) -> SourceOptions:
    system = ws.config.systems.get(source.system or "")
    return SourceOptions(
        source=source.name,
        system=source.system,
        object_type=system.object_type if system else None,
        correlation_paths=system.correlation_paths if system else [],
        correlation_pattern=ws.config.correlation_pattern,
        root=ws.root,
        options=source.options,
    )


def list_snapshots(ws: Workspace, source: str | None = None) -> list[Snapshot]:
    """Completed snapshots (those with a manifest), oldest first."""
    pattern = f"source={source or '*'}/observed_date=*/snapshot_id=*/{MANIFEST}"
    found = []
    for manifest in ws.snapshots.glob(pattern):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        data["files"] = [FileEntry(**f) for f in data["files"]]
        data.pop("format_version", None)
        found.append(Snapshot(folder=manifest.parent, **data))
    return sorted(found, key=lambda s: (s.observed_at, s.snapshot_id))


class MissingSourceError(ValueError):
    """A required source's paths match no file and it was never snapshotted."""


def unread_bytes(ws: Workspace, source: Source) -> int:
    """The bytes of the source's landing files that no snapshot read at their path, size
    and modification time (the quick check of `take_snapshot`): what it would hash and
    most likely read, found without reading anything."""
    seen = {(f.path, f.size, f.mtime_ns) for s in list_snapshots(ws, source.name) for f in s.files}
    keys = (_quick_key(ws, path) for path in ws.landing_files(source.paths))
    return sum(key[1] for key in keys if key not in seen)  # key[1]: the file's size


def _quick_key(ws: Workspace, path: Path) -> tuple[str, int, int]:
    """A landing file's path in the workspace, size and modification time: a file whose key
    a snapshot of its source read is not hashed again (a quick check, as rsync's)."""
    stat = path.stat()
    return str(path.relative_to(ws.root)), stat.st_size, stat.st_mtime_ns


def take_snapshot(ws: Workspace, source: Source, offload: bool = False) -> Snapshot | None:
    """Snapshot the source's new landing files; None when there are none. With `offload`
    the files are parsed in a worker process (reckon/file_reads.py), so that the caller's
    threads can snapshot several sources at once.

    A file is identified by its content: content already in a snapshot of the source is
    not read again, whatever its path or modification time now (a copied or re-touched
    export), so its export time, fixed when it was first read, never moves.
    """
    reader_cls = CONNECTORS[source.connector]
    reader = reader_cls(source_options(ws, source))
    earlier = [f for s in list_snapshots(ws, source.name) for f in s.files]
    files, refused = ws.scan_landing(source.paths)
    if not files and not refused and not earlier and not source.optional:
        raise MissingSourceError(
            f"source '{source.name}': no file matches its paths ({', '.join(source.paths)}) under {ws.root}; "
            "fix the pattern, or mark the source `optional: true` if it may have no exports yet")
    fixed = source.observed_at not in ("auto", "mtime")
    # Content seen -> the export time it was first read with (a fixed time in reckon.yaml
    # is part of the content's identity: changing it reads the file again).
    read_before = {(f.sha256, f.observed_at if fixed else None): f for f in earlier}
    seen = {(f.path, f.size, f.mtime_ns): f for f in earlier if f.mtime_ns is not None}
    entries = []
    for path in files:
        rel, size, mtime_ns = key = _quick_key(ws, path)
        prior = seen.get(key)
        sha = prior.sha256 if prior else _sha256(path)
        observed_at = _observed_at(reader, source, path).isoformat() if fixed else None
        if (sha, observed_at) in read_before:
            continue
        if observed_at is None:
            observed_at = _observed_at(reader, source, path).isoformat()
        entry = FileEntry(path=rel, size=size, sha256=sha, observed_at=observed_at, mtime_ns=mtime_ns)
        read_before[(sha, observed_at if fixed else None)] = entry  # the same content twice: read once
        entries.append(entry)
    for link in refused:  # reported once, like content: until the link or its target changes
        entry = _refused_entry(ws, source, link)
        if (entry.sha256, entry.observed_at if fixed else None) not in read_before:
            read_before[(entry.sha256, entry.observed_at if fixed else None)] = entry
            entries.append(entry)
    if not entries:
        return None

    return _store(ws, source, reader, entries, offload=offload)


def take_live_snapshot(ws: Workspace, source: Source, path: Path, observed_at: datetime) -> Snapshot:
    """Snapshot one file of API responses (`reckon verify` writes them under `live/`, in the
    shape the source's connector reads) as a snapshot of origin `live`, observed at the
    responses' own time (their HTTP `Date`). Immutable, atomic and identified by content as
    every snapshot; the same responses at the same time are the same snapshot."""
    reader = CONNECTORS[source.connector](source_options(ws, source))
    stat = path.stat()
    entry = FileEntry(path=str(path.relative_to(ws.root)), size=stat.st_size, sha256=_sha256(path),
                      observed_at=observed_at.astimezone(UTC).isoformat(), mtime_ns=stat.st_mtime_ns)
    return _store(ws, source, reader, [entry], origin=LIVE)


def _store(ws: Workspace, source: Source, reader: Reader, entries: list[FileEntry], origin: str = EXPORT,
           offload: bool = False) -> Snapshot:
    """Read the entries' files into a new snapshot folder, renamed into place whole."""
    reader_cls = type(reader)
    snapshot_id = _snapshot_id(source, reader, entries, origin)
    observed_at = max(e.observed_at for e in entries)
    final = ws.snapshots / f"source={source.name}" / f"observed_date={observed_at[:10]}" / f"snapshot_id={snapshot_id}"
    if (final / MANIFEST).exists():
        return next(s for s in list_snapshots(ws, source.name) if s.snapshot_id == snapshot_id)

    # Leftovers of a killed run of this source are never visible (no manifest, not in
    # place); the workspace lock makes it safe to clear them now.
    for leftover in (ws.snapshots / ".staging").glob(f"{source.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = ws.snapshots / ".staging" / f"{source.name}-{snapshot_id}-{os.getpid()}"
    staging.mkdir(parents=True)
    try:
        entries = _write(ws, reader, source, entries, snapshot_id, staging, offload)
        fields_added, fields_missing = reader.field_drift()
        manifest = {
            "format_version": FORMAT_VERSION,
            "snapshot_id": snapshot_id,
            "source": source.name,
            "connector": source.connector,
            "layer": reader_cls.layer,
            "system": source.system,
            "observed_at": observed_at,
            "rows": sum(e.rows for e in entries),
            "quarantined": sum(e.quarantined for e in entries),
            "repeats_dropped": sum(e.repeats_dropped for e in entries),
            "files": [asdict(e) for e in entries],
            "fields_added": fields_added,
            "fields_missing": fields_missing,
            "origin": origin,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        for name in ("data.parquet", "quarantine.parquet", MANIFEST):
            atomic.fsync(staging / name)
        atomic.fsync(staging)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, final)  # atomic: the snapshot appears whole or not at all
        except OSError:
            if not (final / MANIFEST).exists():
                raise
        atomic.fsync(final.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return next(s for s in list_snapshots(ws, source.name) if s.snapshot_id == snapshot_id)


def _write(
    ws: Workspace, reader: Reader, source: Source, entries: list[FileEntry], snapshot_id: str, folder: Path,
    offload: bool,
) -> list[FileEntry]:
    schema = with_snapshot_columns(reader.schema)
    sink = QuarantineSink(source.name)
    written = []
    readable = [e for e in entries if e.refused is None]
    with (pq.ParquetWriter(folder / "data.parquet", schema, compression="zstd") as writer,
          FileReads(reader, sink, [ws.root / e.path for e in readable], sum(e.size for e in readable), folder,
                    ws.config.policies.threads, offload) as reads):
        group = RowGroup(writer)
        for entry in entries:
            if entry.refused is not None:
                sink.reject(entry.path, 0, entry.refused)
                written.append(FileEntry(**{**asdict(entry), "quarantined": 1}))
                continue
            observed_at = datetime.fromisoformat(entry.observed_at)
            before, repeats = len(sink.rows), reader.repeats_dropped
            rows = 0
            for batch in reads.batches(ws.root / entry.path):
                n = batch.num_rows
                # One value per column, repeated natively (a Python list per batch costs more than the parse).
                extra = [pa.repeat(pa.scalar(snapshot_id, pa.string()), n),
                         pa.repeat(pa.scalar(observed_at, schema.field("observed_at").type), n)]
                group.add(pa.RecordBatch.from_arrays(list(batch.columns) + extra, schema=schema))
                rows += n
            written.append(FileEntry(**{**asdict(entry), "rows": rows, "quarantined": len(sink.rows) - before,
                                        "repeats_dropped": reader.repeats_dropped - repeats}))
        group.flush()
    quarantine = sink.table()
    quarantine = quarantine.append_column("snapshot_id", pa.array([snapshot_id] * quarantine.num_rows, pa.string()))
    pq.write_table(quarantine, folder / "quarantine.parquet", compression="zstd")
    return written


class RowGroup:
    """Batches gathered into row groups of ROW_GROUP_ROWS rows or ROW_GROUP_BYTES: readers
    hand out small batches of large records, and a row group per batch would make scans slow."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self.writer = writer
        self.batches: list[pa.RecordBatch] = []
        self.rows = self.bytes = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self.rows >= ROW_GROUP_ROWS or self.bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.batches:
            self.writer.write_table(pa.Table.from_batches(self.batches), row_group_size=ROW_GROUP_ROWS)
        self.batches, self.rows, self.bytes = [], 0, 0


def _refused_entry(ws: Workspace, source: Source, link: Refused) -> FileEntry:
    """The entry of a landing path that is not read: its identity is the path, where its
    link points and why it is refused (it has no content of its own to hash)."""
    target = os.readlink(link.path) if link.path.is_symlink() else ""
    identity = hashlib.sha256("\0".join(["refused", str(link.path.relative_to(ws.root)), target, link.reason]).encode())
    if source.observed_at not in ("auto", "mtime"):
        observed_at = parse_fixed_time(source.observed_at, f"sources.{source.name}.observed_at")
    else:
        observed_at = datetime.fromtimestamp(link.path.lstat().st_mtime, tz=UTC).replace(microsecond=0)
    return FileEntry(path=str(link.path.relative_to(ws.root)), size=0, sha256=identity.hexdigest(),
                     observed_at=observed_at.isoformat(), refused=link.reason)


def _observed_at(reader: Reader, source: Source, path: Path) -> datetime:
    """When the export was taken: fixed by config, the format's own time, or the file mtime."""
    if source.observed_at not in ("auto", "mtime"):
        return parse_fixed_time(source.observed_at, f"sources.{source.name}.observed_at")
    if source.observed_at == "auto":
        exported = reader.exported_at(path)
        if exported is not None:
            return exported.astimezone(UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).replace(microsecond=0)


def _snapshot_id(source: Source, reader: Reader, entries: list[FileEntry], origin: str = EXPORT) -> str:
    opts = reader.options
    recipe = {
        "format_version": FORMAT_VERSION,
        "source": source.name,
        "connector": source.connector,
        "system": source.system,
        "correlation_paths": opts.correlation_paths,
        "correlation_pattern": opts.correlation_pattern.pattern,
        "options": opts.options,
        "files": [(e.path, e.size, e.sha256, e.observed_at) for e in entries],
    }
    if origin != EXPORT:  # an export's id is what it always was
        recipe["origin"] = origin
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"snap_{digest[:20]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
