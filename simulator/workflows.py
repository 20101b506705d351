"""The three demo workflows: what each step intends and what its side effect looks like.

A workflow object holds one run, its intents, and one effect method per catalog
step (named like the step) that makes the external object the agent's call
produces, always carrying the intent's correlation marker.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from simulator.model import AGENT, HUMAN, ZENDESK_HUMAN, Refund
from simulator.runs import Intent, Run, catalog
from simulator.world import NEW_TITLES, OWNER_EMAIL, OWNER_ID, World

ERRORS = {
    "http_4xx": "402 charge_disputed: the charge has an open dispute",
    "http_5xx": "502 bad gateway",
}


class Flow:
    workflow: ClassVar[str]

    def __init__(self, world: World, scenario: str, start: datetime) -> None:
        self.world = world
        self.scenario = scenario
        self.run = Run(world, self.workflow, scenario, start)
        self.intents: dict[str, Intent] = {}

    @classmethod
    def resume(cls, run: Run, intents: dict[str, Intent], **state: Any) -> Flow:
        """The flow of a run already in the log, to go on with it on a later day: `state`
        holds what the constructor would have made (customer, charge, ticket...)."""
        flow = cls.__new__(cls)
        flow.world, flow.scenario, flow.run, flow.intents = run.world, run.scenario, run, intents
        flow.__dict__.update(state)
        return flow

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def intent_spec(self, step: str) -> dict[str, Any]:
        """`expected`, and `target`/`description`, for the step's intent.declared."""
        raise NotImplementedError

    def declare(self, skip: Iterable[str] = ()) -> None:
        """Declare every catalog step (except `skip`), in catalog order, at the run's start."""
        for step in catalog()[self.workflow]:
            if step not in skip:
                self.intents[step] = self.run.declare(step, **self.intent_spec(step))

    def perform(
        self, step: str, outcome: str = "succeeded", *, effect: bool = True,
        key: str | None = None, receipt: str | None = None, at: datetime | None = None,
        **effect_args: Any,
    ) -> str | None:  # fmt: skip
        """Attempt the step; the effect happens (or not), then the outcome is recorded:
        succeeded (receipt), timed_out, http_4xx/http_5xx (failed), or silent (the worker
        died: nothing). `key` is a new idempotency key for this attempt; `at` fixes its time."""
        if outcome not in ("succeeded", "timed_out", "silent", *ERRORS):
            raise ValueError(f"unknown outcome {outcome!r}")
        intent = self.intents[step]
        self.run.attempt(intent, key, at)
        external_id = None
        if effect:
            external_id = getattr(self, step)(intent, self.run.later(1, 20), **effect_args)
        if outcome == "succeeded":
            self.run.later(1, 5)
            self.run.succeeded(intent, receipt or self.world.receipt(intent.system, external_id))
        elif outcome == "timed_out":
            self.run.later(30, 31)
            self.run.timed_out(intent)
        elif outcome in ERRORS:
            self.run.later(1, 5)
            self.run.failed(intent, outcome, ERRORS[outcome])
        return external_id

    def label(self, subject: str, mismatch: str) -> None:
        self.world.label("intent", subject, mismatch, self.scenario, self.run_id)

    def label_intent(self, step: str, mismatch: str) -> None:
        self.label(self.intents[step].intent_id, mismatch)

    def label_run(self, mismatch: str) -> None:
        self.world.label("run", self.run_id, mismatch, self.scenario, self.run_id)

    def message(self, intent: Intent, at: datetime, delivery: str = "delivered") -> str:
        expected = self.intent_spec(intent.step)["expected"]
        msg = self.world.message(
            expected["email"], expected["category"], at, outcome=delivery,
            marker={"reckon_intent_id": intent.intent_id},
        )  # fmt: skip
        return msg.x_message_id


class RefundOrder(Flow):
    """issue_refund (Stripe) -> notify_customer (SendGrid) -> resolve_ticket (Zendesk)."""

    workflow = "refund_order"

    def __init__(self, world: World, scenario: str, start: datetime) -> None:
        ids = world.ids
        self.customer = ids.person()
        self.order = ids.number(100_000, 999_999)
        self.charge = ids.alnum("ch_", 24)
        self.amount = world.rng.randint(500, 25_000)
        # The customer asked for the refund through the web form before the run.
        self.ticket = world.customer_ticket(self.order, start - world.minutes(10, 2880))
        self.refund: Refund | None = None  # the latest refund the agent's calls made
        super().__init__(world, scenario, start)

    def intent_spec(self, step: str) -> dict[str, Any]:
        return {
            "issue_refund": {
                "expected": {"charge": self.charge, "amount": self.amount, "currency": "usd"},
                "description": f"refund order {self.order} in full",
            },
            "notify_customer": {
                "expected": {"email": self.customer.email, "category": "refund_confirmation"},
                "description": f"email the refund confirmation for order {self.order}",
            },
            "resolve_ticket": {
                "expected": {"status": "solved"},
                "target": {"object_type": "ticket", "key": str(self.ticket.id)},
                "description": f"mark ticket {self.ticket.id} solved",
            },
        }[step]

    def issue_refund(
        self, intent: Intent, at: datetime, status: str = "succeeded", amount: int | None = None
    ) -> str:
        """The agent's refund; `amount` other than the order's is a wrong (partial) write."""
        marker = {"reckon_intent_id": intent.intent_id, "reckon_idempotency_key": intent.key_in_use}
        self.refund = self.world.refund(
            self.charge, amount or self.amount, at, status=status, marker=marker, key=intent.key_in_use
        )
        return self.refund.id

    def notify_customer(self, intent: Intent, at: datetime, delivery: str = "delivered") -> str:
        return self.message(intent, at, delivery)

    def resolve_ticket(self, intent: Intent, at: datetime) -> str:
        self.ticket.status = "solved"
        if self.world.conventions.marks_updates():
            self.ticket.tags = [*self.ticket.tags, intent.intent_id]
        self.ticket.updated_at = at
        return str(self.ticket.id)

    def human_reopen(self, at: datetime) -> None:
        """A support person reopens the ticket the agent solved (the customer wrote back)."""
        self.ticket.status = "open"
        self.ticket.assignee_id = ZENDESK_HUMAN
        self.ticket.updated_at = at


class OnboardCustomer(Flow):
    """create_contact (HubSpot) -> open_ticket (Zendesk) -> optional send_welcome (SendGrid)."""

    workflow = "onboard_customer"

    def __init__(self, world: World, scenario: str, start: datetime) -> None:
        self.customer = world.ids.person()
        super().__init__(world, scenario, start)

    def intent_spec(self, step: str) -> dict[str, Any]:
        c = self.customer
        return {
            "create_contact": {
                "expected": {
                    "email": c.email,
                    "firstname": c.firstname,
                    "lastname": c.lastname,
                    "lifecyclestage": "customer",
                },
                "description": f"create the CRM contact for {c.email}",
            },
            "open_ticket": {
                "expected": {
                    "subject": f"Onboarding: {c.firstname} {c.lastname}",
                    "priority": "normal",
                },
                "description": "open the onboarding ticket",
            },
            "send_welcome": {
                "expected": {"email": c.email, "category": "welcome"},
                "description": "send the welcome email",
            },
        }[step]

    def create_contact(self, intent: Intent, at: datetime) -> str:
        contact = self.world.contact(at, old=False)
        contact.write(at, AGENT, **self.intent_spec("create_contact")["expected"])
        contact.extra["reckon_intent_id"] = intent.intent_id
        return contact.id

    def open_ticket(self, intent: Intent, at: datetime) -> str:
        subject = self.intent_spec("open_ticket")["expected"]["subject"]
        return str(self.world.api_ticket(intent.intent_id, subject, at).id)

    def send_welcome(self, intent: Intent, at: datetime) -> str:
        return self.message(intent, at)


class QualifyLead(Flow):
    """update_contact (HubSpot, an imported lead) -> notify_owner (SendGrid)."""

    workflow = "qualify_lead"

    def __init__(self, world: World, scenario: str, start: datetime) -> None:
        self.lead = world.ids.person()
        imported = start - world.minutes(30 * 24 * 60, 400 * 24 * 60)
        self.contact = world.imported_lead(self.lead, imported)
        self.title = world.rng.choice(NEW_TITLES)
        self.written_at: datetime | None = None
        super().__init__(world, scenario, start)

    @property
    def fields(self) -> dict[str, str]:
        return {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "IN_PROGRESS",
                "hubspot_owner_id": OWNER_ID, "jobtitle": self.title}  # fmt: skip

    def intent_spec(self, step: str) -> dict[str, Any]:
        return {
            "update_contact": {
                "expected": self.fields,
                "target": {"object_type": "contact", "key": self.contact.id},
                "description": f"qualify lead {self.lead.email} and assign owner {OWNER_ID}",
            },
            "notify_owner": {
                "expected": {"email": OWNER_EMAIL, "category": "lead_assigned"},
                "description": f"tell owner {OWNER_ID} about the new lead",
            },
        }[step]

    def update_contact(self, intent: Intent, at: datetime, only: tuple[str, ...] = ()) -> str:
        """The agent's write: all four fields, or `only` some (a partial write)."""
        fields = {k: v for k, v in self.fields.items() if not only or k in only}
        self.contact.write(at, AGENT, **fields)
        if self.world.conventions.marks_updates():
            self.contact.extra["reckon_intent_id"] = intent.intent_id
        self.written_at = at
        return self.contact.id

    def notify_owner(self, intent: Intent, at: datetime) -> str:
        return self.message(intent, at)

    def human_edit(self, at: datetime, **values: str) -> None:
        self.contact.write(at, HUMAN, **values)
