"""Suspicious runs (TAXONOMY.md): every trigger sends its run to reconciliation with the
reason kept, and every suspicious run gets a verdict in the same audit, its findings or
`verified_consistent` with the evidence checked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reckon import database
from reckon.workspace import Workspace
from reports.summary import summary_text
from tests.workspaces import START, Intent, build, unix


def refund(key: str) -> dict:
    return {"id": f"re_{key}", "object": "refund", "amount": 1000, "currency": "usd", "charge": f"ch_{key}",
            "created": unix(START + timedelta(minutes=3)), "status": "succeeded",
            "metadata": {"reckon_intent_id": f"int_{key}"}}


def declared(key: str) -> Intent:
    return Intent(key, "stripe", {"charge": f"ch_{key}", "amount": 1000, "currency": "usd"}).declared()


def succeeded(key: str) -> Intent:
    intent = declared(key).event("action.attempted", 2, attempt=1)
    return intent.event("action.succeeded", 3, attempt=1, receipt={"external_id": f"re_{key}"})


# run key -> (its events, whether its refund exists, the reasons it must be suspicious for)
RUNS = {
    "ok": (lambda: succeeded("ok").completed(), True, set()),
    "at": (lambda: declared("at").event("action.attempted", 2, attempt=1).completed(), True,
           {"attempted_without_receipt"}),
    "to": (lambda: declared("to").event("action.attempted", 2, attempt=1)
           .event("action.timed_out", 3, attempt=1, error={"kind": "timeout"}),
           False, {"attempted_without_receipt", "timeout_after_call", "past_completion_window"}),
    "er": (lambda: declared("er").event("action.attempted", 2, attempt=1)
           .event("action.failed", 3, attempt=1, error={"kind": "timeout", "message": "read timed out"})
           .event("run.failed", 4, status="failed"), False, {"timeout_after_call", "required_step_not_done"}),
    "pw": (lambda: succeeded("pw"), True, {"past_completion_window"}),
    "rq": (lambda: declared("rq").completed(), False, {"required_step_not_done"}),
    "bl": (lambda: succeeded("bl").event("action.blocked", 4, attempt=2, error={"kind": "idempotency_conflict"})
           .completed(), True, {"duplicate_attempt_blocked"}),
    "ic": (lambda: declared("ic").event("action.attempted", 2, attempt=1)
           .event("action.failed", 3, attempt=1, error={"kind": "idempotency_conflict"}).completed(), False,
           {"duplicate_attempt_blocked", "required_step_not_done"}),
    "fl": (lambda: succeeded("fl").completed().event("run.flagged", 20, actor="ops.lead",
                                                     description="customer says refunded twice"), True,
           {"operator_flag"}),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    intents = [make() for make, _, _ in RUNS.values()]
    refunds = [refund(key) for key, (_, exists, _) in RUNS.items() if exists]
    return build(tmp_path_factory.mktemp("suspicious"), intents, {"stripe": {"object": "list", "data": refunds}})


def test_every_trigger_sends_its_run_to_reconciliation_with_its_reasons(built):
    got = {run: set(reasons) for run, reasons in built.query("SELECT run_id, reasons FROM suspicious_runs")}
    assert got == {f"run_{key}": reasons for key, (_, _, reasons) in RUNS.items() if reasons}
    # each reason row names what triggered it
    details = dict(built.query("SELECT run_id || ' ' || reason, list(detail) FROM suspicious_run_reasons "
                               "WHERE reason IN ('timeout_after_call', 'duplicate_attempt_blocked') GROUP BY ALL"))
    # by type, by error kind or by both: one row per event
    assert details == {"run_to timeout_after_call": ["int_to"], "run_er timeout_after_call": ["int_er"],
                       "run_bl duplicate_attempt_blocked": ["int_bl"], "run_ic duplicate_attempt_blocked": ["int_ic"]}
    (note,) = built.query("SELECT note FROM suspicious_run_reasons WHERE reason = 'operator_flag'")[0]
    assert note == "ops.lead: customer says refunded twice"


def test_every_suspicious_run_has_a_verdict_in_the_same_audit(built):
    rows = {run: (verdict, types, finding_ids) for run, verdict, types, finding_ids in built.query(
        "SELECT run_id, verdict, mismatch_types, finding_ids FROM suspicious_runs")}
    findings = {}
    for run, finding_id, mismatch_type in built.query("SELECT run_id, finding_id, mismatch_type FROM findings"):
        findings.setdefault(run, set()).add((finding_id, mismatch_type))
    for run, (verdict, types, finding_ids) in rows.items():
        expected = findings.get(run, set())
        assert verdict == ("findings" if expected else "verified_consistent"), run
        assert set(finding_ids) == {f for f, _ in expected} and set(types) == {t for _, t in expected}
    # A blocked duplicate and a flag on runs whose refund is there as intended: checked, consistent.
    assert rows["run_bl"][0] == rows["run_fl"][0] == "verified_consistent"
    assert rows["run_at"][0] == "findings" and "receipt_missing" in rows["run_at"][1]


def test_a_consistent_verdict_carries_the_evidence_checked(built):
    (evidence,) = built.query("SELECT evidence FROM suspicious_runs WHERE run_id = 'run_fl'")[0]
    assert evidence == [{"intent_id": "int_fl", "recorded": "succeeded", "observed": "present",
                         "external_id": "re_fl", "matched_by": evidence[0]["matched_by"],
                         "snapshot_id": evidence[0]["snapshot_id"]}]
    assert evidence[0]["matched_by"] and evidence[0]["snapshot_id"]


def test_runs_entering_reconciliation_counts_suspicious_runs_not_findings(built):
    suspicious = sum(1 for _, _, reasons in RUNS.values() if reasons)
    (value,) = built.query("SELECT value FROM metrics WHERE metric = 'runs_entering_reconciliation' "
                           "AND workflow = '*'")[0]
    with_findings = built.query("SELECT count(DISTINCT run_id) FROM findings WHERE run_id IS NOT NULL")[0][0]
    assert value == suspicious and with_findings != suspicious  # a count of findings' runs would differ


def test_a_flag_file_sends_its_run_to_reconciliation(tmp_path):
    unflagged = build(tmp_path / "a", [succeeded("ok").completed()],
                      {"stripe": {"object": "list", "data": [refund("ok")]}})
    flagged = build(tmp_path / "b", [succeeded("ok").completed()],
                    {"stripe": {"object": "list", "data": [refund("ok")]}}, audit=False)
    (flagged.root / "flags").mkdir()
    # Excel's byte order mark; a good flag, one for a run the log lacks, one without a reason.
    (flagged.root / "flags" / "ops.csv").write_text(
        "\ufeffrun_id,operator,reason,flagged_at\n"
        "run_ok,ops.lead,customer says refunded twice,2026-11-20T11:00:00Z\n"
        "run_ghost,ops.lead,no such run here,2026-11-20T11:05:00+01:00\n"
        "run_ok,ops.lead,,2026-11-20T11:00:00Z\n", encoding="utf-8")
    flagged = build(flagged.root, [succeeded("ok").completed()],
                    {"stripe": {"object": "list", "data": [refund("ok")]}})
    assert unflagged.query("SELECT count(*) FROM suspicious_runs") == [(0,)]
    assert flagged.audit["audit_id"] != unflagged.audit["audit_id"]  # the flags are part of the audit
    rows = dict(flagged.query("SELECT run_id, verdict FROM suspicious_runs"))
    assert rows == {"run_ok": "verified_consistent", "run_ghost": "run_not_in_log"}
    assert flagged.query("SELECT detail, note FROM suspicious_run_reasons WHERE run_id = 'run_ok'") == [
        ("flags/ops.csv:2", "ops.lead: customer says refunded twice")]
    assert flagged.query("SELECT source, source_file, source_record, reason FROM quarantine") == [
        ("flags", "flags/ops.csv", 4, "'reason' is required")]


def test_the_summary_counts_runs_by_reason_and_verdict(built):
    with database.connect_read_copy(Workspace.open(built.root)) as con:
        text = summary_text(con)
    expected = built.query("SELECT r.reason, s.verdict, count(DISTINCT r.run_id) FROM suspicious_run_reasons r "
                           "JOIN suspicious_runs s USING (run_id) GROUP BY ALL")
    assert expected and all(f"| {reason} | {verdict} | {n} |" in text for reason, verdict, n in expected)


# --- on simulated workspaces, against the simulator's labels ---------------------------------


def reason_rows(a) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(found, labelled) (run_id, reason) pairs."""
    labelled = {(s["run_id"], reason) for s in a.scenarios() for reason in s["suspicious"]}
    return set(a.query("SELECT DISTINCT run_id, reason FROM suspicious_run_reasons")), labelled


@pytest.mark.parametrize("seed", [21, 22])
def test_every_reason_exactly_as_the_simulator_labels_it(audited, seed):
    a = audited(seed, 90)
    found, labelled = reason_rows(a)
    reasons = {r for _, r in labelled}
    assert reasons == {"attempted_without_receipt", "timeout_after_call", "past_completion_window",
                       "required_step_not_done", "duplicate_attempt_blocked", "operator_flag"}
    for reason in reasons:
        got, due = {p for p in found if p[1] == reason}, {p for p in labelled if p[1] == reason}
        assert got == due, f"{reason}: missed {sorted(due - got)}, extra {sorted(got - due)}"
    assert {r for _, r in found} == reasons


def test_every_simulated_suspicious_run_has_its_labelled_verdict(audited):
    a = audited(21, 90)
    verdicts = dict(a.query("SELECT run_id, verdict FROM suspicious_runs"))
    expected = {s["run_id"]: s["verdict"] for s in a.scenarios() if s["suspicious"]}
    assert verdicts == expected and None not in verdicts.values()
    assert {"findings", "verified_consistent"} == set(verdicts.values())
    (entering,) = a.query("SELECT value FROM metrics WHERE metric = 'runs_entering_reconciliation' "
                          "AND workflow = '*'")[0]
    assert entering == len(expected)


def test_benign_triggers_are_verified_consistent_with_what_was_checked(audited):
    a = audited(21, 90)
    benign = {s["run_id"]: s for s in a.scenarios() if s["scenario"] in ("C8", "C9", "C10")}
    assert {s["scenario"] for s in benign.values()} == {"C8", "C9", "C10"}
    rows = a.query("SELECT run_id, verdict, evidence, reasons FROM suspicious_runs WHERE list_contains(?, run_id)",
                   [sorted(benign)])
    assert len(rows) == len(benign)
    declared = dict(a.query("SELECT run_id, list(intent_id ORDER BY intent_id) FROM intended "
                            "WHERE list_contains(?, run_id) GROUP BY run_id", [sorted(benign)]))
    for run_id, verdict, evidence, reasons in rows:
        assert verdict == "verified_consistent" and sorted(reasons) == benign[run_id]["suspicious"]
        # every intent of the run checked: recorded against observed, the object and snapshot named
        assert [e["intent_id"] for e in evidence] == declared[run_id]
        assert all(e["recorded"] == "succeeded" and e["external_id"] and e["matched_by"] and e["snapshot_id"]
                   for e in evidence), evidence


def test_every_suspicious_run_carries_each_of_its_intents_as_evidence(audited):
    # 60_suspicious_runs.sql lists the evidence of the suspicious runs' intents only: none missed.
    a = audited(21, 90)
    evidence = {run_id: [e["intent_id"] for e in checked]
                for run_id, checked in a.query("SELECT run_id, evidence FROM suspicious_runs")}
    intents = dict(a.query("SELECT run_id, list(intent_id ORDER BY intent_id) FROM intended "
                           "WHERE list_contains(?, run_id) GROUP BY run_id", [sorted(evidence)]))
    assert intents and len(intents) < a.query("SELECT count(*) FROM run_state")[0][0]
    assert evidence == {run_id: intents.get(run_id, []) for run_id in evidence}
