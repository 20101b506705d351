"""The HTTP side of the mock vendors: a ThreadingHTTPServer on 127.0.0.1 (port 0, daemon
threads, a hard stop timer), the faults tests inject, and the log of requests."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulator.vendor_api.vendors import Reply, VendorState

# Which vendor a path belongs to (their real paths do not overlap).
PREFIXES = (
    ("/crm/v3/", "hubspot"),
    ("/api/v2/", "zendesk"),
    ("/v1/", "stripe"),
    ("/v3/", "sendgrid"),
)
FAULT_KINDS = ("status", "drop_after_commit", "drop_before")


def vendor_of(path: str) -> str | None:
    return next((vendor for prefix, vendor in PREFIXES if path.startswith(prefix)), None)


@dataclass
class Fault:
    """What the next matching `times` requests get instead of (or after) the normal answer:
    `status` (e.g. 429 with `retry_after`, or 503) before the endpoint runs and changes
    nothing; `drop_after_commit` applies the request, then closes the connection without an
    answer (a timeout after commit); `drop_before` closes it without applying."""

    kind: str
    vendor: str | None = None
    method: str | None = None
    path: str | None = None  # a regular expression searched in the path
    times: int = 1
    status: int = 503
    retry_after: str | None = None  # seconds or an HTTP date

    def matches(self, vendor: str, method: str, path: str) -> bool:
        return (
            self.times > 0
            and self.vendor in (None, vendor)
            and self.method in (None, method)
            and (self.path is None or re.search(self.path, path) is not None)
        )


@dataclass(frozen=True)
class Request:
    vendor: str
    method: str
    path: str
    query: dict[str, list[str]]
    idempotency_key: str | None
    fault: str | None  # the fault it met, if any


@dataclass
class VendorServer:
    """Stripe, SendGrid, HubSpot and Zendesk on one loopback server, by path prefix.

    `now` is the vendors' clock (the HTTP `Date` of every answer and the time of every
    change); it moves only by `advance`. `credentials` (vendor -> token) makes a wrong or
    missing bearer token a 401; the token is never logged."""

    now: datetime
    credentials: dict[str, str] = field(default_factory=dict)
    hard_timeout: float = 300.0
    state: VendorState = field(default_factory=VendorState)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _timer: threading.Timer | None = field(default=None, repr=False)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> VendorServer:
        handler = type("Handler", (_Handler,), {"vendors": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="vendor-api", daemon=True).start()
        self._timer = threading.Timer(self.hard_timeout, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if self._timer is not None:
            self._timer.cancel()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> VendorServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # --- what tests do ---------------------------------------------------------------

    def advance(self, seconds: float) -> datetime:
        with self.lock:
            self.now += timedelta(seconds=seconds)
            return self.now

    def inject(
        self,
        kind: str,
        *,
        vendor: str | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        status: int = 503,
        retry_after: str | float | None = None,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
        fault = Fault(
            kind,
            vendor,
            method,
            path,
            times,
            status,
            None if retry_after is None else str(retry_after),
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def edit(
        self, vendor: str, object_id: str, changes: dict[str, Any], by: dict[str, str] | None = None
    ) -> dict:
        """Change an object between plan and execution (a person, a late webhook): `changes`
        merge into it (nested maps merged). `by` names the HubSpot writer of changed
        properties (default a person in the CRM). Returns the object as it is now."""
        with self.lock:
            return self.state.edit(vendor, object_id, changes, self.now, by)

    def request_count(
        self, vendor: str | None = None, method: str | None = None, path: str | None = None
    ) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if vendor in (None, r.vendor)
                and method in (None, r.method)
                and (path is None or re.search(path, r.path))
            )

    @property
    def effects(self) -> Counter:
        """Applied changes per (vendor, object id): a replayed or refused request adds none."""
        return self.state.effects

    @property
    def effects_by_key(self) -> Counter:
        """Applied changes per idempotency key (Stripe's header; SendGrid's custom arg)."""
        return self.state.effects_by_key

    # --- serving ----------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[Reply | None, bool]:
        """(the reply, whether to drop the connection after applying)."""
        parts = urllib.parse.urlsplit(raw_path)
        path, query = parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        vendor = vendor_of(path)
        with self.lock:
            fault = next(
                (f for f in self.faults if vendor and f.matches(vendor, method, path)), None
            )
            if fault is not None:
                fault.times -= 1
            self.requests.append(
                Request(
                    vendor or "-",
                    method,
                    path,
                    query,
                    headers.get("idempotency-key"),
                    fault.kind if fault else None,
                )
            )
            if vendor is None:
                return Reply(404, {"error": "no such endpoint"}), False
            expected = self.credentials.get(vendor)
            if expected is not None and headers.get("authorization") != f"Bearer {expected}":
                return Reply(
                    401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
                ), False
            if fault is not None and fault.kind == "drop_before":
                return None, True
            if fault is not None and fault.kind == "status":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return Reply(
                    fault.status,
                    {"error": {"type": "api_error", "message": "injected fault"}},
                    extra,
                ), False
            reply = self.state.serve(vendor, method, path, query, headers, body, self.now)
            return reply, fault is not None and fault.kind == "drop_after_commit"


class _Handler(BaseHTTPRequestHandler):
    vendors: VendorServer
    protocol_version = "HTTP/1.1"
    server_version = "mock-vendor/1"
    sys_version = ""

    def log_message(
        self, format: str, *args: Any
    ) -> None:  # requests are logged in `requests`, quietly
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.vendors.now.astimezone(UTC), usegmt=True)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply, drop = self.vendors.handle(self.command, self.path, headers, body)
        if drop or reply is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
