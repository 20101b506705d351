"""Any system of record reckon has no reader for: CSV, JSON, JSON Lines or Parquet files
plus a column mapping in reckon.yaml (`options`), one row per record.

Every mapped name is a column, or a dotted path into a nested record (a column whose
name contains dots is found by its whole name first). Columns the mapping does not
name are kept in `fields` under their own names; `options.fields` renames columns to
the names the catalog's `expected` values use.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import QuarantineSink, Reader
from connectors.files import (
    iter_csv_rows,
    iter_document_items,
    iter_json_lines,
    iter_json_records,
    numbered_rows,
)
from connectors.runtime_options import check_keys, option_mapping, option_str, option_strings
from connectors.schema import OBSERVED_SCHEMA, OBSERVED_STATES
from connectors.values import TIMESTAMP_FORMATS, BadRecord, dig, dumps, not_after, parse_timestamp

FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
OPTIONS = (
    "format", "records_key", "delimiter", "external_id", "status", "status_map",
    "correlation_keys", "actor", "created_at", "updated_at", "timestamp_format", "fields", "columns",
)  # fmt: skip
COLUMN_OPTIONS = ("external_id", "status", "actor", "created_at", "updated_at")
PARQUET_BATCH = 10_000


def lookup(record: dict[str, Any], path: str) -> Any:
    """A column by its whole name, else a dotted path into the record; "" counts as absent."""
    value = record[path] if path in record else dig(record, path)
    return None if value == "" else value


def status_states(status_map: Any) -> dict[str, str]:
    """`{state: [raw values]}` as `{raw value: state}`."""
    if not isinstance(status_map, dict) or not status_map:
        raise ValueError("options.status_map: expected a mapping of states to lists of raw values")
    states: dict[str, str] = {}
    for state, raws in status_map.items():
        if state not in OBSERVED_STATES:
            raise ValueError(f"options.status_map.{state}: not a state (one of {', '.join(OBSERVED_STATES)})")
        for raw in option_strings({state: [str(r) for r in raws] if isinstance(raws, list) else raws}, state,
                                  "options.status_map"):  # fmt: skip
            if raw in states:
                raise ValueError(f"options.status_map.{state}: '{raw}' is already mapped to {states[raw]}")
            states[raw] = state
    return states


class GenericReader(Reader):
    name = "generic"
    layer = "observed"
    schema = OBSERVED_SCHEMA

    def __init__(self, options) -> None:
        super().__init__(options)
        opts = options.options
        self.opts = opts
        self.states = status_states(opts["status_map"]) if opts.get("status") else {}
        self.timestamp_format = opts.get("timestamp_format", "rfc3339")
        self.renames = option_mapping(opts, "fields")
        self.extra_keys = option_strings(opts, "correlation_keys")
        mapped = [opts[key] for key in COLUMN_OPTIONS if opts.get(key)] + self.extra_keys + list(self.renames.values())
        # Drift: the columns the mapping reads must be there; with `columns` declared,
        # any other column is reported as added.
        self.expected_fields = frozenset(path.split(".")[0] for path in mapped)
        declared = option_strings(opts, "columns")
        self.known_fields = frozenset(declared) | self.expected_fields if declared else frozenset()

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        check_keys(options, OPTIONS)
        if options.get("format") is not None and options["format"] not in set(FORMATS.values()):
            raise ValueError(f"options.format: one of {', '.join(sorted(set(FORMATS.values())))}")
        for key in ("records_key", *COLUMN_OPTIONS):
            option_str(options, key, required=key == "external_id")
        delimiter = options.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError(f"options.delimiter: expected one character, got {delimiter!r}")
        if options.get("status"):
            status_states(options.get("status_map"))
        elif options.get("status_map") is not None:
            raise ValueError("options.status_map: needs options.status (the column it maps)")
        if options.get("timestamp_format", "rfc3339") not in TIMESTAMP_FORMATS:
            raise ValueError(f"options.timestamp_format: one of {', '.join(TIMESTAMP_FORMATS)}")
        option_strings(options, "correlation_keys")
        option_mapping(options, "fields")
        option_strings(options, "columns")

    def file_format(self, path: Path) -> str | None:
        if self.opts.get("format"):
            return self.opts["format"]
        suffixes = [s for s in path.suffixes if s != ".gz"]
        return FORMATS.get(suffixes[-1].lower()) if suffixes else None

    def batches(self, path: Path, sink: QuarantineSink) -> Iterator[pa.RecordBatch]:
        source_file = self.options.relative(path)
        latest = self.latest_plausible(path)
        fmt = self.file_format(path)
        if fmt is None:
            sink.reject(source_file, 0, "unknown file format: name it with options.format (csv, json, jsonl, parquet)")
            return
        records = {
            "csv": self._csv_records,
            "json": self._json_records,
            "jsonl": iter_json_lines,
            "parquet": self._parquet_records,
        }[fmt](path, sink, source_file)

        build = self.noting(source_file, lambda record: [self.object_row(record, latest)])

        yield from self.to_batches(numbered_rows(records, sink, source_file, build))

    def _json_records(self, path: Path, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        if self.opts.get("format") == "json":
            return iter_document_items(path, sink, source_file, self.opts.get("records_key"))
        return iter_json_records(path, sink, source_file, self.opts.get("records_key"))

    def _csv_records(self, path: Path, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        """Records keyed by the header row (line 1); a row of another length is bad."""
        delimiter = self.opts.get("delimiter", "\t" if ".tsv" in path.suffixes else ",")
        header: list[str] | None = None
        for line_no, values in iter_csv_rows(path, sink, source_file, delimiter):
            if header is None:
                if len(set(values)) != len(values) or not all(values):
                    sink.reject(source_file, line_no, "the header row must name every column once", values)
                    return
                header = values
                continue
            if len(values) != len(header):
                reason = f"expected {len(header)} columns (header), got {len(values)}"
                sink.reject(source_file, line_no, reason, delimiter.join(values))
                continue
            yield line_no, dict(zip(header, values, strict=True))

    def _parquet_records(self, path: Path, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        number = 0
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH):
                for record in _records(batch):
                    number += 1
                    if isinstance(record, OverflowError):
                        sink.reject(source_file, number, f"a value out of Python's range (years 1-9999): {record}")
                        continue
                    yield number, record
        except (pa.ArrowException, OSError, ValueError) as exc:
            sink.reject(source_file, number + 1 if number else 0, f"unreadable Parquet file: {exc}")

    def object_row(self, record: dict[str, Any], latest: datetime) -> dict[str, Any]:
        column = self.opts["external_id"]
        external_id = lookup(record, column)
        if isinstance(external_id, bool) or not isinstance(external_id, str | int) or not str(external_id).strip():
            raise BadRecord(f"missing or invalid external id in '{column}': {external_id!r}")
        state, raw_status = "success", None
        if self.opts.get("status"):
            raw = lookup(record, self.opts["status"])
            if raw is None:
                raise BadRecord(f"missing status in '{self.opts['status']}'")
            raw_status = str(raw)
            if raw_status not in self.states:
                raise BadRecord(f"unknown status '{raw_status}' in '{self.opts['status']}' (status_map has no state for it)")
            state = self.states[raw_status]
        times = {}
        for key in ("created_at", "updated_at"):
            path = self.opts.get(key)
            value = lookup(record, path) if path else None
            times[key] = None if value is None else not_after(parse_timestamp(value, path, self.timestamp_format), latest, path)
        actor = lookup(record, self.opts["actor"]) if self.opts.get("actor") else None
        fields = dict(record)
        for name, path in self.renames.items():
            fields.pop(path, None)
            fields[name] = lookup(record, path)
        keys = self.markers(lookup(record, path) for path in self.extra_keys)
        return self.observed_row(
            "record",
            external_id=str(external_id),
            correlation_keys=self.markers((dig(record, p) for p in self.options.correlation_paths), keys),
            state=state,
            raw_status=raw_status,
            fields=dumps({k: v for k, v in fields.items() if v is not None and v != ""}),
            last_actor=None if actor is None else str(actor),
            edited_at=times["updated_at"],
            raw=dumps(record),
            **times,
        )


def _records(batch: pa.RecordBatch) -> list[dict[str, Any] | OverflowError]:
    """The batch's rows as dicts; a row holding a timestamp Python's datetime cannot hold
    (Parquet's reach further) is its OverflowError, so the rows around it are still read."""
    try:
        return batch.to_pylist()
    except OverflowError:
        pass
    rows: list[dict[str, Any] | OverflowError] = []
    for index in range(batch.num_rows):
        try:
            rows.extend(batch.slice(index, 1).to_pylist())
        except OverflowError as exc:
            rows.append(exc)
    return rows
