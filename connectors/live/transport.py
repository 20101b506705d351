"""One HTTP transport for every vendor: a token bucket per vendor, 429 + `Retry-After`
honoured, bounded retries with exponential backoff and jitter on 5xx, resets and timeouts.

The credential is read from its environment variable on every request and put only into
the `Authorization` header: never into an attribute, a repr, a log line or an exception.
Time is injectable (`Clock`): tests measure the waits without waiting.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

VENDORS = ("stripe", "sendgrid", "hubspot", "zendesk")
# Retry-After beyond this is not waited out: the call fails with RetriesExhausted instead.
MAX_RETRY_AFTER = 300.0
USER_AGENT = "reckon-live/1"


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class ApiSettings:
    """How to reach one system's API (`systems.<name>.api` in reckon.yaml). Holds the NAME of
    the environment variable with the credential, never the credential."""

    vendor: str
    base_url: str
    credentials_env: str
    rate_per_second: float = 5.0
    burst: int = 10
    timeout: float = 30.0
    max_retries: int = 4
    backoff_base: float = 0.5  # seconds; attempt n waits base * 2**n, jittered, capped
    backoff_cap: float = 30.0


class ApiError(Exception):
    """A call that did not give a usable answer. Says the vendor, method, path and status,
    and a short excerpt of the vendor's error body; never a credential."""

    def __init__(
        self, vendor: str, method: str, path: str, status: int | None, detail: str, body: Any = None
    ) -> None:
        self.vendor, self.method, self.path, self.status, self.body = (
            vendor,
            method,
            path,
            status,
            body,
        )
        self.detail = detail
        self.date: datetime | None = None  # the response's `Date`, when there was a response
        where = f"{vendor} {method} {path}"
        super().__init__(
            f"{where}: {detail}" if status is None else f"{where}: HTTP {status}: {detail}"
        )


class NotFound(ApiError):
    """404: the object does not exist (or is not visible to these credentials)."""


class Conflict(ApiError):
    """409, or Stripe's `idempotency_error`: the idempotency key was used with other
    parameters (or is in use by a concurrent request). Never retried."""


class MissingCredentials(ApiError):
    """The configured environment variable is not set (its name is in the message)."""


class RetriesExhausted(ApiError):
    """Every attempt failed with 429, 5xx, a reset or a timeout. `uncertain` is true when a
    non-GET request may have reached the vendor and been applied (a timeout or a dropped
    connection after sending): the outcome is unknown, re-read before acting again."""

    def __init__(self, *args: Any, uncertain: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uncertain = uncertain


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: Any  # parsed JSON (None when empty)
    date: datetime | None  # the HTTP `Date` header: when the vendor answered

    @property
    def replayed(self) -> bool:
        """Stripe's answer to a repeated idempotency key is the first one, marked replayed."""
        return self.headers.get("idempotent-replayed", "").lower() == "true"


class TokenBucket:
    """`rate` tokens per second, at most `burst` held; `take` waits (on the clock) for one."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.at = clock.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """Take one token; returns the seconds waited for it."""
        with self.lock:
            now = self.clock.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            if wait:
                self.clock.sleep(wait)
                self.at = self.clock.monotonic()
                self.tokens = 1.0
            self.tokens -= 1
            return wait

    def hold(self, seconds: float) -> None:
        """Empty the bucket for `seconds` (the vendor said 429: everyone waits)."""
        with self.lock:
            self.tokens = min(self.tokens, -seconds * self.rate)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class Transport:
    """Sends requests to one vendor under its rate limit and retry policy."""

    settings: ApiSettings
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    bucket: TokenBucket = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settings.vendor not in VENDORS:
            raise ValueError(
                f"unknown vendor {self.settings.vendor!r} (known: {', '.join(VENDORS)})"
            )
        parts = urllib.parse.urlsplit(self.settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {self.settings.base_url!r} is not an http(s) URL")
        self.bucket = TokenBucket(self.settings.rate_per_second, self.settings.burst, self.clock)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """One call, retried on 429 (after `Retry-After`), 5xx, resets and timeouts up to
        `max_retries` times; raises NotFound, Conflict, ApiError or RetriesExhausted."""
        s = self.settings
        target = path + (f"?{urllib.parse.urlencode(query, doseq=True)}" if query else "")
        body, content_type = None, None
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            body, content_type = (
                urllib.parse.urlencode(form).encode(),
                "application/x-www-form-urlencoded",
            )
        last: ApiError | None = None
        uncertain = False
        attempts = 0
        for attempt in range(s.max_retries + 1):
            attempts += 1
            self.bucket.take()
            try:
                response = self._send(method, path, target, body, content_type, headers or {})
            except (OSError, http.client.HTTPException) as exc:  # timeouts and resets are OSErrors
                # A GET changes nothing; any other request may have been applied before the drop.
                sent = not isinstance(exc, ConnectionRefusedError)
                uncertain = uncertain or (sent and method != "GET")
                last = ApiError(s.vendor, method, path, None, type(exc).__name__)
                self._backoff(attempt)
                continue
            if response.status == 429:
                wait = retry_after_seconds(
                    response.headers.get("retry-after"), response.date or datetime.now(UTC)
                )
                last = ApiError(s.vendor, method, path, 429, "rate limited", response.body)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    last.detail = f"rate limited for {wait:.0f} s (Retry-After), more than {MAX_RETRY_AFTER:.0f} s"
                    break
                if attempt < s.max_retries:
                    self.bucket.hold(wait or 0.0)
                    self.clock.sleep(max(wait or 0.0, self._delay(attempt)))
                continue
            if response.status >= 500:
                last = ApiError(
                    s.vendor, method, path, response.status, _excerpt(response.body), response.body
                )
                uncertain = uncertain or method != "GET"
                self._backoff(attempt)
                continue
            return self._checked(method, path, response)
        raise RetriesExhausted(
            s.vendor,
            method,
            path,
            last.status if last else None,
            f"gave up after {attempts} attempts (last: {last.detail if last else '-'})",
            uncertain=uncertain,
        )

    def _checked(self, method: str, path: str, response: Response) -> Response:
        if response.status < 400:
            return response
        error = response.body.get("error") if isinstance(response.body, dict) else None
        error_type = error.get("type") if isinstance(error, dict) else None
        kind = (
            NotFound
            if response.status == 404
            else Conflict
            if response.status == 409 or error_type == "idempotency_error"
            else ApiError
        )
        exc = kind(
            self.settings.vendor,
            method,
            path,
            response.status,
            _excerpt(response.body),
            response.body,
        )
        exc.date = response.date
        raise exc

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter, capped."""
        s = self.settings
        return self.rng.uniform(0, min(s.backoff_cap, s.backoff_base * 2**attempt))

    def _backoff(self, attempt: int) -> None:
        if attempt < self.settings.max_retries:
            self.clock.sleep(self._delay(attempt))

    def _send(
        self,
        method: str,
        path: str,
        target: str,
        body: bytes | None,
        content_type: str | None,
        extra: dict[str, str],
    ) -> Response:
        s = self.settings
        parts = urllib.parse.urlsplit(s.base_url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname, parts.port, timeout=s.timeout)
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **extra,
            "Authorization": f"Bearer {self._credential(method, path)}",
        }
        if content_type:
            headers["Content-Type"] = content_type
        try:
            connection.request(method, parts.path.rstrip("/") + target, body=body, headers=headers)
            raw = connection.getresponse()
            data = raw.read()
            names = {k.lower(): v for k, v in raw.getheaders()}
            status = raw.status
        finally:
            connection.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data[:200].decode("utf-8", "replace")
        return Response(status, names, parsed, http_date(names.get("date")))

    def _credential(self, method: str, path: str) -> str:
        value = os.environ.get(self.settings.credentials_env)
        if not value:
            raise MissingCredentials(
                self.settings.vendor,
                method,
                path,
                None,
                f"environment variable {self.settings.credentials_env} is not set",
            )
        return value


def _excerpt(body: Any) -> str:
    """What the vendor said, short: its error message where the format has one."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or error)[:200]
        for key in ("message", "description", "errors"):
            if key in body:
                return str(body[key])[:200]
    return str(body)[:200]
