"""Scenario recipes (one run each, except F19) and their ground-truth labels.

Clean scenarios C1..C10 produce no finding; fault scenarios F1..F23 produce
exactly the labels written here (TAXONOMY.md's rules and precedence applied by
hand). `SUSPICIOUS` says why each scenario's run enters reconciliation (TAXONOMY.md
"Suspicious runs"), by hand too; `label_suspicious` writes it, and the verdict the run
must get, on the run's line. `allocate` picks which scenarios a workspace of N runs gets.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from simulator.model import HUMAN, ZENDESK_HUMAN, RefundState, rfc3339
from simulator.workflows import OnboardCustomer, QualifyLead, RefundOrder
from simulator.world import World

FAULT_SHARE = 0.35
RUN_FAULTS = tuple(f"F{i}" for i in (*range(1, 19), *range(20, 24)))  # F19 (orphans) is not a run
# The order distinct ones are kept in.
CLEAN = ("C1", "C3", "C4", "C2", "C7", "C6", "C5", "C8", "C9", "C10")
CLEAN_WEIGHTS = (6, 6, 6, 1.5, 1, 1, 1, 1, 1, 1)
FLAGGED_BY = "support.lead"


def settled(world: World) -> datetime:
    """Start of a run that has long settled: 4 to 20 hours before the export."""
    return world.before_export(4, 20)


def refund_all(w: RefundOrder, status: str = "completed") -> None:
    w.declare()
    for step in ("issue_refund", "notify_customer", "resolve_ticket"):
        w.perform(step)
    w.run.finish(status)


def onboard(w: OnboardCustomer, *, skip: tuple[str, ...] = ()) -> None:
    """Declare (send_welcome in half of the runs) and perform every step, completed."""
    welcome = w.world.rng.random() < 0.5
    w.declare(skip=skip if welcome else (*skip, "send_welcome"))
    for step in w.intents:
        w.perform(step)
    w.run.finish("completed")


def qualify(w: QualifyLead, **update_args: object) -> None:
    w.declare()
    w.perform("update_contact", **update_args)
    w.perform("notify_owner")
    w.run.finish("completed")


# --- clean ------------------------------------------------------------------------------


def c1(world: World, name: str) -> None:
    refund_all(RefundOrder(world, name, settled(world)))


def c2(world: World, name: str) -> None:
    """Late receipt: the call timed out, the webhook brought the receipt later."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    refund_id = w.perform("issue_refund", "timed_out")
    w.refund.redeliver = True
    w.run.tick(2, 10)
    w.run.receipt(w.intents["issue_refund"], refund_id)
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")


def c3(world: World, name: str) -> None:
    onboard(OnboardCustomer(world, name, settled(world)))


def c4(world: World, name: str) -> None:
    qualify(QualifyLead(world, name, settled(world)))


def c5(world: World, name: str) -> None:
    """In progress: started 20 minutes ago, nothing attempted yet."""
    start = world.export_time - timedelta(minutes=20) - world.seconds(0, 300)
    RefundOrder(world, name, start).declare()


def c6(world: World, name: str) -> None:
    """Legitimately failed: Stripe refused the refund, the run says failed."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", "http_4xx", effect=False)
    w.run.finish("failed")


def c7(world: World, name: str) -> None:
    """Done but not final yet: refund pending, email only processed."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", status="pending")
    w.perform("notify_customer", delivery="processed")
    w.perform("resolve_ticket")
    w.run.finish("completed")


def c8(world: World, name: str) -> None:
    """The queue delivered the refund job twice; the runtime's dedupe refused the second
    attempt (`action.blocked`): one refund, as intended."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund")
    w.run.later(5, 120)
    w.run.blocked(w.intents["issue_refund"], "idempotency key already used by attempt 1")
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")


def c9(world: World, name: str) -> None:
    """The refund call timed out; the retry with the same key raced the first call and
    Stripe answered with an idempotency conflict (`error.kind`); the webhook then brought
    the first call's receipt: one refund, as intended."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    refund_id = w.perform("issue_refund", "timed_out")
    intent = w.intents["issue_refund"]
    w.run.attempt(intent)
    w.run.later(1, 3)
    w.run.failed(
        intent, "idempotency_conflict", "409 idempotency_key_in_use: a request is in progress"
    )
    w.run.tick(2, 10)
    w.run.receipt(intent, refund_id)
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")


def c10(world: World, name: str) -> None:
    """The customer asked support whether the refund went out; support flagged the run
    (`run.flagged`), and everything is as intended."""
    w = RefundOrder(world, name, settled(world))
    refund_all(w)
    w.run.tick(20, 120)
    w.run.flagged(FLAGGED_BY, "customer asks whether the refund went out")


# --- faults -----------------------------------------------------------------------------


def f1(world: World, name: str) -> None:
    """Duplicate refund: the retry after a timeout used a new idempotency key."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", "timed_out")
    w.perform("issue_refund", key=world.ids.hex("idem_", 12))
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")
    w.label_intent("issue_refund", "duplicate_effect")
    w.label_run("false_completion")


def f2(world: World, name: str) -> None:
    """Merged CRM record: a person later merged the updated contact into another one."""
    w = QualifyLead(world, name, settled(world))
    qualify(w)
    merged_at = w.run.now + world.minutes(20, 90)
    survivor = world.imported_lead(
        world.ids.person(like=w.lead), w.contact.created_at - world.minutes(60, 60 * 24 * 30)
    )
    survivor.write(merged_at, HUMAN, lifecyclestage="opportunity", hs_lead_status="CONNECTED")
    survivor.extra["hs_merged_object_ids"] = f"{world.ids.number(1_000, 999_999)};{w.contact.id}"
    del world.contacts[w.contact.id]
    w.label_intent("update_contact", "non_canonical_target")
    w.label_run("false_completion")


def f3(world: World, name: str) -> None:
    """Duplicate CRM record: a person had already created a contact with the same email."""
    start = settled(world)
    w = OnboardCustomer(world, name, start)
    world.human_contact(w.customer, start - world.minutes(2 * 24 * 60, 60 * 24 * 60))
    onboard(w)
    w.label_intent("create_contact", "non_canonical_target")
    w.label_run("false_completion")


def f4(world: World, name: str) -> None:
    """Refund failed after the call succeeded (pending -> failed, insufficient funds)."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", status="pending")
    w.refund.states.append(
        RefundState(w.refund.created + world.minutes(30, 150), "failed", "insufficient_funds")
    )
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")
    w.label_intent("issue_refund", "effect_failed")
    w.label_run("false_completion")


def f5(world: World, name: str) -> None:
    """The confirmation email bounced."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund")
    w.perform("notify_customer", delivery="bounce")
    w.perform("resolve_ticket")
    w.run.finish("completed")
    w.label_intent("notify_customer", "effect_failed")
    w.label_run("false_completion")


def f6(world: World, name: str) -> None:
    """Phantom receipt: the recorded refund id does not exist in Stripe."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", effect=False, receipt=world.ids.alnum("re_", 24))
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")
    w.label_intent("issue_refund", "phantom_receipt")
    w.label_run("false_completion")


def f7(world: World, name: str) -> None:
    """A human refunded the charge in the Dashboard after the agent's call failed."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", "http_5xx", effect=False)
    failed_at = w.run.now
    w.run.finish("escalated")
    world.refund(w.charge, w.amount, failed_at + world.minutes(15, 60), marker={})
    w.label_intent("issue_refund", "satisfied_out_of_band")
    w.label_intent("notify_customer", "missing_step")
    w.label_intent("resolve_ticket", "missing_step")
    w.label_run("stuck_run")


def f8(world: World, name: str) -> None:
    """The worker died after sending the welcome email (the last step), before its receipt."""
    w = OnboardCustomer(world, name, world.before_export(4, 20))
    w.declare()
    w.perform("create_contact")
    w.perform("open_ticket")
    w.perform("send_welcome", "silent")
    w.label_intent("send_welcome", "receipt_missing")
    w.label_run("stale_run_status")


def f9(world: World, name: str) -> None:
    """The refund webhook never came; the agent went on and asked for reconciliation."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", "timed_out")
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("needs_reconciliation")
    w.label_intent("issue_refund", "receipt_missing")
    w.label_run("stale_run_status")


def f10(world: World, name: str) -> None:
    """The worker died mid-call leaving no trace; HubSpot shows the agent's write."""
    w = QualifyLead(world, name, world.before_export(4, 20))
    w.declare()
    w.update_contact(w.intents["update_contact"], w.run.tick(1, 5))
    conventions = world.conventions
    if conventions.on_declaration() or conventions.marks_updates():
        w.label_intent("update_contact", "receipt_missing")
        w.label_intent("notify_owner", "missing_step")
    elif conventions.actors == "known":
        # Nothing the log kept names the contact (its target went with the call that left no
        # trace, and no marker is on it): the agent's write matches no intent.
        world.label("effect", f"hubspot:{w.contact.id}", "orphan_effect", name, None)
    w.label_run("stuck_run")


def f11(world: World, name: str) -> None:
    """A person changed the lifecycle stage 20+ minutes after the agent's write."""
    w = QualifyLead(world, name, settled(world))
    qualify(w)
    w.human_edit(w.written_at + world.minutes(20, 60), lifecyclestage="opportunity")
    w.label_intent("update_contact", "out_of_band_change")
    w.label_run("false_completion")


def f12(world: World, name: str) -> None:
    """Partial write: only hs_lead_status reached HubSpot."""
    w = QualifyLead(world, name, settled(world))
    qualify(w, only=("hs_lead_status",))
    w.label_intent("update_contact", "field_drift")
    w.label_run("false_completion")


def f13(world: World, name: str) -> None:
    """Outcome unknown: timed out 30 minutes ago; Stripe shows it pending, or not yet."""
    jitter = world.seconds(0, 120)
    w = RefundOrder(world, name, world.export_time - timedelta(minutes=40) - jitter)
    pending = sum(r["scenario"] == name for r in world.runs) % 2 == 1  # alternate
    w.declare()
    attempted_at = world.export_time - timedelta(minutes=30) - jitter
    if pending:
        w.perform("issue_refund", "timed_out", status="pending", at=attempted_at)
    else:
        w.perform("issue_refund", "timed_out", effect=False, at=attempted_at)
    w.label_intent("issue_refund", "unknown_outcome")


def f14(world: World, name: str) -> None:
    """Attempt lost: timed out hours ago and nothing is in Stripe."""
    w = RefundOrder(world, name, world.before_export(5, 20))
    w.declare()
    w.perform("issue_refund", "timed_out", effect=False)
    w.run.finish("failed")
    w.label_intent("issue_refund", "attempt_lost")


def f15(world: World, name: str) -> None:
    """Declared open_ticket never ran, yet the run completed."""
    w = OnboardCustomer(world, name, settled(world))
    w.declare(skip=("send_welcome",))
    w.perform("create_contact")
    w.run.finish("completed")
    w.label_intent("open_ticket", "missing_step")
    w.label_run("false_completion")


def f16(world: World, name: str) -> None:
    """The required resolve_ticket step was never even declared."""
    w = RefundOrder(world, name, settled(world))
    w.declare(skip=("resolve_ticket",))
    w.perform("issue_refund")
    w.perform("notify_customer")
    w.run.finish("completed")
    w.label(f"{w.run_id}/resolve_ticket", "missing_step")
    w.label_run("false_completion")


def f17(world: World, name: str) -> None:
    """Everything is done, but the run's last status is escalated."""
    w = RefundOrder(world, name, settled(world))
    refund_all(w, status="escalated")
    w.run.tick(20, 120)
    w.run.flagged(FLAGGED_BY, "escalated, yet the customer confirms the refund arrived")
    w.label_run("stale_run_status")


def f18(world: World, name: str) -> None:
    """Awaiting approval for hours, nothing attempted."""
    w = RefundOrder(world, name, world.before_export(5, 20))
    w.declare()
    w.run.finish("awaiting_approval")
    w.label_run("stuck_run")


def f19(world: World, name: str) -> None:
    """Orphans: a refund and a message carrying intent ids no run declares."""
    ids = world.ids
    at = settled(world)
    key = ids.hex("idem_", 12)
    refund = world.refund(
        ids.alnum("ch_", 24), world.rng.randint(500, 25_000), at,
        marker={"reckon_intent_id": ids.hex("int_", 12), "reckon_idempotency_key": key}, key=key,
    )  # fmt: skip
    msg = world.message(
        ids.person().email, "refund_confirmation", at + world.minutes(1, 5),
        marker={"reckon_intent_id": ids.hex("int_", 12)},
    )  # fmt: skip
    world.label("effect", f"stripe:{refund.id}", "orphan_effect", name, None)
    world.label("effect", f"sendgrid:{msg.x_message_id}", "orphan_effect", name, None)


def f20(world: World, name: str) -> None:
    """The agent refunded part of the order where the whole was intended; Stripe names no
    actor and nothing changed the refund since: the agent's partial write."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund", amount=w.amount - world.rng.randint(100, w.amount - 100))
    w.perform("notify_customer")
    w.perform("resolve_ticket")
    w.run.finish("completed")
    w.label_intent("issue_refund", "field_drift")
    w.label_run("false_completion")


def f21(world: World, name: str) -> None:
    """A support person reopened the ticket an hour or more after the agent solved it; the
    export names no actor, but shows the edit after the agent's write."""
    w = RefundOrder(world, name, settled(world))
    refund_all(w)
    reopened = w.run.now + world.minutes(60, 180)
    w.human_reopen(reopened)
    # The support person also put the run on the operators' flag sheet (flags/).
    world.flags.append({"run_id": w.run_id, "operator": FLAGGED_BY, "reason": "customer wrote back: ticket reopened",
                        "flagged_at": rfc3339(reopened + world.minutes(1, 10))})  # fmt: skip
    w.label_intent("resolve_ticket", "out_of_band_change")
    w.label_run("false_completion")


def f22(world: World, name: str) -> None:
    """The ticket update timed out and never landed; the run gave up (failed)."""
    w = RefundOrder(world, name, settled(world))
    w.declare()
    w.perform("issue_refund")
    w.perform("notify_customer")
    w.perform("resolve_ticket", "timed_out", effect=False)
    w.run.finish("failed")
    w.label_intent("resolve_ticket", "attempt_lost")


def f23(world: World, name: str) -> None:
    """The worker died after the ticket update landed, before recording anything more."""
    w = RefundOrder(world, name, world.before_export(4, 20))
    w.declare()
    w.perform("issue_refund")
    w.perform("notify_customer")
    w.perform("resolve_ticket", "silent")
    w.label_intent("resolve_ticket", "receipt_missing")
    w.label_run("stale_run_status")


SCENARIOS: dict[str, Callable[[World, str], None]] = {
    "C1": c1, "C2": c2, "C3": c3, "C4": c4, "C5": c5, "C6": c6, "C7": c7, "C8": c8, "C9": c9, "C10": c10,
    "F1": f1, "F2": f2, "F3": f3, "F4": f4, "F5": f5, "F6": f6, "F7": f7, "F8": f8, "F9": f9,
    "F10": f10, "F11": f11, "F12": f12, "F13": f13, "F14": f14, "F15": f15, "F16": f16,
    "F17": f17, "F18": f18, "F19": f19, "F20": f20, "F21": f21, "F22": f22, "F23": f23,
}  # fmt: skip


# Why each scenario's run enters reconciliation, whatever the conventions.
AWR, TIMEOUT, WINDOW = "attempted_without_receipt", "timeout_after_call", "past_completion_window"
REQUIRED, BLOCKED, FLAG = "required_step_not_done", "duplicate_attempt_blocked", "operator_flag"
SUSPICIOUS: dict[str, tuple[str, ...]] = {
    "C1": (), "C2": (TIMEOUT,), "C3": (), "C4": (), "C5": (),
    "C6": (REQUIRED,),  # failed as it should: the refund was refused
    "C7": (REQUIRED,),  # completed with the refund still pending and the email only processed
    "C8": (BLOCKED,), "C9": (TIMEOUT, BLOCKED), "C10": (FLAG,),
    "F1": (TIMEOUT, REQUIRED), "F2": (REQUIRED,), "F3": (), "F4": (REQUIRED,), "F5": (REQUIRED,),
    "F6": (REQUIRED,), "F7": (WINDOW,), "F8": (AWR, WINDOW), "F9": (AWR, TIMEOUT, WINDOW), "F10": (WINDOW,),
    "F11": (), "F12": (), "F13": (AWR, TIMEOUT), "F14": (AWR, TIMEOUT, REQUIRED), "F15": (REQUIRED,),
    "F16": (REQUIRED,), "F17": (WINDOW, FLAG), "F18": (WINDOW,), "F20": (), "F21": (FLAG,),
    "F22": (AWR, TIMEOUT, REQUIRED), "F23": (AWR, WINDOW),
}  # fmt: skip


def label_suspicious(world: World) -> None:
    """On each run's line: its `suspicious` reasons and the `verdict` it must get (its
    findings when it has labels, else verified_consistent; none when not suspicious)."""
    with_findings = {label["run_id"] for label in world.labels}
    for run in world.runs:
        reasons = sorted(SUSPICIOUS[run["scenario"]])
        verdict = "findings" if run["run_id"] in with_findings else "verified_consistent"
        run.update(suspicious=reasons, verdict=verdict if reasons else None)


def allocate(runs: int, rng: random.Random) -> list[str]:
    """The scenario of each of `runs` runs (plus F19, which is not a run), shuffled.

    About 35% faulty; from 60 runs on every fault at least once (F13 twice: pending and
    absent); below that as many distinct faults and clean kinds as fit."""
    n_faults = min(runs, round(runs * FAULT_SHARE))
    if runs >= 60:
        n_faults = max(n_faults, len(RUN_FAULTS) + 1)
    if n_faults > len(RUN_FAULTS):
        faults = [*RUN_FAULTS, "F13", *rng.choices(RUN_FAULTS, k=n_faults - len(RUN_FAULTS) - 1)]
    else:
        faults = rng.sample(RUN_FAULTS, n_faults)
    n_clean = runs - n_faults
    cleans = [
        *CLEAN[:n_clean],
        *rng.choices(CLEAN, weights=CLEAN_WEIGHTS, k=max(0, n_clean - len(CLEAN))),
    ]
    order = faults + cleans + (["F19"] if n_faults else [])
    rng.shuffle(order)
    return order


def background(world: World, runs: int) -> None:
    """Activity that is not the agent's (Dashboard refunds, newsletters, imported contacts,
    tickets people solved): present in every system, never a finding."""
    ids, rng = world.ids, world.rng
    for _ in range(runs // 15):
        world.refund(ids.alnum("ch_", 24), rng.randint(500, 25_000), world.before_export(1, 20))
    for _ in range(runs // 10):
        world.message(ids.person().email, "newsletter", world.before_export(1, 20))
    for _ in range(runs // 8):
        world.imported_lead(ids.person(), world.before_export(24 * 30, 24 * 400))
    for _ in range(runs // 10):
        ticket = world.customer_ticket(ids.number(100_000, 999_999), world.before_export(6, 20))
        ticket.status, ticket.assignee_id = "solved", ZENDESK_HUMAN
        ticket.updated_at = ticket.created_at + world.minutes(30, 300)
