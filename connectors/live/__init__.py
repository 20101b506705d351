"""Vendor API clients: read an object by its stable key, or write a repair, on the vendor's
own API (Stripe, SendGrid, HubSpot, Zendesk), under one rate-limit and retry policy.

One stdlib HTTP transport (`http.client`) serves every vendor, on purpose: the official
SDKs differ in how (and whether) they retry, rate-limit and can be pointed at another base
address, and two retry layers on top of each other would multiply attempts; the four APIs
used here are a handful of JSON (and, for Stripe, form-encoded) calls. docs/verify.md says
more.

Construction, from reckon.yaml (`systems.<name>.api`, validated in reckon/config.py)::

    from connectors.live import open_client
    client = open_client(ws.config.systems["stripe"].api)        # a StripeApi
    client = open_client(ApiSettings(vendor="stripe", base_url="http://127.0.0.1:8080",
                                     credentials_env="STRIPE_API_KEY"), clock=FakeClock())

`ApiSettings(vendor, base_url, credentials_env, rate_per_second=5, burst=10, timeout=30,
max_retries=4, backoff_base=0.5, backoff_cap=30)`. The credential is read from the
environment variable named `credentials_env` on every request and sent only as
`Authorization: Bearer <value>` (Zendesk: an OAuth access token); it is never kept in an
object, logged, stored or put in an exception. `clock` (`monotonic()`, `sleep(seconds)`)
and `seed` (the jitter) are injectable.

Reads return `Read(objects: list[dict], observed_at: datetime | None)`: the vendor's own
records, as it returned them, and the response's HTTP `Date`. A 404 on a read by id is
`Read([], date)`.

- `StripeApi`: `retrieve_refund(id)`, `refunds_for_charge(charge)`,
  `search_refunds(metadata_key, value)`; write `create_refund(params, idempotency_key)`
  (`params` like `{"charge": "ch_…", "amount": 500, "metadata": {"reckon_intent_id": …}}`).
- `SendGridApi`: `message(msg_id)` (Email Activity detail), `messages(query, limit)`,
  `messages_with_arg(name, value)`; write `send(mail, idempotency_key)` (the v3 mail/send
  body; the key goes into `custom_args.reckon_idempotency_key`; `Written.object_id` is the
  `X-Message-Id`). `webhook_events(detail)` turns a detail into the Event Webhook events
  the sendgrid connector reads.
- `HubSpotApi`: `contact(id, properties, with_history=True)`,
  `search_contacts(property, value, properties)`; writes `update_contact(id, properties)`,
  `archive_contact(id)`.
- `ZendeskApi`: `ticket(id)`, `tickets_by_external_id(external_id)`, `search(query)`;
  write `update_ticket(id, changes)` (`{"status": "closed"}`, `{"custom_fields": [...]}`).

Writes return `Written(status, body, replayed, observed_at, object_id)`; `replayed` is
Stripe's `Idempotent-Replayed: true` (the first response to that key, nothing applied).

Errors (all `ApiError`: vendor, method, path, status, body; `date` when answered):
`NotFound` (404 on a write or a list), `Conflict` (409, or Stripe's `idempotency_error`:
the key was used with other parameters; never retried), `MissingCredentials` (the variable
is unset; names the variable), `RetriesExhausted` (429/5xx/reset/timeout on every attempt;
`uncertain` is true when a non-GET may have been applied: re-read before acting again), and
`ApiError` for any other 4xx. 429 waits `Retry-After` (seconds or an HTTP date; more than
300 s is not waited out), 5xx, resets and timeouts back off exponentially with full jitter,
at most `max_retries` retries.
"""

from __future__ import annotations

from connectors.live.clients import (
    Client,
    HubSpotApi,
    Read,
    SendGridApi,
    StripeApi,
    Written,
    ZendeskApi,
    open_client,
    stripe_form,
    webhook_events,
)
from connectors.live.transport import (
    VENDORS,
    ApiError,
    ApiSettings,
    Clock,
    Conflict,
    MissingCredentials,
    NotFound,
    Response,
    RetriesExhausted,
    SystemClock,
    TokenBucket,
    Transport,
)

__all__ = [
    "VENDORS", "ApiError", "ApiSettings", "Client", "Clock", "Conflict", "HubSpotApi", "MissingCredentials",
    "NotFound", "Read", "Response", "RetriesExhausted", "SendGridApi", "StripeApi", "SystemClock", "TokenBucket",
    "Transport", "Written", "ZendeskApi", "open_client", "stripe_form", "webhook_events",
]  # fmt: skip
