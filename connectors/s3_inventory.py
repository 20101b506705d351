"""Amazon S3 Inventory reports (CSV): one row per object version listed.

Point the source's `paths` at the reports' `manifest.json` files. A manifest names the
report's data files (gzipped CSV without a header row) and their columns
(`fileSchema`); its `creationTimestamp` is the export time. Data files are found where
the inventory writes them (`<config>/data/` beside the manifest's dated folder), beside
the manifest, or at their key under an ancestor folder. A data file can also be read
on its own when `options.file_schema` names its columns.

Keys are URL-encoded (a space as `+`) and decoded here. An object is `success`, a
delete marker `deleted`. The audit's correlation marker is pulled out of the key by
`options.correlation_key_from_key` (a regular expression with one group), since an
inventory lists no tags or metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pyarrow as pa
import re2  # linear time: a backtracking pattern cannot hang a read

from connectors.base import QuarantineSink, Reader
from connectors.files import iter_csv_rows, load_document
from connectors.runtime_options import check_keys, option_str
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import (
    BadRecord,
    dumps,
    not_after,
    parse_epoch_seconds,
    parse_rfc3339,
    require_unicode,
)

# Fields an inventory report may list (docs.aws.amazon.com, "Amazon S3 Inventory").
INVENTORY_FIELDS = frozenset(
    {
        "Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate",
        "ETag", "StorageClass", "IsMultipartUploaded", "ReplicationStatus", "EncryptionStatus",
        "ObjectLockRetainUntilDate", "ObjectLockMode", "ObjectLockLegalHoldStatus",
        "IntelligentTieringAccessTier", "BucketKeyStatus", "ChecksumAlgorithm",
        "ObjectAccessControlList", "ObjectOwner", "LifecycleExpirationDate",
    }
)  # fmt: skip
BOOLEANS = ("IsLatest", "IsDeleteMarker", "IsMultipartUploaded")
INTEGERS = ("Size",)
TIMES = ("LastModifiedDate", "ObjectLockRetainUntilDate", "LifecycleExpirationDate")
EXTERNAL_IDS = ("key", "uri")


def columns(file_schema: Any, where: str) -> list[str]:
    """`fileSchema` ("Bucket, Key, ...") as column names."""
    if not isinstance(file_schema, str):
        raise ValueError(f"{where} must be a string of comma-separated field names")
    names = [name.strip() for name in file_schema.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"{where} must name each column once: {file_schema!r}")
    if not {"Bucket", "Key"} <= set(names):
        raise ValueError(f"{where} must include Bucket and Key: {file_schema!r}")
    return names


def boolean(value: str, key: str) -> bool | None:
    text = value.strip().lower()
    if text in ("", "null"):
        return None
    if text not in ("true", "false"):
        raise BadRecord(f"field '{key}' must be true or false, got {value!r}")
    return text == "true"


class S3InventoryReader(Reader):
    name = "s3_inventory"
    layer = "observed"
    schema = OBSERVED_SCHEMA
    known_fields = INVENTORY_FIELDS
    expected_fields = frozenset({"Bucket", "Key"})

    def __init__(self, options) -> None:
        super().__init__(options)
        opts = options.options
        pattern = opts.get("correlation_key_from_key")
        self.key_pattern = re2.compile(pattern) if pattern else None
        self.external_id = opts.get("external_id", "key")
        self.file_schema = opts.get("file_schema")

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        check_keys(options, {"correlation_key_from_key", "external_id", "file_schema"})
        pattern = option_str(options, "correlation_key_from_key")
        if pattern is not None:
            try:
                compiled = re2.compile(pattern)
            except re2.error as exc:
                raise ValueError(f"options.correlation_key_from_key: invalid regular expression (RE2 syntax): {exc}") from exc
            if compiled.groups != 1:
                raise ValueError("options.correlation_key_from_key: needs exactly one group (the key's marker)")
        if options.get("external_id", "key") not in EXTERNAL_IDS:
            raise ValueError(f"options.external_id: one of {', '.join(EXTERNAL_IDS)}")
        if options.get("file_schema") is not None:
            columns(options["file_schema"], "options.file_schema")

    def exported_at(self, path: Path) -> datetime | None:
        """The manifest's `creationTimestamp` (epoch milliseconds as a string)."""
        if not path.name.endswith("manifest.json"):
            return None
        manifest = load_document(path, QuarantineSink(self.options.source), str(path))
        value = manifest.get("creationTimestamp") if isinstance(manifest, dict) else None
        try:
            return parse_epoch_seconds(int(str(value)), "creationTimestamp", 1000) if value is not None else None
        except (BadRecord, ValueError):
            return None

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        latest = self.latest_plausible(path)
        if path.name.endswith("manifest.json"):
            parts = self._manifest(path, sink)
        elif self.file_schema is not None:
            parts = [(path, columns(self.file_schema, "options.file_schema"))]
        else:
            sink.reject(self.options.relative(path), 0, "not a manifest.json and no 'file_schema' option names its columns")
            parts = []
        for data_file, names in parts:
            yield from self.to_batches(self._rows(data_file, names, sink, latest))

    def _manifest(self, path: Path, sink: QuarantineSink) -> list[tuple[Path, list[str]]]:
        source_file = self.options.relative(path)
        manifest = load_document(path, sink, source_file)
        if manifest is None:
            return []
        try:
            if not isinstance(manifest, dict):
                raise ValueError("the manifest must be a JSON object")
            require_unicode(manifest)  # its names and keys become columns and paths
            if str(manifest.get("fileFormat", "")).upper() != "CSV":
                raise ValueError(f"fileFormat {manifest.get('fileFormat')!r} is not supported (CSV only)")
            names = columns(manifest.get("fileSchema"), "fileSchema")
            files = manifest.get("files")
            if not isinstance(files, list):
                raise ValueError("'files' must be an array")
        except ValueError as exc:
            sink.reject(source_file, 0, f"unusable manifest: {exc}", manifest)
            return []
        found = []
        for number, entry in enumerate(files, start=1):
            key = entry.get("key") if isinstance(entry, dict) else None
            try:
                data_file = self._locate(path, key) if isinstance(key, str) and key else None
            except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a name too long, a link loop
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                # the reason first: a long key is cut from the end of the reason
                sink.reject(source_file, number, f"unusable data file key in the manifest ({why}): {key!r}", entry)
                continue
            if data_file is None:
                sink.reject(source_file, number, f"data file {key!r} listed in the manifest was not found", entry)
            else:
                found.append((data_file, names))
        return found

    def _locate(self, manifest: Path, key: str) -> Path | None:
        """Where a manifest's data file key is on disk, inside the workspace."""
        base = Path(key).name
        candidates = [manifest.parent.parent / "data" / base, manifest.parent / base]
        if ".." not in Path(key).parts and not key.startswith("/"):
            candidates += [ancestor / key for ancestor in manifest.parents]
        root = self.options.root.resolve()
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved.is_file() and resolved.is_relative_to(root):
                return resolved
        return None

    def _rows(self, path: Path, names: list[str], sink: QuarantineSink, latest: datetime) -> Iterator[dict]:
        source_file = self.options.relative(path)
        for line_no, values in iter_csv_rows(path, sink, source_file):
            self.note_fields(source_file, names)
            try:
                if len(values) != len(names):
                    raise BadRecord(f"expected {len(names)} columns (fileSchema), got {len(values)}")
                row = self.object_row(dict(zip(names, values, strict=True)), latest)
            except BadRecord as exc:
                sink.reject(source_file, line_no, str(exc), ",".join(values))
                continue
            row["source_file"] = source_file
            row["source_record"] = line_no
            yield row

    def object_row(self, record: dict[str, str], latest: datetime) -> dict[str, Any]:
        bucket = record["Bucket"]
        if not bucket:
            raise BadRecord("missing required field 'Bucket'")
        try:
            key = unquote_plus(record["Key"], errors="strict")
        except UnicodeDecodeError as exc:
            raise BadRecord(f"field 'Key' is not URL-encoded UTF-8: {exc.reason}") from None
        if not key:
            raise BadRecord("missing required field 'Key'")
        fields: dict[str, Any] = {name: value for name, value in record.items() if value != ""}
        fields["Key"] = key
        for name in BOOLEANS:
            if name in record:
                fields[name] = boolean(record[name], name)
        for name in INTEGERS:
            if record.get(name):
                digits = record[name].strip()
                if not (digits.isascii() and digits.isdigit()):  # str.isdigit also takes "²", which int() refuses
                    raise BadRecord(f"field '{name}' must be a whole number of bytes, got {record[name]!r}")
                fields[name] = int(record[name])
        times = {}
        for name in TIMES:
            if record.get(name):
                times[name] = parse_rfc3339(record[name], name)
                fields[name] = times[name].isoformat()
        modified = times.get("LastModifiedDate")
        if modified is not None:
            not_after(modified, latest, "LastModifiedDate")
        deleted = fields.get("IsDeleteMarker") is True
        keys = self.correlation_keys(fields)
        if self.key_pattern is not None:
            match = self.key_pattern.search(key)
            self.markers([match.group(1) if match else None], keys)
        return self.observed_row(
            "object",
            external_id=f"s3://{bucket}/{key}" if self.external_id == "uri" else key,
            correlation_keys=keys,
            state="deleted" if deleted else "success",
            raw_status="delete_marker" if deleted else "object",
            fields=dumps({k: v for k, v in fields.items() if v is not None}),
            created_at=modified,
            updated_at=modified,
            edited_at=modified,  # a new version of the key: someone wrote it
            raw=dumps(record),
        )
