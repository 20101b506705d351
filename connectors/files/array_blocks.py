"""A file that is one JSON array (a SendGrid webhook batch: `[{...},{...}]`) as blocks of
its elements for a native fast path: each element's text is a "line" of a `LineBlock`,
numbered by its position from 1, so the checks made for JSON Lines apply unchanged.

The cut is vectorized (numpy): quotes that an odd run of backslashes does not escape
bound the strings; outside them, `{[` and `}]` give the depth by a cumulative sum, and
the commas at depth 1 part the elements. Every byte of the document is then either
whitespace, the opening `[`, a separating comma, the closing `]`, or inside an element's
text; so when every element's text is one valid JSON value (what the fast path proves,
or Python's json checks), the document is the valid array of those elements, whatever
the cut assumed on the way. Anything the cut cannot take (a byte order mark, a first
character other than `[`, an empty element, an element longer than four blocks, bad
UTF-8, no closing `]`, data after it) raises `NotAPlainArray`: the caller's reference
reads the file then, and words the reason itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.files.line_blocks import LineBlock

_WHITESPACE = b" \t\n\r"  # JSON's whitespace, all json.loads skips between tokens
# Byte -> what it is to the cut: 1 opens, -1 closes, 2 separates, 3 quotes; 0 anything else.
_ROLE = np.zeros(256, np.int8)
_ROLE[[ord("{"), ord("[")]] = 1
_ROLE[[ord("}"), ord("]")]] = -1
_ROLE[ord(",")] = 2
_ROLE[ord('"')] = 3
_BACKSLASH = ord("\\")
_MAX_ESCAPE_RUN = 64  # longer runs of backslashes before a quote: the reference reads the file


class NotAPlainArray(Exception):
    """The file is not provably one JSON array the cut can part: the reference reads it."""


@dataclass
class ElementBlock(LineBlock):
    """Elements of the array, numbered by position from `first`, each without the
    whitespace around it."""

    def raw(self, i: int) -> bytes:
        return self.lines[i].as_py()


def array_blocks(path: Path, size: int) -> Iterator[tuple[LineBlock, None]]:
    """Blocks of whole elements, about `size` bytes each (an element may span reads)."""
    first = 1
    with path.open("rb") as handle:
        data, ended = _opening(handle, size), False  # from the `[` on
        while True:
            offsets, end = _cut(data)
            if end is None and ended:
                raise NotAPlainArray("the array does not end")
            if end is not None and (
                data[end + 1 :].strip(_WHITESPACE) or _more_than_whitespace(handle, size)
            ):
                raise NotAPlainArray("data after the array")
            elements = _elements(
                data, offsets, empty_ok=end is not None and len(offsets) == 2 and first == 1
            )
            if len(elements):
                yield ElementBlock(first, elements), None
                first += len(elements)
            if end is not None:
                return
            data = data[offsets[-1] :]  # the element being cut, from the comma before it
            if len(data) > 4 * size:
                raise NotAPlainArray("an element longer than four blocks")
            chunk = handle.read(size)
            data, ended = data + chunk, not chunk


def _opening(handle, size: int) -> bytes:
    """The text from the array's `[` on; anything but whitespace before it is not an array."""
    while True:
        chunk = handle.read(size)
        text = chunk.lstrip(_WHITESPACE)
        if text:
            if text[:1] != b"[":
                raise NotAPlainArray("not an array")
            return text
        if not chunk:
            raise NotAPlainArray("an empty file")


def _more_than_whitespace(handle, size: int) -> bool:
    while chunk := handle.read(size):
        if chunk.strip(_WHITESPACE):
            return True
    return False


def _cut(data: bytes) -> tuple[np.ndarray, int | None]:
    """The offsets of the separators that start each whole element in `data` (which starts
    with `[` or the comma before an element, outside any string, at depth 1 after it),
    then the offset past the last whole element; and the offset of the array's closing
    `]`, None when it is not in `data`."""
    codes = np.frombuffer(data, np.uint8)
    # `[` and `]` are `{` and `}` but for one bit: folded, two comparisons find all four.
    folded = codes | 0x20
    brackets = (folded == ord("{")) | (folded == ord("}"))
    marked = np.flatnonzero(brackets | (codes == ord(",")) | (codes == ord('"')))
    kinds = _ROLE[codes[marked]]
    quote = kinds == 3
    real = quote.copy()
    real[_escaped(codes, marked, quote)] = False
    # Outside the strings: after an even number of real quotes, and not a quote itself.
    outside = ~quote & (np.cumsum(real, dtype=np.int64) % 2 == 0)
    # The leading separator is left out: depth 1 starts after it.
    structural, kinds = marked[outside][1:], kinds[outside][1:]
    depth = 1 + np.cumsum(np.where(kinds == 2, 0, kinds), dtype=np.int64)
    closed = np.flatnonzero(depth <= 0)
    end = None
    if closed.size:
        at = int(structural[closed[0]])
        if data[at] != ord("]"):
            raise NotAPlainArray("the array closes with a brace")
        end = at
        structural, kinds, depth = structural[: closed[0]], kinds[: closed[0]], depth[: closed[0]]
    commas = structural[(kinds == 2) & (depth == 1)]
    tail = [end] if end is not None else []
    return np.concatenate(([0], commas, tail)).astype(np.int64), end


def _escaped(codes: np.ndarray, marked: np.ndarray, quote: np.ndarray) -> np.ndarray:
    """The indexes (into `marked`) of the quotes that follow an odd run of backslashes
    (within a string, an escape). `codes[0]` is a separator: every run starts after it."""
    quotes = np.flatnonzero(quote)
    found = quotes[codes[marked[quotes] - 1] == _BACKSLASH]
    run = np.ones(found.size, np.int64)
    active = np.arange(found.size)
    back = 2
    while active.size:
        if back > _MAX_ESCAPE_RUN:
            raise NotAPlainArray("a long run of backslashes")
        active = active[codes[marked[found[active]] - back] == _BACKSLASH]
        run[active] += 1
        back += 1
    return found[run % 2 == 1]


def _elements(data: bytes, offsets: np.ndarray, empty_ok: bool) -> pa.BinaryArray:
    """The text between consecutive offsets, without the separator that starts it and the
    whitespace around it. An empty element (`[1,,2]`, `[1,]`) is not an array's, unless
    the array itself is empty (`empty_ok`: `[ ]`)."""
    count = len(offsets) - 1
    spans = pa.Array.from_buffers(
        pa.binary(), count, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )
    try:
        text = spans.cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise NotAPlainArray("invalid UTF-8") from exc
    text = pc.ascii_trim(pc.utf8_slice_codeunits(text, 1), characters=_WHITESPACE.decode())
    if count and pc.min(pc.binary_length(text)).as_py() == 0:
        if empty_ok and count == 1:
            return pa.array([], pa.binary())
        raise NotAPlainArray("an empty element")
    return text.cast(pa.binary())
