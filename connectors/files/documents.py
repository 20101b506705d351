"""Whole-file JSON documents: a page, an array, an object wrapping one record, parsed
whole when small and streamed when not, its records all or nothing."""

from __future__ import annotations

import codecs
import functools
import json
import marshal
import os
import tempfile
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import QuarantineSink
from connectors.files import json_text
from connectors.files.json_text import JsonBreak, _JsonText, iter_document_items
from connectors.files.lines import is_json_lines, iter_json_lines, open_binary
from connectors.values import surrogate_escape


def load_document(path: Path, sink: QuarantineSink, source_file: str) -> Any | None:
    """Parse a whole-file JSON document; an unreadable file is rejected as record 0."""
    try:
        with open_binary(path) as handle:
            data = handle.read()
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        sink.reject(source_file, 0, f"invalid UTF-8: {exc.reason}")
    except (ValueError, RecursionError) as exc:  # ValueError: also integers past Python's digit limit
        sink.reject(source_file, 0, f"malformed JSON document: {exc}")
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, 0, f"unreadable file: {exc}")
    return None


# A whole document with less text than this is parsed once and its records kept for
# the reader; a larger one is checked in one pass and streamed in a second.
HOLD_CHARS = 4 << 20


def _load_whole(path: Path) -> tuple[Any, int, bool] | None:
    """(document, bytes, whether they escape a surrogate) when the file has at most
    HOLD_CHARS bytes and json.loads takes it whole, else None. The C parser is several
    times faster than the walker, and where it accepts the text the walker finds the same
    values; where it refuses, the walker reads the file and words the exact reason."""
    limit = HOLD_CHARS
    try:
        if limit <= 0 or (path.suffix != ".gz" and path.stat().st_size > limit):
            return None
        with open_binary(path) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            return None
        return json.loads(data.decode("utf-8")), len(data), surrogate_escape(data)
    except (ValueError, RecursionError, EOFError, OSError, zlib.error):  # ValueError: also bad UTF-8
        return None


class _Walk:
    """One pass over a whole-file JSON document, validating all of it as json.loads would.

    Iterating gives (array, element) for the elements of every array that may hold the
    records: 0 is a top-level array, k the k-th member named `list_key` of a top-level
    object. Afterwards `members` holds such an object's other members (the last of
    repeated names wins, as in json.loads) and `value` any other top-level value.
    """

    def __init__(self, text: _JsonText, list_key: str | None) -> None:
        self.text = text
        self.list_key = list_key
        self.arrays = 0
        self.kind = ""  # "array", "object" or "value"
        self.members: dict[str, Any] = {}
        self.value: Any = None

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        text = self.text
        while not text.buf and text.more():  # the first text tells whether there is a BOM
            pass
        if text.bom:  # json.loads refuses a str that starts with one
            raise JsonBreak(_bom_message(), 0)
        first = text.peek()
        if first == "[":
            self.kind = "array"
            text.pos += 1
            yield from ((0, item) for item in text.elements())
        elif first == "{":
            self.kind = "object"
            text.pos += 1
            yield from self._object()
        else:
            self.kind = "value"
            self.value = text.value()
        anchor = text.keep = text.at()
        if text.peek() is not None:
            text.fail("null", anchor)
        text.keep = None

    def _object(self) -> Iterator[tuple[int, Any]]:
        text = self.text
        members = self.members
        anchor = text.keep = text.at()
        char = text.peek()
        text.keep = None
        if char == "}":
            text.pos += 1
            return
        if char != '"':
            text.fail("{", anchor)
        while True:
            key = text.value()
            anchor = text.keep = text.at()
            if text.peek() != ":":
                text.fail('{""', anchor)
            text.keep = None
            text.pos += 1
            if key == self.list_key and text.peek() == "[":
                text.pos += 1
                self.arrays += 1
                yield from ((self.arrays, item) for item in text.elements())
                members[key] = _Streamed(self.arrays)
            else:
                members[key] = text.value()
            if not text.follows('{"":null', "}"):
                return


@dataclass(frozen=True)
class _Streamed:
    """A member whose array was streamed, not kept."""

    array: int


def _bom_message() -> str:
    try:
        json.loads(codecs.BOM_UTF8.decode())
    except json.JSONDecodeError as exc:
        return exc.msg
    return "Unexpected UTF-8 BOM"


class _Spill:
    """Records on disk, in order: what a check pass met of a document too large to keep in
    memory, so that the records are read back (marshal, several times faster than json)
    rather than the document parsed again. The file goes with this object."""

    CHUNK_RECORDS = 1_000

    def __init__(self) -> None:
        self.chunk: list[Any] = []
        # Records that cannot be kept (marshal refuses a value nested 2,000 deep, which json
        # reaches under a raised recursion limit; the temporary folder is full or missing):
        # the document is read again instead, as if it had never been kept.
        self.failed = False
        self.disk: dict[str, Any] = {}  # "path", and "out" while writing
        self.gone = weakref.finalize(self, _remove, self.disk)

    @classmethod
    def of(cls, records: list[Any]) -> _Spill:
        spill = cls()
        for record in records:
            spill.append(record)
        return spill

    def append(self, record: Any) -> None:
        self.chunk.append(record)
        if len(self.chunk) >= self.CHUNK_RECORDS:
            self._dump()

    def _dump(self) -> None:
        if not self.failed:
            try:
                data = marshal.dumps(self.chunk)
                if "out" not in self.disk:
                    handle, self.disk["path"] = _new_spill_file()
                    self.disk["out"] = os.fdopen(handle, "wb")
                # length-prefixed: `marshal.load` from a file reads it piece by piece, slowly
                self.disk["out"].write(len(data).to_bytes(8, "little") + data)
            except (ValueError, OSError):
                self.failed = True
        self.chunk = []

    def written(self) -> _Spill | None:
        """This spill, all its records on disk, ready to read; None when it failed."""
        self._dump()
        try:
            if "out" in self.disk:
                self.disk["out"].close()
        except OSError:
            self.failed = True
        if self.failed:
            self.gone()
            return None
        return self

    def __reduce__(self) -> tuple[Callable[[str], _Spill], tuple[str]]:
        # Pickled to hand the records to another process (reckon/file_reads.py): the file
        # goes with the copy, which removes it when it is collected (or its process ends);
        # this object no longer does. Only a written spill is ever handed over.
        self.gone.detach()
        return _adopt, (self.disk["path"],)

    def __iter__(self) -> Iterator[Any]:
        with open(self.disk["path"], "rb") as handle:
            while size := handle.read(8):
                yield from marshal.loads(handle.read(int.from_bytes(size, "little")))


SPILL_PREFIX = "reckon-records-"
# A process killed while it kept records (out of memory, a cancelled run) leaves their
# file behind. The next process to keep records removes such files: the process named in
# the file's name runs no more, and the file was last written this long ago (a temporary
# folder shared between PID namespaces may hold the file of a writer alive elsewhere).
ORPHAN_AFTER_SECONDS = 6 * 3600


def _new_spill_file() -> tuple[int, str]:
    folder = tempfile.gettempdir()
    _remove_orphans(folder)
    return tempfile.mkstemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=folder)


@functools.cache  # once per folder and process
def _remove_orphans(folder: str) -> None:
    written_before = time.time() - ORPHAN_AFTER_SECONDS
    for path in Path(folder).glob(f"{SPILL_PREFIX}*-*"):
        pid = path.name[len(SPILL_PREFIX):].split("-")[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        try:
            if path.stat().st_mtime < written_before:
                path.unlink()
        except OSError:  # removed meanwhile, or not ours to remove
            continue


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _adopt(path: str) -> _Spill:
    """A spill of records written by another process, this one's to remove now."""
    spill = _Spill()
    spill.disk["path"] = path
    return spill


def _remove(disk: dict[str, Any]) -> None:
    if "out" in disk:
        disk["out"].close()
    if "path" in disk:
        Path(disk["path"]).unlink(missing_ok=True)


def _discard(held: list[Any] | _Spill) -> None:
    if isinstance(held, _Spill):
        held.gone()


@dataclass
class JsonDocument:
    """The records of a whole-file JSON document, numbered by position from 1, in memory
    bounded by its largest record. A page (an object whose `list_key` is an array) gives
    that array; an object wrapping one record under `item_key` gives that record; a bare
    array gives its elements; any other object is one record; anything else rejects the
    file as record 0.

    The records are all or nothing, as when the file is parsed whole: a break anywhere
    (bad JSON, bad UTF-8, a gzip stream cut short; the first of these that a whole read
    would meet) rejects the file as record 0 with the reason json.loads would give, and
    keeps no record. So the document is checked in one streaming pass, which keeps its
    records: in memory when it is small, else on disk (`_Spill`), so it is read once. A
    small document that json.loads takes whole skips the walker (see `_load_whole`).
    """

    path: Path
    list_key: str | None = None
    item_key: str | None = None
    rejection: tuple[str, Any] | None = None  # (reason, raw) for record 0
    records: list[Any] | _Spill | None = None  # the records when known; else stream array `array`
    array: int = 0
    head: dict[str, Any] | None = None  # an object document's members, streamed arrays left out
    # Whether its text escapes a surrogate: without one no record holds a lone surrogate.
    escapes: bool = True

    @classmethod
    def check(cls, path: Path, list_key: str | None = None, item_key: str | None = None,
              hold: int | None = None) -> JsonDocument:  # fmt: skip
        """Read the document once; keep its records in memory if it has fewer than `hold`
        (default HOLD_CHARS) characters, else on disk (`_Spill`)."""
        doc = cls(path, list_key, item_key)
        hold = HOLD_CHARS if hold is None else hold
        loaded = _load_whole(path)
        if loaded is not None:
            doc._shape_loaded(*loaded, hold)
            return doc
        held: list[Any] | _Spill = []  # the elements of array `last`: in memory while small
        last = 0
        try:
            with open_binary(path) as handle:
                text = _JsonText(handle)
                try:
                    walk = _Walk(text, list_key)
                    try:
                        for array, item in walk:
                            if array != last:  # a later array of the same name wins
                                _discard(held)
                                held, last = [], array
                            held.append(item)
                            if isinstance(held, list) and text.at() > hold:
                                held = _Spill.of(held)
                    except JsonBreak as exc:
                        doc.rejection = (f"malformed JSON document: {exc.msg}: {text.where(exc.position)}", None)
                    except (ValueError, RecursionError) as exc:  # ValueError: integers past Python's digit limit
                        doc.rejection = (f"malformed JSON document: {exc}", None)
                    if doc.rejection:
                        text.drain()  # a whole read meets bad bytes before bad JSON
                except UnicodeDecodeError as exc:
                    doc.rejection = (f"invalid UTF-8: {exc.reason}", None)
                    while handle.read(json_text.READ_CHUNK):  # and a cut gzip stream before either
                        pass
        except (EOFError, OSError, zlib.error) as exc:
            doc.rejection = (f"unreadable file: {exc}", None)
        if doc.rejection is not None:
            _discard(held)
            return doc
        records = held.written() if isinstance(held, _Spill) else held  # None: stream it
        doc.escapes = text.escapes

        def kept(array: int) -> list[Any] | _Spill | None:  # None: not kept, stream it
            return records if array == last else []

        doc._shape(walk.kind, walk.members, walk.value, kept)
        return doc

    def _shape_loaded(self, value: Any, size: int, escapes: bool, hold: int) -> None:
        """The shapes above, from the document parsed whole (`size` bytes): as the check
        pass sees it, the records array standing in the members as streamed."""
        self.escapes = escapes
        listed = value.get(self.list_key) if isinstance(value, dict) and self.list_key is not None else None
        records = value if isinstance(value, list) else listed if isinstance(listed, list) else []
        if isinstance(listed, list):  # array 1: what `_stream` walks should the file change
            value = {**value, self.list_key: _Streamed(1)}
        kind = "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "value"
        if size > hold:
            records = _Spill.of(records).written()  # None: stream it
        self._shape(kind, value if kind == "object" else {}, value, lambda array: records)

    def _shape(self, kind: str, members: dict[str, Any], value: Any,
               kept: Callable[[int], list[Any] | _Spill | None]) -> None:  # fmt: skip
        """The shapes above, from the top-level `kind` ("array", "object", "value"), an
        object's `members`, any other `value`, and the records `kept` of each array."""
        if kind == "array":
            self.records = kept(0)
            return
        if kind == "value":
            kind = "null" if value is None else type(value).__name__
            self.rejection = (f"expected a JSON object or array, got {kind}", value)
            return
        self.head = {key: value for key, value in members.items() if not isinstance(value, _Streamed)}
        listed = members.get(self.list_key) if self.list_key is not None else None
        if isinstance(listed, _Streamed):
            self.records, self.array = kept(listed.array), listed.array
        elif self.item_key is not None and self.item_key in members:
            self.records = [members[self.item_key]]
        else:
            self.records = [members]

    def numbered(self, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        """(number from 1, record); a broken document is rejected here as record 0."""
        if self.rejection is not None:
            sink.reject(source_file, 0, *self.rejection)
        elif self.records is not None:
            yield from enumerate(self.records, start=1)
        else:
            yield from self._stream(sink, source_file)

    def _stream(self, sink: QuarantineSink, source_file: str) -> Iterator[tuple[int, Any]]:
        loaded = _load_whole(self.path)  # checked small, but its records were not kept
        # (a surrogate escape the check did not see: the file changed, and the walk says so)
        value = loaded[0] if loaded is not None and (self.escapes or not loaded[2]) else None
        if self.array and isinstance(value, dict):
            value = value.get(self.list_key)
        if isinstance(value, list):
            yield from enumerate(value, start=1)
            return
        number = 0
        try:
            with open_binary(self.path) as handle:
                text = _JsonText(handle)
                for array, item in _Walk(text, self.list_key):
                    if text.escapes and not self.escapes:  # its records were not checked for lone surrogates
                        raise ValueError("a surrogate escape the check did not see")
                    if array == self.array:
                        number += 1
                        yield number, item
        except (ValueError, RecursionError, EOFError, OSError, zlib.error) as exc:
            # The file changed since it was checked: what was read stays, as for a stream.
            sink.reject(source_file, 0, f"unreadable file: changed while read ({exc})")


def iter_json_records(
    path: Path, sink: QuarantineSink, source_file: str, list_key: str | None = None
) -> Iterator[tuple[int, Any]]:
    """(number, record) for a file that is either JSON Lines (numbered by line) or one
    JSON document (numbered by position, see `iter_document_items`)."""
    if is_json_lines(path):
        return iter_json_lines(path, sink, source_file)
    return iter_document_items(path, sink, source_file, list_key)


