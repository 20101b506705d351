"""SendGrid Event Webhook: POST bodies (JSON arrays) spread over batch files, in time
order across batches, shuffled within one, ~10% of events delivered again later."""

from __future__ import annotations

import math
from typing import Any

from simulator.model import Message, MessageEvent, unix
from simulator.output import Output, json_bytes
from simulator.world import World

EVENTS_PER_BATCH = 100
MIN_BATCHES = 3
REDELIVER_SHARE = 0.10


def event_object(msg: Message, ev: MessageEvent) -> dict[str, Any]:
    # Custom args arrive as top-level keys; reserved names win over them.
    return {
        **msg.custom_args, "email": msg.email, "timestamp": unix(ev.at), "event": ev.event,
        "sg_event_id": ev.sg_event_id, "sg_message_id": msg.sg_message_id,
        "smtp-id": msg.smtp_id, "category": msg.category, **ev.fields,
    }  # fmt: skip


def write_sendgrid(world: World, out: Output) -> None:
    rng = world.rng
    events = [event_object(m, ev) for m in world.messages for ev in m.events]
    events.sort(key=lambda e: (e["timestamp"], e["sg_event_id"]))
    count = max(MIN_BATCHES, math.ceil(len(events) / EVENTS_PER_BATCH))
    size = math.ceil(len(events) / count) if events else 0
    batches = [events[i * size : (i + 1) * size] for i in range(count)]
    # Redeliveries: ~10% of all events, each again in a later batch than its first delivery.
    earlier = [(index, event) for index in range(count - 1) for event in batches[index]]
    for index, event in rng.sample(
        earlier, min(len(earlier), round(len(events) * REDELIVER_SHARE))
    ):
        batches[rng.randint(index + 1, count - 1)].append(event)
    for index, batch in enumerate(batches, start=1):
        rng.shuffle(batch)
        out.landing("sendgrid", f"batch-{index:04d}.json", json_bytes(batch))
