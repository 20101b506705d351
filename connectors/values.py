"""Turning raw vendor values into canonical ones, or a BadRecord naming the field."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

EXCERPT_CHARS = 200
# A quarantine reason is cut to this many characters (the last one an ellipsis): a reason
# names the field and may quote a value, never a whole record.
REASON_CHARS = 300
ELLIPSIS = "\u2026"


# How far a record's time may run ahead of its export's before it counts as bad.
CLOCK_SKEW = timedelta(days=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRecord(ValueError):
    """A record that cannot be turned into a canonical row; the message is the reason."""


def dig(record: Any, dotted: str) -> Any:
    """The value at a dotted path (`metadata.intent_id`, `0.order_id` into an array),
    or None where absent."""
    value = record
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def storable(text: str) -> str:
    """`text` with any lone surrogate (from a JSON escape such as "\\ud800") spelled as
    that escape: UTF-8, so Arrow and Parquet, cannot hold one."""
    if text.isascii():  # the common case, checked without a scan
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON text decodes to a surrogate only from an escape of one (UTF-8 cannot encode one):
# "\\ud800" to "\\uDFFF", in either case. Its absence spares the scan of every record.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def surrogate_escape(text: str | bytes) -> bool:
    """Whether JSON `text` holds a surrogate escape: only then can a value decoded from
    it hold a lone surrogate (`lone_surrogate` need not look otherwise)."""
    pattern = _SURROGATE_ESCAPE_BYTES if isinstance(text, bytes) else _SURROGATE_ESCAPE
    return pattern.search(text) is not None


def lone_surrogate(value: Any) -> str | None:
    """The dotted path (as `dig` reads it) of a key or string in `value` that holds a lone
    surrogate, "" for `value` itself, None when there is none. Python's json decodes a
    "\\ud800" escape without its partner to one (a pair becomes one character, so any
    left is lone). Iterative, so a record nested as deep as json allows stays in bounds;
    `isascii` (no scan) passes most strings."""
    search = _SURROGATE.search
    if not isinstance(value, dict | list):
        return "" if isinstance(value, str) and not value.isascii() and search(value) else None
    stack = [((), value)]
    while stack:
        where, item = stack.pop()
        for key, child in item.items() if isinstance(item, dict) else enumerate(item):
            kind = type(child)  # what json and Arrow give: exact types, no subclasses
            if (kind is str and not child.isascii() and search(child)) or (
                type(key) is str and not key.isascii() and search(key)
            ):
                return ".".join(map(str, (*where, key)))
            if kind is dict or kind is list:
                stack.append(((*where, key), child))
    return None


def require_unicode(record: Any) -> None:
    """A record holding a lone surrogate is bad: its rows could not be stored."""
    where = lone_surrogate(record)
    if where is not None:
        raise BadRecord(f"invalid unicode: lone surrogate in field '{storable(where)}'")


def parse_nested_json(text: str | bytes) -> Any:
    """json.loads for JSON nested in a record (a payload, a tool's arguments): a lone
    surrogate in it is a ValueError, as invalid JSON is, since no row could hold it."""
    value = json.loads(text)
    require_unicode(value)  # a BadRecord, so a ValueError
    return value


def excerpt(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        try:
            text = json.dumps(raw, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(raw)
    text = storable(text).replace("\x00", "\\0")
    return text[:EXCERPT_CHARS]


# Built once: json.dumps with options builds a new encoder on every call (per row here).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
                              allow_nan=False)  # fmt: skip


def dumps(value: Any) -> str | None:
    """Canonical JSON text (sorted keys) for JSON-valued columns. Values JSON has no
    type for (dates, decimals from Parquet) become text; NaN and infinities, which
    standard JSON cannot hold, become null."""
    if value is None:
        return None
    try:
        return _CANONICAL.encode(value)
    except ValueError:
        return dumps(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def require_str(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise BadRecord(f"missing or non-string required field '{key}'")
    return value


def optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRecord(f"field '{key}' must be a string, got {type(value).__name__}")
    return str(value)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$")


def parse_rfc3339(value: Any, key: str) -> datetime:
    """An RFC 3339 timestamp with an offset, as UTC; no offset is a bad record."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise BadRecord(f"field '{key}' is not an RFC 3339 timestamp with offset: {value!r}")
    text = value.replace("z", "Z").replace("Z", "+00:00")
    if "." in text:  # Python accepts at most 6 fractional digits
        head, rest = text.split(".", 1)
        digits = re.match(r"\d+", rest).group(0)
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRecord(f"field '{key}' is not a valid timestamp: {value!r}") from exc
    return _utc(parsed, key)


def _utc(value: datetime, key: str) -> datetime:
    """An aware datetime in UTC; near year 1 or 9999 the offset can move it out of range."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise BadRecord(f"field '{key}' is out of range in UTC: {value.isoformat()}") from exc


def parse_epoch_seconds(value: Any, key: str, per_second: int = 1) -> datetime:
    """Unix seconds (int, float or numeric string) as UTC; `per_second` 1000 reads milliseconds."""
    if isinstance(value, bool):
        raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}")
    try:
        # Dividing here: an integer too large for a float overflows in the division too.
        seconds = float(value) / per_second
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}") from exc


def require_id(record: dict[str, Any], key: str) -> str:
    """An identifier given as a non-empty string or an integer, as text."""
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise BadRecord(f"missing or invalid required field '{key}': {value!r}")


def as_object(value: Any, where: str) -> dict[str, Any]:
    """`value` when it is an object, {} when absent (null); anything else is a bad record."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"field '{where}' must be an object, got {type(value).__name__}")
    return value


def without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping minus its None values (absent and null mean the same here)."""
    return {key: value for key, value in mapping.items() if value is not None}


def not_after(value: datetime, limit: datetime, key: str) -> datetime:
    """`value` unless it is later than `limit` (see `Reader.latest_plausible`)."""
    if value > limit:
        raise BadRecord(f"field '{key}' is in the future: {value.isoformat()} is after the export")
    return value


def parse_epoch_nanos(value: Any, key: str) -> datetime:
    """Unix nanoseconds (an int64 given as a number or a decimal string) as UTC."""
    if isinstance(value, str) and value.strip().isdigit():
        try:
            value = int(value)
        except ValueError:  # digits int() refuses ("²") or too many of them
            raise BadRecord(f"field '{key}' is not Unix nanoseconds: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise BadRecord(f"field '{key}' is not Unix nanoseconds: {value!r}")
    try:
        return EPOCH + timedelta(microseconds=value // 1000)
    except (ValueError, OverflowError) as exc:
        raise BadRecord(f"field '{key}' is out of range: {value!r}") from exc


TIMESTAMP_FORMATS = ("rfc3339", "utc", "epoch_s", "epoch_ms")


def parse_timestamp(value: Any, key: str, fmt: str = "rfc3339") -> datetime:
    """A timestamp in one of TIMESTAMP_FORMATS: `rfc3339` needs an offset, `utc` takes a
    time without one as UTC, `epoch_s`/`epoch_ms` are Unix seconds/milliseconds. A
    datetime (from Parquet) counts as RFC 3339."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if fmt != "utc":
                raise BadRecord(f"field '{key}' has no UTC offset: {value.isoformat()}")
            value = value.replace(tzinfo=UTC)
        return _utc(value, key)
    if fmt in ("epoch_s", "epoch_ms"):
        if isinstance(value, str) and value.strip():
            try:
                value = float(value)
            except ValueError:
                raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}")
        return parse_epoch_seconds(value, key, 1000 if fmt == "epoch_ms" else 1)
    if fmt == "utc" and isinstance(value, str) and not re.search(r"([Zz]|[+-]\d{2}:?\d{2})$", value.strip()):
        value = value.strip() + "Z"
    return parse_rfc3339(value, key)


def bounded(text: str, limit: int = REASON_CHARS) -> str:
    """`text`, or its first `limit - 1` characters and an ellipsis when it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def describe(value: Any, limit: int = 40) -> str:
    """A short word for a value a reason may name: a scalar's repr (bounded), or the kind
    of a container ("an object", "an array of 3"), never its contents."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)}"
    if isinstance(value, str | int | float | bool) or value is None:
        try:
            return bounded(repr(value), limit)
        except ValueError:  # an integer past Python's digit limit for text
            return "a number too large"
    return type(value).__name__


# A Unix time of 10^11 or more is not seconds (that is the year 5138): it is milliseconds.
EPOCH_MS_FROM = 10**11


def parse_epoch_seconds_or_ms(value: Any, key: str) -> datetime:
    """Unix seconds, or milliseconds when the number is EPOCH_MS_FROM or more (int, float
    or numeric string), as UTC."""
    if isinstance(value, bool):
        raise BadRecord(f"field '{key}' is not a Unix timestamp: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = None  # parse_epoch_seconds words the reason
    per_second = 1000 if number is not None and number >= EPOCH_MS_FROM else 1
    return parse_epoch_seconds(value, key, per_second)
