"""A JSON tokenizer over a binary stream's decoded text, read on demand: a document's
elements stream out one at a time, in memory bounded by the largest of them."""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from connectors.base import QuarantineSink
from connectors.files.lines import open_binary
from connectors.values import surrogate_escape

READ_CHUNK = 1 << 20



# A single JSON value (a record) larger than this is rejected rather than buffered.
MAX_VALUE_CHARS = 256 << 20


_WS = re.compile(r"[ \t\n\r]*")


_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


_DECODER = json.JSONDecoder()


_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


class _JsonText:
    """Decoded text of a binary stream, read on demand, with a cursor into it."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped before `buf`
        self.eof = False
        self.undecoded = b""  # an incomplete UTF-8 sequence at the end of the last chunk
        self.bad_bytes: UnicodeDecodeError | None = None  # raised once the text before it is used
        self.broken: Exception | None = None  # a read error (a cut gzip stream), likewise
        self.bom = False
        self.keep: int | None = None  # an absolute position `more` must not drop text from
        self.lines = 0  # newlines dropped before `buf`
        self.line_start = 0  # absolute position just after the last newline dropped
        self.escapes = False  # whether the text read so far holds a surrogate escape
        self.tail = ""  # the end of the last text read: an escape may span two reads

    def more(self) -> bool:
        if self.bad_bytes is not None:
            raise self.bad_bytes
        if self.broken is not None:
            raise self.broken
        if self.eof:
            return False
        data = self._read()
        start = self.offset == 0 and not self.buf  # no text yet (a BOM may be split over reads)
        text = self._decode(data)
        if start and text.startswith(codecs.BOM_UTF8.decode()):
            text = text[1:]
            self.bom = True
        if not self.escapes:
            seen = self.tail + text
            self.escapes = surrogate_escape(seen)
            self.tail = seen[-5:]
        drop = self.pos if self.keep is None else min(self.pos, self.keep - self.offset)
        dropped = self.buf.count("\n", 0, drop)
        if dropped:
            self.lines += dropped
            self.line_start = self.offset + self.buf.rindex("\n", 0, drop) + 1
        self.offset += drop
        self.buf = self.buf[drop:] + text
        self.pos -= drop
        return True

    def _read(self) -> bytes:
        """Up to READ_CHUNK bytes. `read` would drop all of a chunk when the stream breaks
        inside it (gzip cut short), so it is gathered from `read1` parts: the bytes before
        the break are given first, and the error is raised by the next read."""
        read1 = getattr(self.handle, "read1", None)
        if read1 is None:
            return self.handle.read(READ_CHUNK)
        parts: list[bytes] = []
        size = 0
        while size < READ_CHUNK:
            try:
                part = read1(READ_CHUNK - size)
            except (EOFError, OSError, zlib.error) as exc:
                if not parts:
                    raise
                self.broken = exc
                break
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    def _decode(self, data: bytes) -> str:
        """Decode what is whole; keep a split character for the next chunk and hold
        back invalid bytes so that the records before them are read first."""
        raw = self.undecoded + data
        self.undecoded = b""
        self.eof = not data
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if data and exc.reason == "unexpected end of data" and len(raw) - exc.start < 4:
                self.undecoded = raw[exc.start :]
            else:
                self.bad_bytes = exc
            return raw[: exc.start].decode("utf-8")

    def peek(self) -> str | None:
        """The next non-whitespace character (not consumed), None at the end."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return None

    def expect(self, chars: str) -> str:
        char = self.peek()
        if char is None or char not in chars:
            found = "end of file" if char is None else repr(char)
            raise ValueError(f"expected one of {chars!r}, found {found} at character {self.at()}")
        self.pos += 1
        return char

    def value(self) -> Any:
        """Decode the JSON value at the cursor, reading more text until it is whole."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut_short = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if not cut_short or not self._grow():
                    raise JsonBreak(exc.msg, self.offset + exc.pos) from None
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and _NUMBER_TAIL.fullmatch(self.buf, end) and self._grow():
                continue  # the number may go on in the next chunk ("0." + "5")
            self.pos = end
            return value

    def _grow(self) -> bool:
        if len(self.buf) - self.pos > MAX_VALUE_CHARS:
            raise ValueError(f"a JSON value at character {self.at()} is larger than {MAX_VALUE_CHARS} characters")
        return self.more()

    def at(self) -> int:
        return self.offset + self.pos

    def elements(self) -> Iterator[Any]:
        """The elements of the array whose `[` was just read, through its `]`. A break
        raises JsonBreak with the message json.loads gives for the whole document."""
        if self.peek() == "]":
            self.pos += 1
            return
        scan = _DECODER.scan_once
        while True:
            # Fast path: the element and the comma after it are whole in the buffer.
            try:
                value, end = scan(self.buf, self.pos)
            except (StopIteration, ValueError):
                value, end = None, -1
            if end < 0 or (type(value) in (int, float) and _NUMBER_TAIL.fullmatch(self.buf, end)):
                value = self.value()  # more text, or the exact error
            else:
                self.pos = end
            yield value
            comma = _COMMA.match(self.buf, self.pos)
            if comma and comma.end() < len(self.buf) and self.buf[comma.end()] != "]":
                self.pos = comma.end()
            elif not self.follows("[null", "]"):
                return

    def follows(self, context: str, closer: str) -> bool:
        """After a value inside an array (`context` "[null", `closer` "]") or an object
        ('{"":null', "}"): True with the cursor on the next element or key, False after
        the closer; anything else is the decoder's own error for it."""
        anchor = self.keep = self.at()
        try:
            char = self.peek()
            if char == closer:
                self.pos += 1
                return False
            if char == ",":
                self.pos += 1
                char = self.peek()
                if char is not None and char != closer and (closer == "]" or char == '"'):
                    return True
            self.fail(context, anchor)
        finally:
            self.keep = None

    def fail(self, context: str, anchor: int) -> NoReturn:
        """Raise the error json.loads gives for the text from `anchor` through the cursor,
        read after `context` (a stand-in for what came before: "[null" is after an element)."""
        window = context + self.buf[anchor - self.offset : self.pos + 1]
        try:
            json.loads(window)
        except json.JSONDecodeError as exc:
            raise JsonBreak(exc.msg, anchor + exc.pos - len(context)) from None
        raise JsonBreak("invalid JSON", self.at())

    def where(self, position: int) -> str:
        """`line L column C (char P)` of an absolute position in the text, as json.loads says it."""
        index = position - self.offset
        lines = self.lines + self.buf.count("\n", 0, index)
        newline = self.buf.rfind("\n", 0, index)
        line_start = self.offset + newline + 1 if newline >= 0 else self.line_start
        return f"line {lines + 1} column {position - line_start + 1} (char {position})"

    def drain(self) -> None:
        """Read (and drop) the rest of the text, so that bad bytes after the cursor surface."""
        self.keep = None
        while self.more():
            self.pos = len(self.buf)


class JsonBreak(ValueError):
    """Where and why a JSON text stops being valid (`msg` as json.loads words it)."""

    def __init__(self, msg: str, position: int) -> None:
        super().__init__(f"{msg} at character {position}")
        self.msg = msg
        self.position = position


def iter_document_items(
    path: Path, sink: QuarantineSink, source_file: str, list_key: str | None = None, listed: bool = False
) -> Iterator[tuple[int, Any]]:
    """(number, record) for a whole-file JSON document, read incrementally.

    The shapes of `JsonDocument`: a top-level array gives its elements; an object
    whose `list_key` is an array gives that array's elements; any other object is one
    record, unless `listed`: then such an object is rejected as record 0 (its `list_key`
    is missing or not an array, so its records would be lost unseen; the object is not
    quoted). Memory stays bounded by the largest record, not the file. An empty file
    has no records. A break in the JSON (or bad UTF-8, or a gzip stream that ends
    early) rejects one record, numbered as the element being read (0 outside the
    array), and ends the file: the elements before it are kept.
    """
    number = 0
    in_array = False
    try:
        with open_binary(path) as handle:
            text = _JsonText(handle)
            first = text.peek()
            if first is None:
                return
            if first == "[":
                text.expect("[")
                in_array = True
                for number, item in enumerate(text.elements(), start=1):
                    yield number, item
                in_array = False
            elif first == "{":
                text.expect("{")
                fields: dict[str, Any] = {}
                streamed = False
                while text.peek() != "}":
                    if fields or streamed:
                        text.expect(",")
                    key = text.value()
                    if not isinstance(key, str):
                        raise ValueError(f"expected a property name at character {text.at()}")
                    text.expect(":")
                    if key == list_key and text.peek() == "[" and not streamed:
                        text.expect("[")
                        in_array = streamed = True
                        for number, item in enumerate(text.elements(), start=1):
                            yield number, item
                        in_array = False
                    else:
                        fields[key] = text.value()
                text.expect("}")
                if not streamed and listed:
                    sink.reject(source_file, 0, f"field '{list_key}' must be an array")
                elif not streamed:
                    yield 1, fields
            else:
                value = text.value()
                kind = "null" if value is None else type(value).__name__
                sink.reject(source_file, 0, f"expected a JSON object or array, got {kind}", value)
                return
            if text.peek() is not None:
                raise ValueError(f"unexpected data after the JSON document at character {text.at()}")
    except UnicodeDecodeError as exc:
        sink.reject(source_file, number + 1 if in_array else 0, f"invalid UTF-8: {exc.reason}")
    except (ValueError, RecursionError) as exc:
        sink.reject(source_file, number + 1 if in_array else 0, f"malformed JSON document: {exc}")
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, number + 1 if in_array else 0, f"unreadable file: {exc}")


