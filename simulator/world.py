"""The simulated world: the workflow log being written and the objects in each system.

Every object is made through a `World` method so that ids, shapes and vendor
details live in one place; scenarios only say what happens when.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.conventions import Conventions
from simulator.ids import Ids, Person
from simulator.model import (
    HUMAN,
    IMPORT,
    ZENDESK_API_USER,
    ZENDESK_HUMAN,
    Contact,
    Message,
    MessageEvent,
    Refund,
    RefundState,
    Ticket,
)

OWNER_ID = "5551"
OWNER_EMAIL = "owner.5551@example.com"


@dataclass
class World:
    rng: random.Random
    export_time: datetime
    conventions: Conventions = field(default_factory=Conventions)
    ids: Ids = field(init=False)
    # The workflow log (in time order within each run) and the objects in each system.
    events: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    sg_message_ids: dict[str, str] = field(default_factory=dict)  # X-Message-Id -> the webhook's id
    contacts: dict[str, Contact] = field(default_factory=dict)
    tickets: list[Ticket] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # one line of scenarios.jsonl each
    flags: list[dict[str, str]] = field(default_factory=list)  # operators' flag-file lines (flags/)

    def __post_init__(self) -> None:
        self.ids = Ids(self.rng)

    # --- time -------------------------------------------------------------------------

    def seconds(self, lo: float, hi: float) -> timedelta:
        return timedelta(seconds=self.rng.randint(int(lo), int(hi)))

    def minutes(self, lo: float, hi: float) -> timedelta:
        return self.seconds(lo * 60, hi * 60)

    def before_export(self, lo_hours: float, hi_hours: float) -> datetime:
        """A time uniformly between `hi_hours` and `lo_hours` before the export."""
        return self.export_time - self.seconds(lo_hours * 3600, hi_hours * 3600)

    def receipt(self, system: str, external_id: str | None) -> str | int | None:
        """The receipt the runtime records for an object, spelled as its conventions say."""
        if external_id is None:
            return None
        full = self.sg_message_ids.get(external_id) if system == "sendgrid" else None
        return self.conventions.id_value(system, external_id, full)

    # --- labels -----------------------------------------------------------------------

    def label(
        self, kind: str, subject: str, mismatch: str, scenario: str, run_id: str | None
    ) -> None:
        self.labels.append(
            {"subject_kind": kind, "subject_id": subject, "mismatch_type": mismatch,
             "scenario": scenario, "run_id": run_id}
        )  # fmt: skip

    # --- Stripe -----------------------------------------------------------------------

    def refund(
        self, charge: str, amount: int, at: datetime, *, status: str = "succeeded",
        marker: dict[str, str] | None = None, key: str | None = None,
    ) -> Refund:  # fmt: skip
        """A refund on `charge`; `marker` is the agent's metadata ({} from the Dashboard).
        Card refunds sometimes go pending -> succeeded a few minutes later."""
        ids = self.ids
        states = [RefundState(at, status)]
        if status == "succeeded" and self.rng.random() < 0.3:
            states = [
                RefundState(at, "pending"),
                RefundState(at + self.minutes(1, 10), "succeeded"),
            ]
        refund = Refund(
            id=ids.alnum("re_", 24), amount=amount, charge=charge,
            payment_intent=ids.alnum("pi_", 24), balance_transaction=ids.alnum("txn_", 24),
            metadata=dict(marker or {}), idempotency_key=key, states=states,
        )  # fmt: skip
        self.refunds.append(refund)
        return refund

    # --- SendGrid ---------------------------------------------------------------------

    def message(
        self, email: str, category: str, at: datetime, *, outcome: str = "delivered",
        marker: dict[str, str] | None = None,
    ) -> Message:  # fmt: skip
        """A sent message and its webhook events: processed, then delivered (sometimes
        deferred first, sometimes opened after), or bounce, or nothing more ("processed")."""
        ids, rng = self.ids, self.rng
        x_id = ids.alnum("", 22)
        suffix = f"{ids.lower(6)}-{rng.getrandbits(40):010x}-{ids.lower(5)}-1-{rng.getrandbits(32):08X}-{rng.randint(1, 40)}.0"
        msg = Message(
            x_message_id=x_id, sg_message_id=f"{x_id}.filterdrecv-{suffix}",
            smtp_id=f"<{x_id}@ismtpd0{rng.randint(1, 199):03d}p1mdw1.sendgrid.net>",
            email=email, category=category, custom_args=dict(marker or {}),
        )  # fmt: skip
        self.messages.append(msg)
        self.sg_message_ids[x_id] = msg.sg_message_id
        now = at + self.seconds(0, 3)
        self._message_event(msg, now, "processed")
        if outcome == "bounce":
            self._message_event(
                msg, now + self.seconds(2, 90), "bounce",
                reason="550 5.1.1 unknown user", status="5.1.1", type="bounce",
            )  # fmt: skip
        elif outcome == "delivered":
            if rng.random() < 0.2:
                now += self.seconds(5, 60)
                self._message_event(
                    msg, now, "deferred", response="451 4.7.1 try again later", attempt="1"
                )
                now += self.minutes(1, 15)
            else:
                now += self.seconds(1, 30)
            self._message_event(msg, now, "delivered", response="250 2.0.0 OK")
            opened = now + self.minutes(2, 120)
            if rng.random() < 0.35 and opened < self.export_time:
                self._message_event(msg, opened, "open", useragent="Mozilla/5.0", ip="192.0.2.10")
        return msg

    def _message_event(self, msg: Message, at: datetime, event: str, **fields: Any) -> None:
        msg.events.append(MessageEvent(at, event, self.ids.alnum("", 22), fields))

    # --- HubSpot ----------------------------------------------------------------------

    def contact(self, at: datetime, *, old: bool) -> Contact:
        """An empty contact; `old` ones (imported or made by hand long ago) have low ids."""
        number = self.ids.number(1_000, 999_999) if old else self.ids.number(10_000_000, 99_999_999)
        contact = Contact(id=str(number), created_at=at)
        self.contacts[contact.id] = contact
        return contact

    def imported_lead(self, person: Person, at: datetime) -> Contact:
        """A lead created by an old import, with values the agent will later change."""
        rng = self.rng
        contact = self.contact(at, old=True)
        contact.write(
            at, IMPORT, email=person.email, firstname=person.firstname, lastname=person.lastname,
            lifecyclestage=rng.choice(["lead", "marketingqualifiedlead"]),
            hs_lead_status=rng.choice(["NEW", "OPEN"]),
            hubspot_owner_id=rng.choice(["5550", "5552", "5553"]),
            jobtitle=rng.choice(OLD_TITLES),
        )  # fmt: skip
        return contact

    def human_contact(self, person: Person, at: datetime) -> Contact:
        contact = self.contact(at, old=True)
        contact.write(
            at, HUMAN, email=person.email, firstname=person.firstname,
            lastname=person.lastname, lifecyclestage="lead",
        )  # fmt: skip
        return contact

    # --- Zendesk ----------------------------------------------------------------------

    def ticket(self, at: datetime, **fields: Any) -> Ticket:
        ticket = Ticket(id=self.ids.number(10_000, 999_999), created_at=at, updated_at=at, **fields)
        self.tickets.append(ticket)
        return ticket

    def customer_ticket(self, order: int, at: datetime) -> Ticket:
        """A customer's own ticket from the web form (not ours: external_id is the order)."""
        requester = self.user_id()
        return self.ticket(
            at, external_id=f"order-{order}", status="open",
            priority=self.rng.choice(["normal", "normal", "high"]), type="question",
            subject=f"Refund for order {order}", tags=["refund_request"], channel="web",
            requester_id=requester, submitter_id=requester,
            assignee_id=self.rng.choice([None, ZENDESK_HUMAN]),
        )  # fmt: skip

    def user_id(self) -> int:
        return self.ids.number(360_000_000_000, 369_999_999_999)

    def api_ticket(self, intent_id: str, subject: str, at: datetime) -> Ticket:
        return self.ticket(
            at, external_id=intent_id, status="open", priority="normal", type="task",
            subject=subject, tags=["onboarding", intent_id], channel="api",
            requester_id=self.user_id(), submitter_id=ZENDESK_API_USER, assignee_id=None,
        )  # fmt: skip


OLD_TITLES = ("Analyst", "Engineer", "Consultant", "Coordinator", "Specialist")
NEW_TITLES = ("VP Engineering", "Head of Operations", "CTO", "Procurement Director", "COO")
