"""A JSON Lines file as blocks of whole lines for the native fast paths (event_log_fast.py,
sendgrid_fast.py): split by Arrow, parsed two at a time off the main thread, handed back
in file order, with what DuckDB's yyjson reads exactly as Python's json does."""

from __future__ import annotations

import codecs
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from connectors.files.lines import open_binary

BLOCK_BYTES = 16 << 20
WORKERS = 2
_READ_ERRORS = (EOFError, OSError, zlib.error)  # what iter_lines turns into "unreadable file"
_SPLIT = (pcsv.ReadOptions(column_names=["line"], block_size=4 << 20),
          pcsv.ParseOptions(delimiter="\x01", quote_char=False, escape_char=False, double_quote=False,
                            ignore_empty_lines=False, newlines_in_values=False),
          pcsv.ConvertOptions(column_types={"line": pa.binary()}))  # fmt: skip

# A scalar whose minified text (as yyjson writes it) Python's json reads to the same value
# and `values.dumps` writes back alike: a string without escapes, an integer that fits
# (yyjson turns longer ones into floats), a boolean or null.
VALUE = r'(?:-?[0-9]{1,18}|true|false|null|"[^"]*")'

_PAIR = rf'"[^"]*":{VALUE}'
FLAT_OBJECT = rf"\{{(?:{_PAIR}(?:,{_PAIR})*)?\}}"

FLAT_OBJECT_MACROS = (
    # absent, or a flat object (keys `k`) whose minified text needs no escapes (its pairs
    # can be cut by regex) and has no key twice (Python keeps the last, DuckDB the first)
    rf"""CREATE MACRO obj_ok(t, k) AS t IS NULL OR (NOT contains(t, '\')
        AND regexp_full_match(t, '{FLAT_OBJECT}') AND list_unique(k) = len(k))""",
    rf"""CREATE MACRO obj_keys(t) AS regexp_extract_all(t, '"([^"]*)":{VALUE}', 1)""",
    rf"""CREATE MACRO obj_vals(t) AS regexp_extract_all(t, '"[^"]*":({VALUE})', 1)""",
    # values.dumps: keys sorted, no spaces; the values are already in its spelling
    """CREATE MACRO canon(t, k, v) AS CASE WHEN k = list_sort(k) THEN t
        ELSE to_json(map_from_entries(list_sort(list_zip(k, v::JSON[])))) END""",
)

# A line `try(json_keys(...))` may parse: an object, no NUL; yyjson also takes trailing
# commas (and bare nan/inf, which VALUE refuses); Python's json does not.
LINE_OK = r"""starts_with(line, '{') AND NOT contains(line, '\u0000')
    AND NOT regexp_matches(line, ',[ \t\r\n]*[\]}]')"""

# Decoded text of a JSON string (JSON text as from_json gives it), else NULL.
JSTR_MACRO = r"""CREATE MACRO jstr(x) AS CASE WHEN NOT starts_with(x, '"') THEN NULL
    WHEN contains(x, '\') THEN x ->> '$' ELSE substr(x, 2, length(x) - 2) END"""


@dataclass
class LineBlock:
    """Whole lines of the file, numbered from `first`, without their newlines."""

    first: int
    lines: pa.BinaryArray
    open_end: bool = False  # the last line is the file's last and has no newline

    def raw(self, i: int) -> bytes:
        """Line `i` of the block as `iter_lines` reads it (with its newline, if it had one)."""
        raw = self.lines[i].as_py()
        return raw if i == len(self.lines) - 1 and self.open_end else raw + b"\n"

    def table(self) -> pa.Table:
        """(n, line): the line numbers and the text; a line of invalid UTF-8 is empty text
        (no native row: the Python path reads it)."""
        lines = self.lines
        try:
            text = lines.cast(pa.string())
        except pa.ArrowInvalid:
            valid = [_utf8(raw) for raw in lines.to_pylist()]
            text = pc.if_else(pa.array(valid), lines, b"").cast(pa.string())
        numbers = pa.array(range(self.first, self.first + len(lines)), pa.int64())
        return pa.table({"n": numbers, "line": text})


Parsed = TypeVar("Parsed")


def parsed_blocks(
    path: Path, block_bytes: int, parse: Callable[[LineBlock], Parsed]
) -> Iterator[tuple[LineBlock, Parsed]]:
    """Each block with what `parse` made of it, in file order. Two blocks parse at once
    (DuckDB and Arrow release the GIL) while the caller uses the one before them. A read
    error ends the file: raised as `BlockReadError` after the last block's result."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pending: deque[tuple[LineBlock, Future[Parsed]]] = deque()
        error: BaseException | None = None
        last = 0
        for block, read_error in _blocks(path, block_bytes):
            error = read_error
            pending.append((block, pool.submit(parse, block)))
            last = block.first + len(block.lines) - 1
            if len(pending) > WORKERS:
                block, future = pending.popleft()
                yield block, future.result()
        while pending:
            block, future = pending.popleft()
            yield block, future.result()
    if error is not None:
        raise BlockReadError(last + 1, error)


class BlockReadError(Exception):
    """The file broke after line `line - 1`; reject line `line` as `iter_lines` does."""

    def __init__(self, line: int, error: BaseException) -> None:
        super().__init__(f"unreadable file: {error}")
        self.line = line


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _blocks(path: Path, size: int) -> Iterator[tuple[LineBlock, BaseException | None]]:
    """Blocks of whole lines; with a read error, the last block holds the whole lines
    before it (a partial line is lost, as in `iter_lines`) and the error comes with it."""
    first, tail = 1, b""
    try:
        handle = open_binary(path)
    except _READ_ERRORS as exc:
        yield LineBlock(first, pa.array([], pa.binary())), exc
        return
    with handle:
        while True:
            chunk, error = _read(handle, size)
            data = tail + chunk
            if error is None and chunk and len(data) < size:
                tail = data
                continue
            cut = data.rfind(b"\n") + 1
            if error is None and chunk and cut == 0:  # one line longer than a block
                tail = data
                continue
            open_end = error is None and not chunk and cut < len(data)
            body, tail = (data, b"") if open_end else (data[:cut], data[cut:])
            if body or error is not None:
                lines = _split(body, open_end)
                yield LineBlock(first, lines, open_end), error
                first += len(lines)
            if error is not None or not chunk:
                return


def _read(handle: Any, size: int) -> tuple[bytes, BaseException | None]:
    """Up to `size` bytes; `read1` so that a gzip stream that breaks keeps what came before."""
    parts: list[bytes] = []
    got = 0
    try:
        while got < size:
            part = handle.read1(size - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    except _READ_ERRORS as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def _split(body: bytes, open_end: bool) -> pa.BinaryArray:
    """The lines of `body` without their newlines. Arrow's CSV reader splits them in
    parallel; it also ends a line at a carriage return and drops a byte order mark at
    the start, so such blocks are split here."""
    if b"\r" not in body and b"\x01" not in body and not body.startswith(codecs.BOM_UTF8):
        try:
            table = pcsv.read_csv(pa.BufferReader(body), *_SPLIT)
            return table.column("line").combine_chunks()
        except pa.ArrowInvalid:  # a line longer than the CSV reader's block
            pass
    parts = body.split(b"\n")
    if not open_end:
        parts.pop()
    return pa.array(parts, pa.binary())


class NativeSession:
    """The DuckDB session of a native fast path: its macros, and one cursor per reading thread."""

    def __init__(self, macros: list[str], block_bytes: int) -> None:
        self.block_bytes = block_bytes
        self.con = duckdb.connect(config={"threads": 2, "enable_external_access": False})
        # Pushing the filters down would copy from_json and the macros into each condition.
        self.con.execute("SET disabled_optimizers = 'filter_pushdown'")
        for macro in macros:
            self.con.execute(macro)
        self.local = threading.local()
        self.native_rows = 0  # rows the native path made
        self.python_lines = 0  # lines it handed to the reference

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection to the database holding the macros."""
        con = getattr(self.local, "con", None)
        if con is None:
            con = self.local.con = self.con.cursor()
        return con

    def close(self) -> None:
        self.con.close()

    def _query_block(self, block: LineBlock, params: dict[str, Any] | None = None) -> tuple[pa.Table | None, list[int]]:
        """`self.query`'s rows for one block, and the lines (indexes in the block) they do not
        cover; when DuckDB refuses the block, no rows and every line (the reference reads them)."""
        con = self._cursor()
        con.register("block_lines", block.table())
        try:
            rows = con.sql(self.query, params=params).to_arrow_table()
        except duckdb.Error:  # whatever the checks missed: the whole block goes the Python way
            return None, list(range(len(block.lines)))
        finally:
            con.unregister("block_lines")
        return rows, uncovered_lines(block, rows)


def uncovered_lines(block: LineBlock, rows: pa.Table) -> list[int]:
    """The block's lines (indexes in the block) that have no row in `rows`."""
    if rows.num_rows == len(block.lines):
        return []
    done = set(rows.column("source_record").to_pylist())
    return [i for i in range(len(block.lines)) if block.first + i not in done]
