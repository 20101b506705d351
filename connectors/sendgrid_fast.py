"""SendGrid's native fast path: Event Webhook JSON Lines in blocks, parsed and checked in DuckDB.

`SendGridReader` (sendgrid.py) is the reference. A line is read here only when its row is
provably the one `event_row` makes: an object of strings without escapes, integers of
at most 18 digits, booleans, null, and flat arrays or objects of those, no key twice, a
known event name in ASCII, an integer `timestamp` whose seconds or milliseconds convert
exactly, a string `sg_message_id` with a prefix, correlation paths that reach strings or
integers, and a time not after the export. Then `raw` and `fields` are the record's own values in sorted-key
order, as `values.dumps` writes them. Any other line goes through the reference's own code
line by line, so reasons and excerpts are its own. Identical repeated events are dropped in
line order over the whole file, as the reference drops them (a 128-bit digest of `raw`).
From the first kept event without `sg_message_id` on, the reference reads the file: such
an event takes its message id from events anywhere in the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.files.line_blocks import (
    BLOCK_BYTES,
    FLAT_OBJECT,
    FLAT_OBJECT_MACROS,
    JSTR_MACRO,
    LINE_OK,
    VALUE,
    BlockReadError,
    LineBlock,
    NativeSession,
    parsed_blocks,
)
from connectors.schema import OBSERVED_SCHEMA
from connectors.values import EPOCH

# What `fields` holds, in its sorted key order (`categories` when `category` is an array).
_FIELDS = ("categories", "category", "email", "event", "reason", "response", "sg_message_id", "status", "type")
_READ = ("event", "timestamp", "sg_message_id", "sg_event_id", "email", "reason", "status", "response", "type",
         "category")  # fmt: skip
_INT = r"-?[0-9]{1,18}"
# A top-level value the native path copies: a scalar of VALUE, a flat array of them, or a
# flat object of them (`pool`), which `raw` and `fields` write with sorted keys.
_MEMBER = rf"{VALUE}|\[(?:{VALUE}(?:,{VALUE})*)?\]|{FLAT_OBJECT}"
# Seconds below 10^11; milliseconds up to the year 2223, where a float still holds the
# value to well under half a microsecond (what `datetime.fromtimestamp` rounds to).
_MS_UNTIL = 8 * 10**12
_MS_FROM = 10**11

LineEvent = Callable[[int, bytes], dict[str, Any] | None]


def correlation_json_paths(paths: list[str]) -> list[str] | None:
    """The JSON paths DuckDB reads for `values.dig`'s dotted paths, or None when one has a
    part these cannot say alike (a list index, a quote or backslash, an empty part)."""
    out = []
    for dotted in paths:
        parts = dotted.split(".")
        if any(not part or part.isdigit() or '"' in part or "\\" in part for part in parts):
            return None
        out.append("$." + ".".join(f'"{part}"' for part in parts))
    return out


def _query(states: dict[str, str], paths: int) -> str:
    structure = "{" + ", ".join(f'"{name}": "JSON"' for name in _READ) + "}"
    as_text = "STRUCT(" + ", ".join(f"{name} VARCHAR" for name in _READ) + ")"
    kinds = tuple(sorted(states))
    state = "CASE raw_status " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in sorted(states.items())) + " END"
    # Correlation values in path order, each once (a later equal one adds nothing).
    marks = "[]::VARCHAR[]"
    if paths:
        marks = ("list_filter(list_transform(m, lambda x: CASE WHEN starts_with(x, '\"') THEN jstr(x)"
                 f" WHEN regexp_full_match(x, '{_INT}') THEN x END), lambda x, i: x IS NOT NULL AND marker(x)"
                 " AND list_position(list_transform(m, lambda y: CASE WHEN starts_with(y, '\"') THEN jstr(y)"
                 f" WHEN regexp_full_match(y, '{_INT}') THEN y END), x) = i)")  # fmt: skip
    fields = ", ".join(f"('{name}', {name}_j)" for name in _FIELDS)
    return rf"""
    WITH lines AS (
        -- no escape anywhere: every string and key is its own JSON text (yyjson, as Python's
        -- json, refuses a raw control character in a string)
        SELECT n, line, CASE WHEN {LINE_OK} AND NOT contains(line, '\') THEN try(json_keys(line)) END AS keys
        FROM block_lines
    ), parsed AS (
        SELECT n, line, keys, json_extract(line, '$.*')::VARCHAR[] AS vals,
            from_json(line, '{structure}')::{as_text} AS v,
            {"json_extract(line, $paths)::VARCHAR[]" if paths else "NULL::VARCHAR[]"} AS m
        FROM lines WHERE keys IS NOT NULL AND list_unique(keys) = len(keys)
    ), valid AS (
        SELECT n, keys, vals, v, m, lower(jstr(v.event)) AS raw_status, jstr(v.sg_message_id) AS message_id,
            TRY_CAST(v.timestamp AS BIGINT) AS t
        FROM parsed
        WHERE list_bool_and(list_transform(vals, lambda x: regexp_full_match(x, '{_MEMBER}')
                AND (NOT starts_with(x, '{{') OR list_unique(obj_keys(x)) = len(obj_keys(x)))))
          AND regexp_full_match(jstr(v.event), '[A-Za-z_]+') AND lower(jstr(v.event)) IN {kinds}
          AND regexp_full_match(v.timestamp, '[0-9]{{1,13}}')
          AND (v.sg_message_id IS NULL OR length(split_part(jstr(v.sg_message_id), '.', 1)) > 0)
          AND (v.sg_event_id IS NULL OR starts_with(v.sg_event_id, '"') OR regexp_full_match(v.sg_event_id, '{_INT}'))
          AND (v.email IS NULL OR starts_with(v.email, '"') OR regexp_full_match(v.email, '{_INT}'))
          AND (m IS NULL OR NOT list_bool_or(list_transform(m, lambda x: coalesce(starts_with(x, '['), false))))
    ), timed AS (
        SELECT *, CASE WHEN t >= {_MS_FROM} THEN t * 1000 ELSE t * 1000000 END AS ts_us,
            CASE WHEN starts_with(v.category, '[') THEN v.category END AS categories_j,
            CASE WHEN starts_with(v.category, '[') THEN json_extract(v.category, '$[0]')::VARCHAR
                ELSE member(v.category) END AS category_j,
            v.email AS email_j, '"' || raw_status || '"' AS event_j, member(v.reason) AS reason_j,
            member(v.response) AS response_j, v.sg_message_id AS sg_message_id_j, member(v.status) AS status_j,
            member(v.type) AS type_j
        FROM valid WHERE t < {_MS_UNTIL}
    )
    SELECT n AS source_record,
        CASE WHEN message_id IS NOT NULL THEN split_part(message_id, '.', 1) END AS external_id,
        {marks} AS correlation_keys,
        {state} AS state, raw_status,
        obj(list_filter([{fields}], lambda p: p[2] IS NOT NULL AND p[2] <> 'null')) AS fields,
        ts_us, raw, unhex(md5(raw)) AS digest
    FROM (SELECT *, obj(list_sort(list_zip(keys, vals))) AS raw FROM timed)
    WHERE $latest IS NULL OR ts_us <= $latest
    """


class NativeSendGrid(NativeSession):
    """Reads one SendGrid JSON Lines file in blocks. `line_event` is the reference for one
    raw line (it rejects into the sink itself, returns the row before the repeat check);
    `rest` is the reference reading the file from a line on."""

    def __init__(self, states: dict[str, str], correlation: re.Pattern[str], paths: list[str],
                 block_bytes: int = BLOCK_BYTES) -> None:  # fmt: skip
        macros = [
            JSTR_MACRO,
            *FLAT_OBJECT_MACROS,
            # A member's canonical text: a flat object's keys sorted, anything else as it is.
            """CREATE MACRO member(x) AS
            CASE WHEN starts_with(x, '{') THEN canon(x, obj_keys(x), obj_vals(x)) ELSE x END""",
            # `values.dumps` of an object from (key, minified JSON value) pairs in key order,
            # keys without escapes; text concatenation costs a third of to_json of a map.
            """CREATE MACRO obj(pairs) AS
            '{' || array_to_string(list_transform(pairs, lambda p: '"' || p[1] || '":' || member(p[2])), ',') || '}'""",
        ]
        super().__init__(macros, block_bytes)
        self.paths = paths

        def marker(values: pa.Array) -> pa.Array:
            # Our markers are a Python pattern: each distinct value is matched once.
            distinct = pc.unique(values).drop_null().to_pylist()
            return pc.is_in(values, pa.array([x for x in distinct if correlation.fullmatch(x)], pa.string()))

        self.con.create_function("marker", marker, ["VARCHAR"], "BOOLEAN", type="arrow")
        self.query = _query(states, len(paths))
        self.repeats_dropped = 0

    def batches(
        self,
        path: Path,
        source_file: str,
        constants: dict[str, str | None],
        latest: datetime,
        line_event: LineEvent,
        rest: Callable[[int], Iterator[pa.RecordBatch]],
        reject_read_error: Callable[[int, str], None],
    ) -> Iterator[pa.RecordBatch]:
        """Canonical batches in line order; `constants` are the columns every row shares."""
        latest_us = (latest - EPOCH) // timedelta(microseconds=1)
        seen: set[bytes] = set()
        first = None
        try:
            # Closed here, so that no block is still parsing when the caller closes the database.
            with closing(parsed_blocks(path, self.block_bytes, lambda b: self._parse(b, latest_us))) as blocks:
                for block, (rows, slow) in blocks:
                    table, first = self._finish(block, rows, slow, source_file, constants, line_event, seen)
                    yield from table.to_batches()
                    if first is not None:
                        break
        except BlockReadError as exc:
            reject_read_error(exc.line, str(exc))
        if first is not None:
            yield from rest(first)

    def _parse(self, block: LineBlock, latest_us: int) -> tuple[pa.Table | None, list[int]]:
        params: dict[str, Any] = {"latest": latest_us}
        if self.paths:
            params["paths"] = self.paths
        rows, slow = self._query_block(block, params)
        return (None if rows is None else rows.sort_by("source_record")), slow

    def _finish(
        self, block: LineBlock, rows: pa.Table | None, slow: list[int], source_file: str,
        constants: dict[str, str | None], line_event: LineEvent, seen: set[bytes],
    ) -> tuple[pa.Table, int | None]:  # fmt: skip
        """The block's kept rows in line order, and the line of its first kept event without
        a message id (the rows stop before it), if any. Lines are taken in order, native
        and reference alike, so that the first of identical events is the one kept."""
        numbers = [] if rows is None else rows.column("source_record").to_pylist()
        digests = [] if rows is None else rows.column("digest").to_pylist()
        no_id = set() if rows is None else set(pc.filter(rows.column("source_record"),
                                                          pc.is_null(rows.column("external_id"))).to_pylist())  # fmt: skip
        if rows is not None and not slow and not no_id:
            fresh = set(digests)
            if len(fresh) == len(digests) and fresh.isdisjoint(seen):  # the usual block: every event new
                seen |= fresh
                table = _canonical(rows, source_file, constants)
                self.native_rows += table.num_rows
                return table, None
        order = sorted([(n, i) for i, n in enumerate(numbers)] + [(block.first + i, -1 - i) for i in slow])
        keep: list[int] = []
        slow_rows: list[dict[str, Any]] = []
        first = None
        for number, at in order:
            if at >= 0:
                digest = digests[at]
            else:
                self.python_lines += 1
                row = line_event(number, block.raw(-1 - at))
                if row is None:
                    continue
                digest = hashlib.md5(row["raw"].encode("utf-8")).digest()
            if digest in seen:
                self.repeats_dropped += 1
                continue
            seen.add(digest)
            if (at >= 0 and number in no_id) or (at < 0 and row["external_id"] is None):
                first = number
                break
            if at >= 0:
                keep.append(at)
            else:
                row["source_file"] = source_file
                slow_rows.append(row)
        table = OBSERVED_SCHEMA.empty_table()
        if rows is not None:
            kept = rows if len(keep) == rows.num_rows else rows.take(pa.array(keep, pa.int64()))
            table = _canonical(kept, source_file, constants)
        self.native_rows += table.num_rows
        if slow_rows:
            merged = pa.concat_tables([table, pa.Table.from_pylist(slow_rows, schema=OBSERVED_SCHEMA)])
            table = merged.take(pc.sort_indices(merged.column("source_record")))
        return table, first


def _canonical(rows: pa.Table, source_file: str, constants: dict[str, str | None]) -> pa.Table:
    """The native rows as OBSERVED_SCHEMA columns."""
    count = rows.num_rows
    columns = []
    for field in OBSERVED_SCHEMA:
        if field.name in ("created_at", "updated_at"):
            columns.append(rows.column("ts_us").cast(pa.int64()).cast(field.type))
        elif field.name == "source_file":
            columns.append(pa.repeat(pa.scalar(source_file), count))
        elif field.name in rows.column_names:
            columns.append(rows.column(field.name).cast(field.type))
        else:
            columns.append(pa.repeat(pa.scalar(constants.get(field.name), field.type), count))
    return pa.Table.from_arrays(columns, schema=OBSERVED_SCHEMA)
