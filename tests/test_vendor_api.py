"""The vendor API clients (connectors/live) against the mock vendors (simulator/vendor_api):
rate limits, Retry-After, bounded retries, idempotency, and credentials kept secret."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connectors import CONNECTORS, SourceOptions
from connectors.live import (
    ApiSettings,
    Conflict,
    MissingCredentials,
    RetriesExhausted,
    TokenBucket,
    open_client,
    webhook_events,
)
from simulator.vendor_api import VendorServer
from tests.executing import VENDORS, FakeClock

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "sk_test_51SeCrEtVaLuE0123456789"
ENV = "RECKON_TEST_VENDOR_KEY"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    vendors = dict.fromkeys(VENDORS, SECRET)
    with VendorServer(now=NOW, credentials=vendors, hard_timeout=60) as srv:
        yield srv


def client(server: VendorServer, vendor: str, clock: FakeClock, **settings):
    return open_client(ApiSettings(vendor, server.url, ENV, **settings), clock=clock, seed=1)


REFUND = {"charge": "ch_1", "amount": 500, "metadata": {"reckon_intent_id": "int_1"}}


def test_429_waits_at_least_retry_after_seconds(server):
    clock = FakeClock()
    stripe = client(server, "stripe", clock)
    created = stripe.create_refund(REFUND, "idem_a")
    server.inject("status", vendor="stripe", method="GET", status=429, retry_after=7)
    read = stripe.retrieve_refund(created.object_id)
    assert read.objects[0]["id"] == created.object_id
    assert clock.sleeps[0] >= 7 and clock.t >= 7
    assert server.request_count(vendor="stripe", method="GET") == 2


def test_429_retry_after_as_an_http_date(server):
    clock = FakeClock()
    hubspot = client(server, "hubspot", clock)
    server.state.contacts["101"] = {
        "id": "101", "properties": {"email": "a@example.com"}, "createdAt": "2026-03-01T10:00:00Z",
        "updatedAt": "2026-03-01T10:00:00Z", "archived": False,
    }  # fmt: skip
    until = format_datetime(NOW + timedelta(seconds=9), usegmt=True)
    server.inject("status", vendor="hubspot", status=429, retry_after=until)
    assert hubspot.contact("101", ["email"]).objects[0]["properties"]["email"] == "a@example.com"
    assert clock.t >= 9


def test_5xx_retried_with_bounded_backoff_then_a_clear_error(server):
    clock = FakeClock()
    zendesk = client(server, "zendesk", clock, max_retries=3, backoff_base=0.5, backoff_cap=1.5)
    server.inject("status", vendor="zendesk", status=503, times=100)
    with pytest.raises(RetriesExhausted) as caught:
        zendesk.ticket(7)
    assert server.request_count(vendor="zendesk") == 4  # the call and 3 retries, no more
    assert len(clock.sleeps) == 3 and all(0 <= s <= 1.5 for s in clock.sleeps)
    message = str(caught.value)
    assert (
        "zendesk GET /api/v2/tickets/7.json" in message
        and "4 attempts" in message
        and "503" in message
    )
    assert not caught.value.uncertain  # a GET changes nothing


def test_a_recovering_5xx_succeeds(server):
    clock = FakeClock()
    zendesk = client(server, "zendesk", clock)
    server.state.tickets["7"] = {"id": 7, "status": "open", "external_id": "order-7"}
    server.inject("status", vendor="zendesk", status=502, times=2)
    assert zendesk.ticket(7).objects[0]["status"] == "open"
    assert len(clock.sleeps) == 2


def test_timeouts_are_retried_then_raise(monkeypatch):
    """A server that accepts and never answers: each attempt times out."""
    monkeypatch.setenv(ENV, SECRET)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        clock = FakeClock()
        hubspot = open_client(
            ApiSettings("hubspot", url, ENV, timeout=0.2, max_retries=2), clock=clock
        )
        with pytest.raises(RetriesExhausted) as caught:
            hubspot.update_contact("101", {"firstname": "Ada"})
        assert len(held) == 3 and "TimeoutError" in str(caught.value)
        assert caught.value.uncertain  # a PATCH that timed out may have been applied
    finally:
        stop.set()
        thread.join(2)
        for connection in held:
            connection.close()
        silent.close()


def test_stripe_replays_the_first_response_for_the_same_key(server):
    stripe = client(server, "stripe", FakeClock())
    first = stripe.create_refund(REFUND, "idem_b")
    again = stripe.create_refund(REFUND, "idem_b")
    assert not first.replayed and again.replayed and again.body == first.body
    assert server.effects_by_key["idem_b"] == 1 and server.effects[("stripe", first.object_id)] == 1


def test_stripe_409_on_key_reuse_with_other_parameters_is_not_retried(server):
    stripe = client(server, "stripe", FakeClock())
    stripe.create_refund(REFUND, "idem_c")
    with pytest.raises(Conflict) as caught:
        stripe.create_refund({**REFUND, "amount": 600}, "idem_c")
    assert caught.value.status == 409 and caught.value.body["error"]["type"] == "idempotency_error"
    assert server.request_count(vendor="stripe", method="POST") == 2
    assert len(server.state.refunds) == 1


def test_timeout_after_commit_then_replay_applies_once(server):
    """The server applies the refund and drops the connection; the retry with the same key
    gets the first response back, replayed: one refund, not two."""
    stripe = client(server, "stripe", FakeClock())
    server.inject("drop_after_commit", vendor="stripe", method="POST")
    written = stripe.create_refund(REFUND, "idem_d")
    assert written.replayed and written.body["status"] == "succeeded"
    assert server.effects_by_key["idem_d"] == 1 and len(server.state.refunds) == 1
    assert server.request_count(vendor="stripe", method="POST") == 2


def test_timeout_after_commit_without_retries_is_uncertain(server):
    hubspot = client(server, "hubspot", FakeClock(), max_retries=0)
    server.state.contacts["101"] = {
        "id": "101",
        "properties": {"email": "a@example.com"},
        "archived": False,
    }
    server.inject("drop_after_commit", vendor="hubspot", method="PATCH")
    with pytest.raises(RetriesExhausted) as caught:
        hubspot.update_contact("101", {"lifecyclestage": "customer"})
    assert caught.value.uncertain
    assert server.effects[("hubspot", "101")] == 1  # it was applied all the same
    history = server.state.contacts["101"]["propertiesWithHistory"]["lifecyclestage"][0]
    assert (history["sourceType"], history["sourceId"]) == ("INTEGRATION", "reckon-agent")


def test_token_bucket_limits_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    for _ in range(7):
        bucket.take()
    assert clock.t == pytest.approx((7 - 3) / 2.0)


def test_requests_wait_for_the_bucket(server):
    clock = FakeClock()
    stripe = client(server, "stripe", clock, rate_per_second=4.0, burst=2)
    for _ in range(10):
        stripe.refunds_for_charge("ch_1")
    assert clock.t == pytest.approx((10 - 2) / 4.0)


def test_sendgrid_send_carries_the_key_and_is_found_again(server):
    sendgrid = client(server, "sendgrid", FakeClock())
    mail = {"personalizations": [{"to": [{"email": "ada@example.com"}]}], "from": {"email": "ops@example.com"},
            "subject": "Your refund", "categories": ["refund_notice"], "content": [{"type": "text/plain", "value": "."}]}  # fmt: skip
    sent = sendgrid.send(mail, "idem_e")
    assert sent.status == 202 and sent.object_id
    found = sendgrid.messages_with_arg("reckon_idempotency_key", "idem_e").objects
    assert [m["msg_id"].split(".")[0] for m in found] == [sent.object_id]
    detail = sendgrid.message(found[0]["msg_id"]).objects[0]
    events = webhook_events(detail)
    reader = CONNECTORS["sendgrid"](
        SourceOptions("sendgrid", "sendgrid", correlation_paths=["reckon_idempotency_key"])
    )
    row = reader.event_row(events[0])
    assert (row["external_id"], row["raw_status"], row["correlation_keys"]) == (
        sent.object_id,
        "processed",
        ["idem_e"],
    )


def test_zendesk_closed_ticket_refuses_updates(server):
    zendesk = client(server, "zendesk", FakeClock())
    server.state.tickets["8"] = {
        "id": 8,
        "status": "solved",
        "external_id": "order-8",
        "custom_fields": [],
    }
    zendesk.update_ticket(
        8, {"status": "closed", "custom_fields": [{"id": 360001, "value": "dup"}]}
    )
    assert server.state.tickets["8"]["custom_fields"] == [{"id": 360001, "value": "dup"}]
    with pytest.raises(Exception, match="422") as caught:
        zendesk.update_ticket(8, {"status": "open"})
    assert caught.value.status == 422 and server.effects[("zendesk", "8")] == 1
    assert [t["id"] for t in zendesk.tickets_by_external_id("order-8").objects] == [8]
    assert [t["id"] for t in zendesk.search("type:ticket external_id:order-8").objects] == [8]


def test_the_credential_never_shows(server, caplog):
    """Not in an exception, a repr, the server's request log or a log line."""
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    stripe = client(server, "stripe", clock, max_retries=1)
    seen: list[str] = [repr(stripe.transport), repr(stripe.transport.settings)]
    server.inject("status", vendor="stripe", status=500, times=2)
    with pytest.raises(RetriesExhausted) as exhausted:
        stripe.retrieve_refund("re_x")
    stripe.create_refund(REFUND, "idem_f")
    with pytest.raises(Conflict) as conflict:
        stripe.create_refund({**REFUND, "amount": 1}, "idem_f")
    seen += [
        str(exhausted.value),
        repr(exhausted.value),
        str(conflict.value),
        repr(conflict.value.body),
    ]
    seen += [repr(r) for r in server.requests] + [caplog.text]
    assert not [text for text in seen if SECRET in text]


def test_missing_credentials_name_the_variable_only(server, monkeypatch):
    monkeypatch.delenv(ENV)
    stripe = client(server, "stripe", FakeClock())
    with pytest.raises(MissingCredentials, match=ENV):
        stripe.retrieve_refund("re_x")
    assert server.request_count() == 0


def test_a_wrong_credential_is_refused(server, monkeypatch):
    monkeypatch.setenv(ENV, "sk_test_wrong")
    with pytest.raises(Exception, match="401"):
        client(server, "stripe", FakeClock()).retrieve_refund("re_x")


def test_a_retry_after_past_five_minutes_is_not_waited_out(server):
    clock = FakeClock()
    stripe = client(server, "stripe", clock)
    server.inject("status", vendor="stripe", status=429, retry_after=3600)
    with pytest.raises(RetriesExhausted, match="rate limited for 3600 s") as caught:
        stripe.retrieve_refund("re_x")
    assert server.request_count() == 1 and clock.t == 0 and not caught.value.uncertain


def test_a_send_lost_after_commit_is_found_again_by_its_key(server):
    """SendGrid keeps no idempotency key: the key rides in custom_args, so after a send
    whose answer was lost the executor finds it in Email Activity instead of sending twice."""
    sendgrid = client(server, "sendgrid", FakeClock(), max_retries=0)
    mail = {"personalizations": [{"to": [{"email": "ada@example.com"}]}], "from": {"email": "ops@example.com"},
            "subject": "Your refund", "content": [{"type": "text/plain", "value": "."}]}  # fmt: skip
    server.inject("drop_after_commit", vendor="sendgrid", method="POST")
    with pytest.raises(RetriesExhausted) as caught:
        sendgrid.send(mail, "idem_g")
    assert caught.value.uncertain
    found = sendgrid.messages_with_arg("reckon_idempotency_key", "idem_g").objects
    assert len(found) == 1 and server.effects_by_key["idem_g"] == 1


def test_a_connection_dropped_before_commit_is_retried_and_applied_once(server):
    zendesk = client(server, "zendesk", FakeClock())
    server.state.tickets["9"] = {"id": 9, "status": "open", "external_id": "order-9"}
    server.inject("drop_before", vendor="zendesk", method="PUT")
    zendesk.update_ticket(9, {"status": "solved"})
    assert server.state.tickets["9"]["status"] == "solved" and server.effects[("zendesk", "9")] == 1
    assert server.request_count(vendor="zendesk", method="PUT") == 2


def test_the_mock_stops_by_itself():
    server = VendorServer(now=NOW, hard_timeout=0.3).start()
    port = int(server.url.rsplit(":", 1)[1])
    threading.Event().wait(1.0)  # past the hard timeout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
