"""A small repair executor for the simulated world.

It takes the newest repair plan, picks the actions it is allowed to take (`select`), and for
each one, just before acting, re-checks every precondition against the workspace as it is
now (`Live.check`): an action whose precondition no longer holds is void and is skipped,
as the executor contract asks. An applied action changes the simulated systems and is
reported back with a workflow-log event naming it in an extra top-level field `action_id`
(the event-log connector keeps unknown fields in `extra`; reports/lifecycle.sql reads it):

| pattern (mismatch type) | what it does | feedback event |
| --- | --- | --- |
| receipt_backfill | nothing outside the runtime | `receipt.recorded` with the receipt |
| status_patch (run) | nothing outside the runtime | `run.completed` / `run.needs_reconciliation` |
| forward_completion (field_drift) | writes the missing HubSpot fields as the agent | `action.attempted`, `action.succeeded` |
| forward_completion (attempt_lost) | retries the refund with the original key, then finishes the run | `action.attempted`, `action.succeeded` |
| compensation (duplicate_effect) | cancels the extra refund | `action.compensated` |

Everything else (human adjudication, missing steps, other retries) is left to people.
Actions that need approval are approved by one operator (`approved_by` on the event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator import resume
from simulator.hubspot import contact_from_object
from simulator.live import Live
from simulator.model import AGENT, Contact, RefundState
from simulator.runs import Intent, Run
from simulator.stripe import refund_from_object
from simulator.world import World

OPERATOR = "ops.lead"
SUBJECT_ORDER = ("effect", "intent", "run")
WORKING_WINDOW = timedelta(hours=12)  # from its start, half an hour after the last audit
STATUS_EVENTS = {"complete": "completed", "needs_reconciliation": "needs_reconciliation"}


@dataclass(frozen=True)
class Outcome:
    """What the executor did with one action: applied · void (a precondition no longer
    holds) · held (selected, but not safe to do now) · not_selected."""

    action: dict[str, Any]
    verdict: str
    reason: str = ""

    @property
    def action_id(self) -> str:
        return self.action["action_id"]


class Executor:
    def __init__(self, world: World, live: Live, start: datetime) -> None:
        self.world = world
        self.live = live
        self.now = start
        self.runs: dict[str, Run] = {}
        self.intents: dict[str, Intent] = {}
        self.contacts: dict[str, Contact] = {}

    # --- which actions ------------------------------------------------------------------

    def select(self, plan: list[dict[str, Any]]) -> set[str]:
        """Every receipt backfill, run status patch, field-drift completion and refund retry,
        and the compensation of one duplicate (drawn from the world's seed)."""
        duplicates = sorted({a["finding_id"] for a in plan
                             if a["pattern"] == "compensation" and a["mismatch_type"] == "duplicate_effect"})  # fmt: skip
        chosen = self.world.rng.choice(duplicates) if duplicates else None
        return {a["action_id"] for a in plan if _selected(a, chosen)}

    def run(self, plan: list[dict[str, Any]]) -> list[Outcome]:
        """Execute the selected actions: effects, then intents, then runs (a run is completed
        only once its intents are repaired), each in plan order."""
        selected = self.select(plan)
        # A big plan is worked faster: every action is done within the working window, so no
        # event it causes is dated after the day's export.
        step_cap = WORKING_WINDOW / max(1, len(selected))
        outcomes: list[Outcome] = []
        applied: set[str] = set()
        for action in sorted(plan, key=lambda a: SUBJECT_ORDER.index(a["subject_kind"])):
            if action["action_id"] not in selected:
                outcomes.append(Outcome(action, "not_selected", "left to an operator"))
                continue
            reason = self._hold(action, plan, applied)
            if reason:
                outcomes.append(Outcome(action, "held", reason))
                continue
            self.now += min(self.world.minutes(1, 3), step_cap)
            reason = self.live.void_reason(action["preconditions"])  # re-checked just before acting
            if reason:
                outcomes.append(Outcome(action, "void", reason))
                continue
            getattr(self, action["pattern"])(action, _feedback(action))
            applied.add(action["action_id"])
            outcomes.append(Outcome(action, "applied"))
        return outcomes

    def _hold(self, action: dict[str, Any], plan: list[dict[str, Any]], applied: set[str]) -> str | None:
        if action["mismatch_type"] == "attempt_lost" and action["duplicate_risk"] != "low":
            return "the original key may have expired: duplicate risk is high"
        if action["subject_kind"] == "run" and action["parameters"].get("to_status") == "complete":
            open_ = [a for a in plan if a["subject_kind"] == "intent" and a["run_id"] == action["run_id"]
                     and a["action_id"] not in applied]  # fmt: skip
            if open_:
                return f"the run still has {len(open_)} open intent action(s)"
        return None

    # --- the runtime and the systems --------------------------------------------------

    def _run(self, run_id: str) -> Run:
        if run_id not in self.runs:
            self.runs[run_id] = Run.resume(self.world, run_id, self.live.workflow(run_id), self.now)
        run = self.runs[run_id]
        run.skip_ahead(self.now)
        return run

    def _intent(self, intent_id: str) -> Intent:
        if intent_id not in self.intents:
            self.intents[intent_id] = self.live.intent(intent_id)
        return self.intents[intent_id]

    # --- one method per pattern ----------------------------------------------------------

    def receipt_backfill(self, action: dict[str, Any], feedback: dict[str, str]) -> None:
        params = action["parameters"]
        intent = self._intent(params["intent_id"])
        self._run(action["run_id"]).receipt(intent, params["receipt"]["external_id"], **feedback)

    def status_patch(self, action: dict[str, Any], feedback: dict[str, str]) -> None:
        self._run(action["run_id"]).finish(STATUS_EVENTS[action["parameters"]["to_status"]], **feedback)

    def forward_completion(self, action: dict[str, Any], feedback: dict[str, str]) -> None:
        if action["mismatch_type"] == "attempt_lost":
            self._retry_refund(action, feedback)
            return
        run, intent = self._run(action["run_id"]), self._intent(action["subject_id"])
        contact_id = action["target_external_id"]
        if contact_id not in self.contacts:
            self.contacts[contact_id] = contact_from_object(self.live.raw[("hubspot", contact_id)])
            self.world.contacts[contact_id] = self.contacts[contact_id]
        run.attempt(intent, at=self.now)
        self.contacts[contact_id].write(run.later(1, 20), AGENT, **action["parameters"]["patch_fields"])
        run.later(1, 5)
        run.succeeded(intent, contact_id, **feedback)

    def _retry_refund(self, action: dict[str, Any], feedback: dict[str, str]) -> None:
        """Retry with the original key, then the run goes on with the steps it never started."""
        flow = resume.refund_order(self.world, self.live, action["run_id"], self.now)
        if flow is None:
            raise ValueError(f"{action['run_id']} cannot be resumed")
        intent = flow.intents[self._intent(action["subject_id"]).step] = self._intent(action["subject_id"])
        refund_id = flow.perform(intent.step, "silent", key=action["idempotency_key"])
        flow.run.later(1, 5)
        flow.run.succeeded(intent, refund_id, **feedback)
        resume.complete(flow, self.live, done=(intent.step,))
        # The run goes on at its own pace; the executor moves on to its next action now.
        self.runs[action["run_id"]] = flow.run

    def compensation(self, action: dict[str, Any], feedback: dict[str, str]) -> None:
        refund = refund_from_object(self.live.raw[("stripe", action["target_external_id"])])
        refund.states.append(RefundState(self.now, "canceled"))
        self.world.refunds.append(refund)
        run = self._run(action["run_id"])
        run.later(5, 60)
        run.compensated(self._intent(action["subject_id"]), compensated_external_id=refund.id, **feedback)


def _selected(action: dict[str, Any], duplicate: str | None) -> bool:
    pattern, kind = action["pattern"], action["mismatch_type"]
    return (
        pattern == "receipt_backfill"
        or (pattern == "status_patch" and action["subject_kind"] == "run")
        or (pattern == "forward_completion" and kind == "field_drift" and action["target_system"] == "hubspot")
        or (pattern == "forward_completion" and kind == "attempt_lost" and action["target_system"] == "stripe")
        or (pattern == "compensation" and action["finding_id"] == duplicate)
    )


def _feedback(action: dict[str, Any]) -> dict[str, str]:
    """The extra fields of the event that reports an applied action."""
    fields = {"action_id": action["action_id"]}
    if action["requires_approval"]:
        fields["approved_by"] = OPERATOR
    return fields
