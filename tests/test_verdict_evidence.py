"""Verdicts on evidence spelled the way other runtimes and vendors spell it: ids on any event
of an intent, receipts in any spelling of the system's id, intended fields in the workflow's
own words, and who wrote last where a system names no actor."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from reckon.config import ConfigError, parse_config
from tests.workspaces import EXPORT, START, Intent, build, iso, unix

SOLVED = {"status": "solved"}


def ticket(ticket_id: int, status: str, updated_minutes: float, **extra) -> dict:
    return {"id": ticket_id, "external_id": None, "status": status, "subject": "Refund", "priority": "normal",
            "tags": ["refund_request"], "created_at": iso(START - timedelta(days=1)),
            "updated_at": iso(START + timedelta(minutes=updated_minutes)), **extra}


def tickets(*items: dict) -> dict:
    return {"tickets": list(items), "end_of_stream": True}


def refund(refund_id: str, intent: str | None, amount: int, charge: str = "ch_1", status: str = "succeeded") -> dict:
    return {"id": refund_id, "object": "refund", "amount": amount, "currency": "usd", "charge": charge,
            "created": unix(START + timedelta(minutes=3)), "status": status,
            "metadata": {"reckon_intent_id": intent} if intent else {}}


def test_an_update_found_by_the_target_on_its_attempt_is_a_missing_receipt(tmp_path):
    # The runtime declares the intent bare and sends the target and key with the call (as
    # most do); the worker died after the call. The ticket shows the update, no marker.
    update = Intent("t1", "zendesk", SOLVED).declared()
    update.event("action.attempted", 2, attempt=1, idempotency_key="idem_t1",
                 target={"object_type": "ticket", "key": 4242})
    built = build(tmp_path, [update], {"zendesk": tickets(ticket(4242, "solved", 3))})
    assert ("int_t1", "receipt_missing") in built.findings()
    assert not {f for f in built.findings() if f[1] == "attempt_lost"}


def test_an_update_that_never_landed_is_lost(tmp_path):
    update = Intent("t2", "zendesk", SOLVED).declared()
    update.event("action.attempted", 2, attempt=1, target={"object_type": "ticket", "key": "4243"})
    update.event("action.timed_out", 3, attempt=1, error={"kind": "timeout"})
    built = build(tmp_path, [update], {"zendesk": tickets(ticket(4243, "open", -600))})
    assert ("int_t2", "attempt_lost") in built.findings()


def test_two_targets_or_two_receipts_are_evidence_in_the_finding(tmp_path):
    # Declared on one ticket, retried on another: the latest target is acted on; both are reported.
    moved = Intent("t3", "zendesk", SOLVED).declared(target={"object_type": "ticket", "key": "501"})
    moved.event("action.attempted", 2, attempt=1, target={"object_type": "ticket", "key": "502"})
    # Two calls, two receipts, two live refunds: a duplicate, and both receipts are named.
    twice = Intent("r1", "stripe", {"charge": "ch_9", "amount": 500, "currency": "usd"}).declared()
    twice.event("action.attempted", 2, attempt=1)
    twice.event("action.succeeded", 3, attempt=1, receipt={"external_id": "re_a"})
    twice.event("action.attempted", 4, attempt=2)
    twice.event("action.succeeded", 5, attempt=2, receipt={"external_id": "re_b"})
    built = build(tmp_path, [moved, twice], {
        "zendesk": tickets(ticket(501, "open", -600), ticket(502, "solved", 3)),
        "stripe": {"object": "list", "data": [refund("re_a", None, 500, "ch_9"), refund("re_b", None, 500, "ch_9")]},
    })
    assert ("int_t3", "receipt_missing") in built.findings()
    assert built.evidence("int_t3")["conflicting_targets"] == ["501", "502"]
    assert ("int_r1", "duplicate_effect") in built.findings()
    assert built.evidence("int_r1")["conflicting_receipts"] == ["re_a", "re_b"]


def test_receipts_compare_in_the_systems_canonical_id_form(tmp_path):
    # SendGrid: the runtime kept the webhook's full sg_message_id; the send call's
    # X-Message-Id is its prefix. HubSpot and Zendesk: the ids as JSON numbers.
    message = Intent("m1", "sendgrid", {"email": "ada@example.com"}).declared()
    message.event("action.attempted", 2, attempt=1)
    message.event("action.succeeded", 3, attempt=1,
                  receipt={"external_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"})
    contact = Intent("h1", "hubspot", {"lifecyclestage": "customer"}).declared(
        target={"object_type": "contact", "key": 51200511})
    contact.event("action.attempted", 2, attempt=1)
    contact.event("action.succeeded", 3, attempt=1, receipt={"external_id": 51200511})
    solved = Intent("z1", "zendesk", SOLVED).declared(target={"object_type": "ticket", "key": "0777"})
    solved.event("action.attempted", 2, attempt=1)
    solved.event("action.succeeded", 3, attempt=1, receipt={"external_id": 777.0})
    for intent in (message, contact, solved):
        intent.completed()
    at = unix(START + timedelta(minutes=4))
    built = build(tmp_path, [message, contact, solved], {
        "sendgrid": [{"email": "ada@example.com", "timestamp": at, "event": "delivered", "sg_event_id": "e1",
                      "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"}],
        "hubspot": {"results": [{"id": "51200511", "properties": {"lifecyclestage": "customer"},
                                 "createdAt": iso(START - timedelta(days=30)),
                                 "updatedAt": iso(START + timedelta(minutes=2))}]},
        "zendesk": tickets(ticket(777, "solved", 3)),
    })
    assert built.findings() == set()


SENDGRID_WORDS = {"fields": {"to": "email", "template": "category", "status": "$state"}}


def test_intended_fields_are_read_through_the_systems_field_mapping(tmp_path):
    def message(key: str, template: str) -> Intent:
        sent = Intent(key, "sendgrid", {"to": f"{key}@example.com", "template": template, "status": "delivered",
                                        "locale": "en-US"}).declared()
        sent.event("action.attempted", 2, attempt=1)
        return sent.event("action.succeeded", 3, attempt=1, receipt={"external_id": f"x{key}"})

    def delivered(key: str, category: str) -> dict:
        return {"email": f"{key}@example.com", "timestamp": unix(START + timedelta(minutes=4)), "event": "delivered",
                "sg_event_id": f"e{key}", "sg_message_id": f"x{key}.filter.1", "category": category,
                "reckon_intent_id": f"int_{key}"}

    built = build(tmp_path, [message("m2", "welcome"), message("m3", "welcome")],
                  {"sendgrid": [delivered("m2", "welcome"), delivered("m3", "newsletter")]},
                  systems={"sendgrid": SENDGRID_WORDS})
    # `to`, `template` and `status` hold for m2; `locale` is never shown: not a difference.
    assert built.findings("intent") == {("int_m3", "field_drift")}
    (observed,) = built.query("SELECT observed FROM findings WHERE subject_id = 'int_m3'")[0]
    assert '"field":"template"' in observed.replace(" ", "")
    # the context shows the object as its export does, by its own field names and the mapping's
    fields, mapped = built.query("SELECT fields, mapped_fields FROM observed WHERE external_id = 'xm3'")[0]
    context = json.loads(observed)
    assert (context["fields"], context["mapped_fields"]) == (json.loads(fields), json.loads(mapped))
    assert (context["fields"]["category"], context["mapped_fields"]["template"]) == ("newsletter", "newsletter")
    assert built.evidence("int_m3")["unverified_fields"] == [{"field": "locale", "reason": "the export never shows it"}]
    assert built.evidence("int_m3")["last_writer_basis"] == "the agent's object, no edit after its write"


@pytest.mark.parametrize(("fields", "message"), [
    ({"to": "properties..email"}, r"systems\.sendgrid\.fields\.to: 'properties\.\.email' is not a dotted path"),
    ({"to": '$"x'}, r"systems\.sendgrid\.fields\.to: .* is not a dotted path"),
    ({"to": 5}, r"systems\.sendgrid\.fields\.to: expected a path"),
    ({"to": {"path": "email", "words": {}}}, r"systems\.sendgrid\.fields\.to\.words: unknown key"),
    ({"status": {"path": "$state", "values": {"sent": ["delivered"]}}}, r"fields\.status\.values\.sent"),
])
def test_field_mappings_are_checked_when_the_configuration_loads(tmp_path, fields, message):
    config = {"version": 1, "sources": {"log": {"connector": "event_log", "paths": ["l/*.jsonl"]}},
              "systems": {"sendgrid": {"object_type": "message", "fields": fields}}}
    with pytest.raises(ConfigError, match=message):
        parse_config(config, tmp_path)


def refund_intent(key: str, amount: int = 1000) -> Intent:
    intent = Intent(key, "stripe", {"charge": f"ch_{key}", "amount": amount, "currency": "usd"}).declared()
    intent.event("action.attempted", 2, attempt=1)
    return intent.event("action.succeeded", 3, attempt=1, receipt={"external_id": f"re_{key}"})


def stripe_event(event_id: str, refund_object: dict, minutes: float, changed: dict) -> dict:
    return {"id": event_id, "object": "event", "type": "refund.updated", "created": unix(START + timedelta(minutes=minutes)),
            "data": {"object": refund_object, "previous_attributes": changed}}


def test_who_wrote_last_where_the_system_names_no_actor(tmp_path):
    # s1: the agent's refund (its marker) with another amount, never edited: its partial write.
    # s2: the same, but someone edited the refund two hours after the agent's write.
    # s3: only the charge ties it to the intent, no actor, no edit: the weaker claim, said so.
    # s4: a status change Stripe made itself (pending -> succeeded) is no one's edit.
    edited = refund("re_s2", "int_s2", 900, "ch_s2")
    settled = refund("re_s4", "int_s4", 900, "ch_s4")
    built = build(tmp_path, [refund_intent("s1"), refund_intent("s2"), refund_intent("s3"), refund_intent("s4")], {
        "stripe": {"object": "list", "data": [
            refund("re_s1", "int_s1", 900, "ch_s1"),
            stripe_event("evt_1", {**edited, "metadata": {**edited["metadata"], "note": "goodwill"}}, 125,
                         {"metadata": {"reckon_intent_id": "int_s2"}}),
            refund("re_other", None, 900, "ch_s3"),
            stripe_event("evt_2", settled, 150, {"status": "pending"}),
        ]}})
    assert built.findings("intent") == {("int_s1", "field_drift"), ("int_s2", "out_of_band_change"),
                                ("int_s3", "phantom_receipt"), ("int_s4", "field_drift")}
    assert built.evidence("int_s2")["last_writer_basis"] == "edited after the agent's write"


def test_a_natural_key_match_with_no_actor_is_the_weaker_claim(tmp_path):
    # n1: success recorded without a receipt; only the charge finds the refund, nobody is
    # named, no edit seen, the amount differs: field drift, with the uncertainty said.
    # n2: no success recorded, the same kind of refund: someone else already did it.
    n1 = Intent("n1", "stripe", {"charge": "ch_n1", "amount": 1000, "currency": "usd"}).declared()
    n1.event("action.attempted", 2, attempt=1).event("action.succeeded", 3, attempt=1)
    n2 = Intent("n2", "stripe", {"charge": "ch_n2", "amount": 1000, "currency": "usd"}).declared()
    n2.event("action.attempted", 2, attempt=1).event("action.timed_out", 3, attempt=1)
    built = build(tmp_path, [n1, n2], {"stripe": {"object": "list", "data": [
        refund("re_n1", None, 900, "ch_n1"), refund("re_n2", None, 1000, "ch_n2")]}})
    assert built.findings("intent") == {("int_n1", "field_drift"), ("int_n2", "satisfied_out_of_band")}
    assert built.evidence("int_n1")["last_writer"] == "unknown"
    assert built.evidence("int_n1")["last_writer_basis"] == "no actor and no edit seen"


def test_export_times_do_not_move_the_clock(tmp_path):
    # A sanity check of the helper: "now" is the export's time, not the wall clock.
    built = build(tmp_path, [refund_intent("c1")], {"stripe": {"object": "list", "data": [
        refund("re_c1", "int_c1", 1000, "ch_c1")]}})
    (as_of,) = built.query("SELECT as_of FROM audits")[0]
    assert as_of == EXPORT


def test_blocked_and_flagged_events_are_read_and_decide_no_outcome(tmp_path):
    # A duplicate call refused by idempotency logic after the success, and an operator's flag:
    # both kept (not quarantined), neither changes what the runtime recorded.
    intent = refund_intent("b1").event("action.blocked", 4, attempt=2, idempotency_key="idem_b1",
                                       error={"kind": "idempotency_conflict"})
    intent.event("run.flagged", 5, actor="ops.lead", description="customer says refunded twice").completed()
    built = build(tmp_path, [intent], {"stripe": {"object": "list", "data": [refund("re_b1", "int_b1", 1000, "ch_b1")]}})
    assert built.query("SELECT count(*) FROM quarantine") == [(0,)]
    assert built.query("SELECT type FROM events WHERE type IN ('action.blocked', 'run.flagged') ORDER BY type") == [
        ("action.blocked",), ("run.flagged",)]
    assert built.query("SELECT outcome FROM recorded WHERE intent_id = 'int_b1'") == [("succeeded",)]
    assert built.findings() == set()


def test_a_status_word_holds_on_an_object_that_moved_past_it(tmp_path):
    # Intended `delivered` (as SendGrid spells it, under its own `event` field or mapped to
    # it); the message was opened since: still delivered. A bounce is not.
    def sent(key: str) -> Intent:
        intent = Intent(key, "sendgrid", {"to": f"{key}@example.com", "status": "delivered"}).declared()
        intent.event("action.attempted", 2, attempt=1)
        return intent.event("action.succeeded", 3, attempt=1, receipt={"external_id": f"x{key}"}).completed()

    def event(key: str, kind: str, minutes: float) -> dict:
        return {"email": f"{key}@example.com", "timestamp": unix(START + timedelta(minutes=minutes)), "event": kind,
                "sg_event_id": f"{key}{kind}", "sg_message_id": f"x{key}.f.1", "reckon_intent_id": f"int_{key}"}

    built = build(tmp_path, [sent("o1"), sent("o2")],
                  {"sendgrid": [event("o1", "delivered", 4), event("o1", "open", 90), event("o2", "bounce", 4)]},
                  systems={"sendgrid": {"fields": {"to": "email", "status": "event"}}})
    assert built.findings("intent") == {("int_o2", "effect_failed")}


def test_an_update_never_attempted_is_not_someone_elses_object(tmp_path):
    # The runtime sends the target with the call; the run failed before calling. The contact
    # an email would find shows no write of the agent's: not present, so no satisfied
    # out-of-band and no missing step after it.
    update = Intent("u1", "hubspot", {"email": "ada@example.com", "lifecyclestage": "customer"}).declared()
    update.event("run.failed", 5, status="failed")
    contact = {"id": "88", "properties": {"email": "ada@example.com", "lifecyclestage": "lead"},
               "createdAt": iso(START - timedelta(days=9)), "updatedAt": iso(START - timedelta(days=9))}
    built = build(tmp_path, [update], {"hubspot": {"results": [contact]}},
                  systems={"hubspot": {"natural_key": ["email"], "natural_key_unique": True}})
    assert built.findings() == set()
    assert built.query("SELECT is_update, observed_state FROM intent_state") == [(True, "absent")]


def test_a_numeric_path_segment_reads_an_object_key_or_a_list_item(tmp_path):
    # `custom_fields.360001` is a key of reckon's Zendesk custom fields; `tags.0` a list item.
    tier = Intent("z2", "zendesk", {"tier": "tier2", "first_tag": "vip"}).declared(
        target={"object_type": "ticket", "key": "610"})
    tier.event("action.attempted", 2, attempt=1)
    tier.event("action.succeeded", 3, attempt=1, receipt={"external_id": "610"}).completed()
    shown = ticket(610, "open", 3, tags=["vip"], custom_fields=[{"id": 360001, "value": "tier1"}])
    built = build(tmp_path, [tier], {"zendesk": tickets(shown)},
                  systems={"zendesk": {"fields": {"tier": "$fields.custom_fields.360001", "first_tag": "tags.0"}}})
    assert built.findings("intent") == {("int_z2", "field_drift")}
    (observed,) = built.query("SELECT observed FROM findings WHERE subject_id = 'int_z2'")[0]
    assert json.loads(observed)["field_diff"] == [
        {"field": "tier", "intended": "tier2", "observed": "tier1", "system_field": "$fields.custom_fields.360001"}]


def test_a_success_recorded_with_no_receipt_anywhere_is_a_missing_receipt(tmp_path):
    # The runtime marked the call succeeded and waited for the receipt's webhook, which never
    # came; the agent's ticket update is there (its marker in the tags).
    solved = Intent("w1", "zendesk", SOLVED).declared(target={"object_type": "ticket", "key": "620"})
    solved.event("action.attempted", 2, attempt=1).event("action.succeeded", 3, attempt=1).completed()
    built = build(tmp_path, [solved], {"zendesk": tickets(ticket(620, "solved", 3, tags=["int_w1"]))})
    assert built.findings() == {("int_w1", "receipt_missing"), ("run_w1", "false_completion")}
