"""The event log's native fast path: blocks of whole lines parsed and validated in DuckDB.

`connectors/event_log.py` is the reference: `event_row` decides every row and every
reason. Here a block of lines is split by Arrow, parsed by DuckDB (keys, fields) and checked in
SQL against a strict subset of what `event_row` accepts, where the result is provably
the same: flat objects of strings, booleans, null and integers of at most 18 digits,
no escapes in the JSON text that is copied out, timestamps of the RFC 3339 form that
`parse_rfc3339` reads in years 1000-9998. Any line outside that subset (malformed JSON,
invalid UTF-8, a lone surrogate escape, which yyjson refuses, a missing field, a float, a
nested value, a duplicate key, ...) goes through the Python path line by line, so reasons,
excerpts and numbers are its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import QuarantineSink
from connectors.files.line_blocks import (
    BLOCK_BYTES,
    FLAT_OBJECT_MACROS,
    JSTR_MACRO,
    LINE_OK,
    VALUE,
    BlockReadError,
    LineBlock,
    NativeSession,
    parsed_blocks,
    uncovered_lines,
)
from connectors.schema import EVENT_SCHEMA

__all__ = ["BLOCK_BYTES", "NativeEventLog"]

# The top-level fields `event_row` reads (KNOWN_FIELDS).
FIELDS = ("event_id", "ts", "type", "run_id", "workflow", "intent_id", "step", "action", "system",
          "idempotency_key", "target", "expected", "attempt", "receipt", "error", "status", "actor",
          "description")  # fmt: skip
_OPTIONAL = ("intent_id", "step", "action", "system", "idempotency_key", "status", "actor", "description")

_VALUE = VALUE  # a value `event_row` reads the same from yyjson's minified text
_TS = (r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
       r"(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])")  # fmt: skip


def _sql_list(names: frozenset[str]) -> str:
    return "[" + ", ".join(f"'{name}'" for name in sorted(names)) + "]"


def _macros(event_types: frozenset[str], intent_events: frozenset[str]) -> list[str]:
    return [
        JSTR_MACRO,
        "CREATE MACRO is_int(x) AS regexp_full_match(x, '-?[0-9]{1,18}')",
        # optional_str: absent, null, a string or an integer (as its digits)
        """CREATE MACRO opt_ok(x) AS x IS NULL OR starts_with(x, '"') OR is_int(x)""",
        """CREATE MACRO opt_val(x) AS CASE WHEN starts_with(x, '"') THEN jstr(x) ELSE x END""",
        *FLAT_OBJECT_MACROS,
        # _text of a member of an object that passed obj_ok: a string, or an integer's digits
        """CREATE MACRO member_ok(x) AS x IS NULL OR x NOT IN ('true', 'false')""",
        """CREATE MACRO member_val(x) AS CASE WHEN starts_with(x, '"') THEN substr(x, 2, length(x) - 2) END""",
        f"CREATE MACRO event_type_ok(x) AS x IN {tuple(sorted(event_types))}",
        f"CREATE MACRO intent_event(x) AS x IN {tuple(sorted(intent_events))}",
    ]


def _query() -> str:
    structure = "{" + ", ".join(f'"{name}": "JSON"' for name in FIELDS) + "}"
    # JSON text as VARCHAR, so that what the macros make of it is never read as JSON again
    as_text = "STRUCT(" + ", ".join(f"{name} VARCHAR" for name in FIELDS) + ")"
    members = """'{"object_type": "JSON", "key": "JSON", "external_id": "JSON", "kind": "JSON",
        "message": "JSON"}'"""
    member_text = "STRUCT(object_type VARCHAR, key VARCHAR, external_id VARCHAR, kind VARCHAR, message VARCHAR)"
    optional = ",\n".join(f"opt_val(v.{name}) AS {name}" for name in _OPTIONAL)
    optional_ok = " AND ".join(f"opt_ok(v.{name})" for name in _OPTIONAL)
    known = _sql_list(frozenset(FIELDS))
    present = " + ".join(f"(v.{name} IS NOT NULL)::INT" for name in FIELDS)
    return rf"""
    WITH lines AS (
        SELECT n, line, CASE WHEN {LINE_OK} THEN try(json_keys(line)) END AS keys
        FROM block_lines
    ), parsed AS (
        SELECT n, line, keys, from_json(line, '{structure}')::{as_text} AS v
        FROM lines WHERE keys IS NOT NULL
    ), fields AS (
        SELECT n, line, keys, v,
            jstr(v.event_id) AS event_id, jstr(v.type) AS type, jstr(v.run_id) AS run_id,
            jstr(v.workflow) AS workflow, jstr(v.ts) AS ts_text,
            {optional},
            -- more keys than known fields with a value: an unknown field, or a null
            len(keys) > {present} AS has_extra,
            CASE WHEN v.expected IS NOT NULL THEN obj_keys(v.expected) END AS ek,
            CASE WHEN v.receipt IS NOT NULL THEN obj_keys(v.receipt) END AS rk
        FROM parsed
    ), valid AS (
        SELECT *,
            epoch_us(TRY_CAST(ts_text AS TIMESTAMPTZ)) AS ts,
            CASE WHEN has_extra THEN json_extract(line, '$.*') END AS vals,
            CASE WHEN v.target IS NOT NULL THEN from_json(v.target, {members})::{member_text} END AS tm,
            CASE WHEN v.receipt IS NOT NULL THEN from_json(v.receipt, {members})::{member_text} END AS rm,
            CASE WHEN v.error IS NOT NULL THEN from_json(v.error, {members})::{member_text} END AS em
        FROM fields
        WHERE event_type_ok(type) AND length(event_id) > 0 AND length(run_id) > 0 AND length(workflow) > 0
          -- what parse_rfc3339 and DuckDB read alike; no year next to Python's limits
          AND regexp_full_match(ts_text, '{_TS}') AND left(ts_text, 4) <> '9999'
          AND {optional_ok}
          AND (NOT intent_event(type) OR length(intent_id) > 0)
          AND (type <> 'intent.declared' OR (length(step) > 0 AND length(action) > 0 AND length(system) > 0
               AND starts_with(v.expected, '{{')))
          AND obj_ok(v.target, obj_keys(v.target)) AND obj_ok(v.receipt, rk) AND obj_ok(v.error, obj_keys(v.error))
          AND obj_ok(v.expected, ek)
          -- an integer as JSON writes it: 1.0, 1.5 and 2.7e3 are no attempt numbers (event_row)
          AND (v.attempt IS NULL OR (is_int(v.attempt) AND TRY_CAST(v.attempt AS BIGINT) BETWEEN 1 AND 2147483647))
    ), rows AS (
        SELECT *,
            CASE WHEN has_extra THEN list_filter(list_zip(keys, vals), lambda p: NOT list_contains({known}, p[1]))
                END AS extra_pairs
        FROM valid
        WHERE ts IS NOT NULL AND member_ok(tm.object_type) AND member_ok(tm.key)
          AND member_ok(rm.external_id) AND member_ok(em.kind) AND member_ok(em.message)
          -- the extra object is cut out of the line's own text: no escapes anywhere in it
          AND (NOT has_extra OR (NOT contains(line, '\') AND list_unique(keys) = len(keys)
               AND list_bool_and(list_transform(vals, lambda x: regexp_full_match(x, '{_VALUE}')))))
    )
    SELECT n AS source_record, event_id, ts, type, run_id, workflow, intent_id, step, action, system,
        idempotency_key,
        coalesce(member_val(tm.object_type), tm.object_type) AS target_object_type,
        coalesce(member_val(tm.key), tm.key) AS target_key,
        CASE WHEN v.expected IS NOT NULL THEN canon(v.expected, ek, obj_vals(v.expected)) END AS expected,
        v.attempt::INTEGER AS attempt,
        coalesce(member_val(rm.external_id), rm.external_id) AS receipt_external_id,
        CASE WHEN v.receipt IS NOT NULL AND v.receipt <> '{{}}'
            THEN canon(v.receipt, rk, obj_vals(v.receipt)) END AS receipt,
        coalesce(member_val(em.kind), em.kind) AS error_kind,
        coalesce(member_val(em.message), em.message) AS error_message,
        status, actor, description,
        CASE WHEN len(extra_pairs) > 0 THEN to_json(map_from_entries(list_sort(list_transform(extra_pairs,
            lambda p: (p[1], p[2]::JSON))))) END AS extra,
        to_json(keys) AS fields_seen
    FROM rows
    """


# The native rows of a block (None: DuckDB refused it) and the indexes of the lines
# the Python path must read.
_Parsed = tuple[pa.Table | None, list[int]]
LineRow = Callable[[int, bytes], dict[str, Any] | None]


class NativeEventLog(NativeSession):
    """Reads one event log file in blocks; `line_row` is the Python path for one raw line
    (it rejects into the sink and notes the fields itself) and `note_fields` tallies the
    fields of the lines read natively."""

    def __init__(
        self, event_types: frozenset[str], intent_events: frozenset[str], block_bytes: int = BLOCK_BYTES
    ) -> None:
        super().__init__(_macros(event_types, intent_events), block_bytes)
        self.query = _query()

    def batches(
        self,
        path: Path,
        sink: QuarantineSink,
        source_file: str,
        line_row: LineRow,
        note_fields: Callable[[list[str]], None],
        latest: datetime | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Canonical batches of one file in line order; a read error after the last whole
        line is rejected as `iter_lines` rejects it. A row dated after `latest` goes to
        `line_row`, which rejects it with its reason."""
        latest_us = None if latest is None else int(latest.timestamp() * 1_000_000)
        try:
            # Closed here, so that no block is still parsing when the caller closes the database.
            with closing(parsed_blocks(path, self.block_bytes, lambda b: self._parse(b, latest_us))) as blocks:
                for block, (rows, slow) in blocks:
                    yield from self._finish(block, rows, slow, source_file, line_row, note_fields)
        except BlockReadError as exc:
            sink.reject(source_file, exc.line, str(exc))

    def _parse(self, block: LineBlock, latest_us: int | None) -> _Parsed:
        # One Arrow batch is scanned by one DuckDB thread, in order: rows come back in line
        # order, and the other thread parses the next block.
        rows, slow = self._query_block(block)
        if rows is not None and latest_us is not None:
            rows = rows.filter(pc.less_equal(rows.column("ts"), latest_us))
            slow = uncovered_lines(block, rows)
        return rows, slow

    def _finish(
        self,
        block: LineBlock,
        rows: pa.Table | None,
        slow_lines: list[int],
        source_file: str,
        line_row: LineRow,
        note_fields: Callable[[list[str]], None],
    ) -> Iterator[pa.RecordBatch]:
        slow = set(slow_lines)
        table = EVENT_SCHEMA.empty_table()
        if rows is not None:
            # A line's key list is one of a few; each is checked and tallied once per block.
            twice = []
            for keys in pc.unique(rows.column("fields_seen")).to_pylist():
                names = json.loads(keys)
                if len(set(names)) < len(names):  # Python keeps a repeated key's last value, DuckDB its first
                    twice.append(keys)
                else:
                    note_fields(names)
            if twice:
                repeated = pc.is_in(rows.column("fields_seen"), pa.array(twice))
                slow.update(n - block.first for n in pc.filter(rows.column("source_record"), repeated).to_pylist())
                rows = rows.filter(pc.invert(repeated))
            table = _canonical(rows, source_file)
        self.native_rows += table.num_rows
        self.python_lines += len(slow)
        if slow:
            # The Python path reads exactly these lines, in order, with their own numbers.
            slow_rows = [row for i in sorted(slow) if (row := line_row(block.first + i, block.raw(i))) is not None]
            if slow_rows:
                merged = pa.concat_tables([table, pa.Table.from_pylist(slow_rows, schema=EVENT_SCHEMA)])
                table = merged.take(pc.sort_indices(merged.column("source_record")))
        yield from table.to_batches()


def _canonical(rows: pa.Table, source_file: str) -> pa.Table:
    """The native rows as EVENT_SCHEMA columns."""
    columns = []
    for field in EVENT_SCHEMA:
        if field.name == "source_file":
            columns.append(pa.repeat(pa.scalar(source_file), rows.num_rows))
        elif field.name == "ts":  # epoch microseconds
            columns.append(rows.column("ts").cast(pa.int64()).cast(field.type))
        else:
            columns.append(rows.column(field.name).cast(field.type))
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)
