"""Hostile input for any connector: write a file from records of known kinds, damage it,
read it, and check that nothing crashed and that the counts add up.

A record is `good` (kept: at least one row carries its number), `silent` (accepted
without rows: a duplicate the reader drops, a span that is not agent work) or `bad`
(exactly one quarantine row carries its number). Files are JSON Lines, one JSON
array (maybe under a key) or CSV; the file may be gzipped, cut short, or broken.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from connectors.base import Reader
from tests.connectors.readers import read_with

GOOD, SILENT, BAD = "good", "silent", "bad"
BREAKS = ("unreadable file", "malformed JSON document", "invalid UTF-8")

# (kind, template): a template builds record n (unique per file) from extra fields.
Template = Callable[[int, dict[str, Any]], Any]


@dataclass(frozen=True)
class Format:
    """How one connector's files look and what its records mean."""

    reader: type[Reader]
    container: str  # "lines", "array" or "csv"
    templates: list[tuple[str, Template]]
    options: dict[str, Any] = field(default_factory=dict)
    correlation_paths: tuple[str, ...] = ()
    list_key: str | None = None  # array under this key of an object
    header: list[str] | None = None  # csv header row
    prefix: list[tuple[str, Template]] = field(default_factory=list)  # records that come first
    whole_file: bool = False  # a document read whole: any break rejects it as record 0
    suffix: str = ""  # file name ending (".jsonl", ".json", ".csv")
    many_per_record: bool = False  # a record (an OTLP line) holds many items, each kept or rejected


UNKNOWN_FIELDS = st.dictionaries(
    st.sampled_from(["x_vendor_added", "newField", "metadata2"]),
    st.one_of(st.integers(-5, 5), st.text(max_size=6), st.none()),
    max_size=2,
)
HUGE = 200_000


def records(fmt: Format) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Records (kind, value) in file order, each built with unknown fields and maybe huge."""

    @st.composite
    def build(draw):
        chosen = draw(st.lists(st.sampled_from(fmt.templates), max_size=10))
        out = []
        for n, (kind, template) in enumerate([*fmt.prefix, *chosen], start=1):
            extra = draw(UNKNOWN_FIELDS) if kind == GOOD else {}
            if kind == GOOD and draw(st.integers(0, 9)) == 0:
                extra["huge"] = "x" * HUGE
            out.append((kind, template(n, extra)))
        return out

    return build()


@dataclass
class Written:
    path: Path
    kinds: dict[int, str]  # record number -> kind
    broken: bool  # a break (cut, bad bytes) ends reading somewhere
    empty: bool  # a file of zero bytes
    past_records: bool = False  # the break comes after the last record (a document's closing "}" cut off)


def write(fmt: Format, folder: Path, items: list[tuple[str, Any]], damage: str, cut: float, blanks: list[bool]) -> Written:
    """The file for `items`; damage: plain, gzip, gzip_cut, empty, break (arrays: cut the JSON)."""
    if damage == "empty":
        items = []
    kinds: dict[int, str] = {}
    if fmt.container == "array":
        values = [value for _, value in items]
        text = json.dumps({fmt.list_key: values} if fmt.list_key else values).encode()
        kinds = {n: kind for n, (kind, _) in enumerate(items, start=1)}
        if damage == "empty":
            text = b""
        if damage == "break" and text:
            text = text[: max(1, int(len(text) * cut))]
    else:
        lines: list[bytes] = []
        if fmt.header:
            lines.append(",".join(fmt.header).encode())
        for (kind, value), blank in zip(items, blanks + [False] * len(items), strict=False):
            if blank:
                lines.append(b"")
            lines.append(encode_line(fmt, value))
            kinds[len(lines)] = kind
        text = b"".join(line + b"\n" for line in lines) if damage != "empty" else b""
    name = "records" + fmt.suffix
    full = readable = len(text)
    if damage in ("gzip", "gzip_cut"):
        name += ".gz"
        text = gzip.compress(text, mtime=0)
        if damage == "gzip_cut":
            text = text[: max(1, int(len(text) * cut))]
            readable = len(zlib.decompressobj(wbits=31).decompress(text))
    path = folder / name
    path.write_bytes(text)
    # all of an array came through, the break after it (in the object's closing "}", or the gzip trailer)
    past = damage == "gzip_cut" and fmt.container == "array" and readable >= full - (1 if fmt.list_key else 0)
    return Written(path, kinds, damage in ("gzip_cut", "break"), damage == "empty", past)


def encode_line(fmt: Format, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if fmt.container == "csv":
        return ",".join('"' + v.replace('"', '""') + '"' for v in value).encode()
    return json.dumps(value).encode()


def check(fmt: Format, written: Written, root: Path) -> None:
    """No crash; every bad record quarantined once with its file, number and a reason;
    every good record kept; silent ones neither; nothing else; the counts add up."""
    result = read_with(fmt.reader, written.path, fmt.options, fmt.correlation_paths, root=root)
    source_file = str(written.path.relative_to(root))
    rows = Counter(row["source_record"] for row in result.rows)
    rejected = Counter(r["source_record"] for r in result.rejected)
    for r in result.rejected:
        assert r["source_file"] == source_file and r["reason"], r
        assert isinstance(r["source_record"], int) and r["source_record"] >= 0, r
    assert all(row["source_file"] == source_file for row in result.rows)

    if fmt.whole_file and (written.broken or written.empty):
        assert not rows and list(rejected) == [0], result.rejected
        return
    limit = max(written.kinds, default=0) + 1
    if written.broken:
        # A bad line may be bad UTF-8 or bad JSON; in an array, only the break is.
        prefixes = BREAKS if fmt.container == "array" else BREAKS[:1]
        breaks = [r for r in result.rejected if r["reason"].startswith(prefixes)]
        if breaks:
            assert len(breaks) == 1, result.rejected
            at = breaks[0]["source_record"]
            limit = at or (limit if written.past_records else 0)
            rejected[at] -= 1
            rejected += Counter()  # drop zero counts
    expected_good = {n for n, kind in written.kinds.items() if kind == GOOD and n < limit}
    expected_bad = Counter(n for n, kind in written.kinds.items() if kind == BAD and n < limit)
    assert set(rows) == expected_good, (sorted(rows), sorted(expected_good), result.rejected)
    assert rejected == expected_bad, (result.rejected, expected_bad)
    considered = [n for n in written.kinds if n < limit]
    assert len(expected_good) + sum(expected_bad.values()) + sum(
        1 for n in considered if written.kinds[n] == SILENT
    ) == len(considered)


def damages(fmt: Format) -> st.SearchStrategy[str]:
    options = ["plain", "plain", "gzip", "gzip_cut", "empty"]
    return st.sampled_from([*options, "break"] if fmt.container == "array" else options)


# --- fuzzing: valid records with one part replaced by arbitrary JSON -----------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _replace(value: Any, path: tuple, new: Any, drop: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if drop and not rest:
        del copy[head]
        return copy
    copy[head] = _replace(copy[head], rest, new, drop)
    return copy


def fuzzed(fmt: Format) -> st.SearchStrategy[list[Any]]:
    """Records built from the format's good templates, each with one part replaced by
    arbitrary JSON or removed (CSV: one cell replaced by arbitrary text)."""

    @st.composite
    def build(draw):
        goods = [template for kind, template in [*fmt.prefix, *fmt.templates] if kind == GOOD]
        out = []
        for n in range(1, draw(st.integers(1, 8)) + 1):
            value = draw(st.sampled_from(goods))(n, {})
            if fmt.container == "csv":
                cell = draw(st.integers(0, len(value) - 1))
                value = [*value[:cell], draw(st.text(max_size=8)), *value[cell + 1 :]]
            else:
                path = draw(st.sampled_from(_paths(value)))
                value = _replace(value, path, draw(ANY_JSON), drop=bool(path) and draw(st.booleans()))
            out.append(value)
        return out

    return build()


def check_fuzzed(fmt: Format, values: list[Any], root: Path) -> None:
    """Whatever the records hold: no crash, and each record is kept, dropped or rejected
    once (never both kept and rejected), with its file and number."""
    written = write(fmt, root, [(GOOD, v) for v in values], "plain", 0.0, [])
    result = read_with(fmt.reader, written.path, fmt.options, fmt.correlation_paths, root=root)
    kept = {row["source_record"] for row in result.rows}
    rejected = Counter(r["source_record"] for r in result.rejected)
    if not fmt.many_per_record:
        assert all(count == 1 for count in rejected.values()), result.rejected
        assert not kept & set(rejected), (kept, result.rejected)
    assert all(r["reason"] and r["source_file"] == written.path.name for r in result.rejected)
    # a CSV value may hold a line break, so a record's number may be a later line
    last = written.path.read_bytes().count(b"\n") + 1 if fmt.container == "csv" else max(written.kinds, default=0)
    assert all(0 <= n <= last for n in kept | set(rejected)), (kept, result.rejected)
