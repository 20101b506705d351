"""Mock vendor APIs for tests and the demo: Stripe, SendGrid, HubSpot and Zendesk on one
loopback HTTP server, seeded from a simulated workspace, with the faults real APIs have.

Start, seed, stop::

    from simulator.vendor_api import VendorServer, from_workspace, export_landing

    with from_workspace(root) as server:          # seeded from the workspace's landing files
        server.url                                 # "http://127.0.0.1:<port>": every vendor's base_url
        ...
    with VendorServer(now=datetime(...)) as server:   # empty; fill `server.state` yourself

The server listens on 127.0.0.1, port 0, in daemon threads; leaving the `with` block (or
`stop()`) shuts it down, and a timer stops it after `hard_timeout` seconds (300) whatever
happens. `from_workspace(root, now=None, credentials=None, hard_timeout=300)` returns it
not yet started (the `with` starts it); `credentials={"stripe": "sk_test_..."}` makes any
other bearer token a 401.

Paths (the vendors' own; a path's prefix says the vendor):

- Stripe: `GET /v1/refunds/{id}`, `GET /v1/refunds?charge=&limit=&starting_after=`,
  `GET /v1/refunds/search?query=metadata['k']:'v'`, `POST /v1/refunds` (form-encoded,
  `Idempotency-Key`). The first response to a key is stored and replayed for the same key
  and parameters with `Idempotent-Replayed: true`; other parameters get a 409
  `idempotency_error`. New refunds show `state.new_refund_status` ("succeeded").
- SendGrid: `POST /v3/mail/send` (202, `X-Message-Id`), Email Activity
  `GET /v3/messages?query=&limit=` (`msg_id="…"`, `to_email="…"`, `status="…"`,
  `unique_args['k']="…"`, joined by AND) and `GET /v3/messages/{msg_id}`.
- HubSpot: `GET /crm/v3/objects/contacts/{id}?properties=&propertiesWithHistory=`,
  `POST /crm/v3/objects/contacts/search` (EQ filters), `PATCH` and `DELETE` (archive) on
  `/crm/v3/objects/contacts/{id}`; writes are recorded in `propertiesWithHistory` as
  `INTEGRATION:reckon-agent`.
- Zendesk: `GET /api/v2/tickets/{id}.json`, `GET /api/v2/tickets.json?external_id=`,
  `GET /api/v2/search.json?query=type:ticket external_id:…`, `PUT /api/v2/tickets/{id}.json`
  (a closed ticket answers 422).

Every answer's HTTP `Date` is `server.now`, which moves only by `server.advance(seconds)`.

Faults (each for the next `times` matching requests; `vendor`, `method` and `path`, a
regular expression, narrow it)::

    server.inject("status", vendor="stripe", status=429, retry_after=2)   # or an HTTP date
    server.inject("status", vendor="hubspot", status=503)                 # nothing applied
    server.inject("drop_after_commit", vendor="stripe", method="POST")    # applied, no answer
    server.inject("drop_before", vendor="zendesk")                        # no answer, not applied

Counters and the request log: `server.effects[(vendor, object_id)]` (changes applied:
a replay or a refused request adds none), `server.effects_by_key[key]` (Stripe's
`Idempotency-Key`, SendGrid's `custom_args.reckon_idempotency_key`),
`server.request_count(vendor=None, method=None, path=None)`, `server.requests` (vendor,
method, path, query, idempotency key, fault met; never the credential).

Between plan and execution: `server.edit(vendor, object_id, changes, by=None)` merges
`changes` into the object (Stripe `{"status": "succeeded"}`; HubSpot `{"properties":
{...}}`, recorded in the history as a person's edit unless `by` names another writer;
Zendesk `{"status": "closed", "custom_fields": [{"id", "value"}]}`; SendGrid `{"event":
"delivered"}` appends an event).

Back to files: `export_landing(server, root, tag, at=None)` writes what the server holds
as NEW landing files (`landing/stripe/refunds-list-<tag>.json`,
`landing/hubspot/contacts-<tag>-page-1.json`, `landing/zendesk/tickets-<tag>-page-1.json`,
`landing/sendgrid/batch-<tag>-0001.json`) with mtime `at` (default `server.now`).
"""

from __future__ import annotations

from simulator.vendor_api.seed import export_landing, from_workspace, system_vendors
from simulator.vendor_api.server import Fault, Request, VendorServer
from simulator.vendor_api.vendors import VendorState

__all__ = [
    "Fault",
    "Request",
    "VendorServer",
    "VendorState",
    "export_landing",
    "from_workspace",
    "system_vendors",
]
