"""Going on with a run that is already in the log, on a later simulated day.

The objects a run's steps change are rebuilt from the newest raw records in the workspace
(`Live.raw`), the run's intents from its declarations, and the run then continues through
the same workflow code that wrote day 1.
"""

from __future__ import annotations

import json
from datetime import datetime

from simulator.ids import Person
from simulator.live import Live
from simulator.model import Ticket
from simulator.runs import Run
from simulator.workflows import RefundOrder
from simulator.world import World
from simulator.zendesk import ticket_from_object


def ticket(world: World, live: Live, ticket_id: str) -> Ticket:
    """The ticket as it stands: changed earlier today, else the newest exported one."""
    found = next((t for t in world.tickets if str(t.id) == ticket_id), None)
    if found is None:
        found = ticket_from_object(live.raw[("zendesk", ticket_id)])
        world.tickets.append(found)
    return found


def refund_order(world: World, live: Live, run_id: str, at: datetime) -> RefundOrder | None:
    """The refund_order flow of `run_id`, going on at `at` (None unless every step was declared)."""
    declared = live.declarations(run_id)
    if set(declared) != {"issue_refund", "notify_customer", "resolve_ticket"}:
        return None
    expected = {step: json.loads(event["expected"]) for step, event in declared.items()}
    solved = ticket(world, live, declared["resolve_ticket"]["target_key"])
    run = Run.resume(world, run_id, live.workflow(run_id), at)
    intents = {step: live.intent(event["intent_id"]) for step, event in declared.items()}
    flow = RefundOrder.resume(
        run, intents, customer=Person("", "", expected["notify_customer"]["email"]),
        order=int(solved.external_id.removeprefix("order-")), ticket=solved, refund=None,
        charge=expected["issue_refund"]["charge"], amount=expected["issue_refund"]["amount"],
    )  # fmt: skip
    assert isinstance(flow, RefundOrder)
    return flow


def complete(flow: RefundOrder, live: Live, done: tuple[str, ...] = ()) -> None:
    """Perform every step the runtime never started (except `done`), then complete the run."""
    for step, intent in flow.intents.items():
        if step not in done and live.recorded_outcome(intent.intent_id) == "not_started":
            flow.perform(step)
    flow.run.finish("completed")
