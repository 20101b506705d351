"""The stored result of every finding (TAXONOMY.md step 5) and the prevention backlog, on a
three-day simulated workspace: the repair applied and the people involved are what the
simulated executor and operator did, and each finding's prevention line is the most
specific one configured."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.runner import run_audit
from reckon.config import load_config
from reckon.workspace import Workspace
from simulator import simulate
from simulator.executor import OPERATOR
from simulator.timeline import DayResult, advance

RUNS, SEED, DAYS = 60, 5, 3
# A system line where a workflow line exists too (receipt_missing: onboard_customer's
# welcome email goes through SendGrid): the workflow's must win.
SENDGRID_LINE = "read the message id back from SendGrid before acknowledging"


@dataclass
class Days:
    root: Path
    days: list[DayResult]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.root / "reckon.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def stored(self, columns: str) -> dict[str, tuple]:
        return {row[0]: row[1:] for row in self.query(f"SELECT finding_id, {columns} FROM stored_results")}


@pytest.fixture(scope="module")
def tl(tmp_path_factory) -> Days:
    root = tmp_path_factory.mktemp("stored") / "ws"
    simulate(root, RUNS, SEED)
    config = yaml.safe_load((root / "reckon.yaml").read_text())
    config["prevention"]["receipt_missing"]["systems"]["sendgrid"] = SENDGRID_LINE
    (root / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_audit(Workspace.open(root))
    days = []
    for day in range(2, DAYS + 1):
        days.append(advance(root, day, SEED))
        run_audit(Workspace.open(root))
    return Days(root, days)


def test_one_stored_result_per_finding_ever_found(tl):
    ever = {f for (f,) in tl.query("SELECT DISTINCT finding_id FROM findings_history")}
    stored = tl.stored("audits_present, first_seen_at, last_seen_at")
    assert ever and set(stored) == ever
    present = dict(tl.query("SELECT finding_id, count(*) FROM findings_history GROUP BY ALL"))
    assert {f: row[0] for f, row in stored.items()} == present
    assert all(first <= last for _, first, last in stored.values())


def test_the_applied_repair_is_the_one_the_executor_applied(tl):
    applied: dict[str, dict[str, dict]] = defaultdict(dict)  # finding -> action id -> action
    for day in tl.days:
        for outcome in day.verdicts("applied"):
            applied[outcome.action["finding_id"]][outcome.action_id] = outcome.action
    assert applied
    stored = tl.stored("applied_action_id, applied_pattern, applied_at, applied_by, proposed_action_ids")
    for finding_id, (action_id, pattern, applied_at, applied_by, proposed) in stored.items():
        if finding_id not in applied:
            assert (action_id, pattern, applied_at) == (None, None, None), finding_id
            continue
        action = applied[finding_id][action_id]
        assert pattern == action["pattern"] and applied_at is not None and applied_by == "agent"
        assert set(applied[finding_id]) <= set(proposed)  # an applied action was proposed first


def test_people_involved_are_the_approvers_and_the_operator_who_decided(tl):
    approved = {o.action_id: o.action["requires_approval"] for d in tl.days for o in d.verdicts("applied")}
    decided = {d.events["decided"] for d in tl.days if d.events["decided"]}
    assert decided and any(approved.values()) and not all(approved.values())
    rows = tl.stored("applied_action_id, person_roles, person_involved, people, decision, decided_by, approved_by")
    for finding_id, (action_id, roles, involved, people, decision, decided_by, approved_by) in rows.items():
        expected = []
        if finding_id in decided:
            expected.append("decision")
            assert (decision, decided_by) == ("accept_external_truth", OPERATOR)
        if approved.get(action_id):
            expected.append("approval")
            assert approved_by == OPERATOR
        assert roles == expected, finding_id
        assert involved == bool(expected) and people == ([OPERATOR] if expected else [])


def test_truth_is_verified_by_the_snapshot_of_the_findings_system(tl):
    snapshots = {s: (system, layer, origin) for s, system, layer, origin in
                 tl.query("SELECT snapshot_id, system, layer, origin FROM cfg_snapshots")}
    rows = tl.query("SELECT s.subject_kind, s.system, s.verified_by, s.verified_snapshot_id, s.matched_by, "
                    "s.intended, s.recorded, s.observed, h.intended, h.recorded, h.observed, "
                    "coalesce(h.evidence ->> 'object_snapshot_id', h.evidence ->> 'snapshot_id'), h.evidence ->> 'matched_by' "
                    "FROM stored_results s JOIN findings_history h USING (finding_id) JOIN audits a USING (audit_id) "
                    "QUALIFY row_number() OVER (PARTITION BY finding_id ORDER BY a.seq DESC) = 1")
    assert rows and {r[2] for r in rows} == {"snapshot"}  # no live reads in this workspace
    kinds = set()
    for kind, system, _, snapshot, matched_by, *compared, object_snapshot, evidence_match in rows:
        assert snapshots[snapshot] == (system, "observed" if system else "workflow", "export")
        assert compared[:3] == compared[3:6]  # the values compared at its last audit
        assert (object_snapshot is None or snapshot == object_snapshot) and matched_by == evidence_match
        kinds.add((kind, matched_by is not None))
    assert {("intent", True), ("intent", False), ("run", False), ("effect", False)} <= kinds


def test_the_most_specific_prevention_line_wins(tl):
    config = load_config(tl.root)
    refined = {(p.mismatch_type, p.scope, p.name): p.line for p in config.prevention}
    header = dict(tl.query("SELECT mismatch_type, prevention FROM mismatch_types"))
    scopes = set()
    for mismatch_type, workflow, system, line, scope in tl.query(
            "SELECT mismatch_type, workflow, system, prevention, prevention_scope FROM stored_results"):
        for candidate in ("workflow", workflow), ("system", system), ("mismatch_type", None):
            if candidate[0] == "mismatch_type" or (mismatch_type, *candidate) in refined:
                expected = refined.get((mismatch_type, *candidate), header[mismatch_type])
                assert (line, scope) == (expected, candidate[0]), (mismatch_type, workflow, system)
                break
        scopes.add((mismatch_type, workflow, system, scope))
    # every level is exercised, and the workflow's line beats SendGrid's for the welcome email
    assert {s for *_, s in scopes} == {"workflow", "system", "mismatch_type"}
    assert ("receipt_missing", "onboard_customer", "sendgrid", "workflow") in scopes


def test_the_backlog_gathers_the_lines_per_workflow_ranked_by_recurrence(tl):
    (latest,) = tl.query("SELECT audit_id FROM audits ORDER BY seq DESC LIMIT 1")[0]
    seqs = [seq for (seq,) in tl.query("SELECT seq FROM audits ORDER BY seq")]
    present: dict[tuple, set] = defaultdict(set)  # line -> audits (seq) with a finding of it
    found: dict[tuple, set] = defaultdict(set)
    minutes = tl.query("SELECT value FROM metrics WHERE metric = 'human_cleanup_tax_minutes' AND workflow = '*' "
                       "AND audit_id = ?", [latest])
    assert minutes
    for finding_id, seq, workflow, mismatch_type, line in tl.query(
            "SELECT h.finding_id, a.seq, coalesce(h.workflow, '(none)'), h.mismatch_type, s.prevention "
            "FROM findings_history h JOIN audits a USING (audit_id) JOIN stored_results s USING (finding_id)"):
        present[(workflow, mismatch_type, line)].add(seq)
        found[(workflow, mismatch_type, line)].add(finding_id)
    rows = tl.query("SELECT workflow, mismatch_type, prevention, rank, findings, consecutive_audits, cleanup_minutes "
                    "FROM prevention_backlog WHERE audit_id = ? ORDER BY workflow, rank", [latest])
    assert {(w, t, p) for w, t, p, *_ in rows} == set(found)
    by_workflow: dict[str, list[tuple]] = defaultdict(list)
    for workflow, mismatch_type, line, rank, findings, streak, cleanup in rows:
        key = (workflow, mismatch_type, line)
        expected_streak = 0
        for seq in reversed(seqs):
            if seq not in present[key]:
                break
            expected_streak += 1
        assert (findings, streak) == (len(found[key]), expected_streak), key
        by_workflow[workflow].append((rank, (-findings, -streak, -cleanup)))
    for ranked in by_workflow.values():
        assert [r for r, _ in ranked] == list(range(1, len(ranked) + 1))
        assert [k for _, k in ranked] == sorted(k for _, k in ranked)
    # a type split in two lines by a system's refinement: one row each
    split = {(w, t) for w, t, p, *_ in rows if t == "receipt_missing" and w == "refund_order"}
    assert len([r for r in rows if (r[0], r[1]) in split]) >= 2


def test_a_finding_read_from_a_live_snapshot_says_so(tmp_path):
    """A snapshot whose manifest says `origin: live` (a read of the system's API, as `reckon
    verify` writes them) verifies the findings on the objects it shows `live`; the others,
    and every absence, stay verified by an export."""
    root = tmp_path / "ws"
    simulate(root, 30, SEED)
    ws = Workspace.open(root)
    run_audit(ws)
    manifests = sorted((root / "snapshots").glob("source=stripe_refunds/*/*/_manifest.json"))
    assert manifests
    for manifest in manifests:
        data = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**data, "origin": "live"}))
    run_audit(ws)
    with duckdb.connect(str(ws.database), read_only=True) as con:
        rows = con.execute(
            "SELECT s.system, s.verified_by, coalesce(f.evidence ->> 'object_snapshot_id', f.evidence ->> 'snapshot_id') "
            "IS NOT NULL, c.origin FROM stored_results s JOIN findings f USING (finding_id) "
            "LEFT JOIN cfg_snapshots c ON c.snapshot_id = s.verified_snapshot_id").fetchall()
    # an object shown by the live read is verified live; an absence only an export proves
    # (none is left for Stripe here, so none is named)
    assert {(by, origin) for system, by, shown, origin in rows if system == "stripe" and shown} == {("live", "live")}
    assert {by for system, by, _, _ in rows if system != "stripe"} == {"snapshot"}
    assert all(origin != "live" and by == "snapshot" for _, by, shown, origin in rows if not shown)


def test_a_stored_results_table_of_an_earlier_version_becomes_the_view(tmp_path):
    """A database where `stored_results` is a table (an earlier version's): the next audit
    (a re-run over the same snapshots) replaces it with the view, and the rows read the
    same, those of the findings gone since included."""
    root = tmp_path / "ws"
    simulate(root, 30, SEED)
    run_audit(Workspace.open(root))
    advance(root, 2, SEED)
    run_audit(Workspace.open(root))
    days = Days(root, [])
    before = days.query("SELECT * FROM stored_results")
    assert days.query("SELECT count(*) FROM stored_results ANTI JOIN findings USING (finding_id)")[0][0] > 0
    with duckdb.connect(str(root / "reckon.duckdb")) as con:
        con.execute("CREATE TABLE stored_results_table AS SELECT * FROM stored_results; DROP VIEW stored_results; "
                    "ALTER TABLE stored_results_table RENAME TO stored_results")
    run_audit(Workspace.open(root))
    assert days.query("SELECT table_type FROM information_schema.tables WHERE table_name = 'stored_results'") == [
        ("VIEW",)]
    assert days.query("SELECT * FROM stored_results") == before
