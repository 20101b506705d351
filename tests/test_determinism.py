"""Re-auditing the same snapshots gives the same findings, ids and plan files."""

from __future__ import annotations

from pipelines.runner import run_audit
from reckon.snapshots import list_snapshots
from tests.conftest import simulate_and_audit

IDS = "SELECT finding_id, mismatch_type, subject_id, detected_at FROM findings ORDER BY finding_id"
ACTIONS = "SELECT action_id, finding_id, idempotency_key, preconditions FROM repair_actions ORDER BY action_id"


def test_second_audit_on_same_snapshots_is_identical(tmp_path):
    a = simulate_and_audit(tmp_path / "ws", runs=70, seed=5)
    findings, actions = a.query(IDS), a.query(ACTIONS)
    plan = (a.ws.exports / f"repair-plan-{a.audit['audit_id']}.jsonl").read_bytes()
    snapshots = list_snapshots(a.ws)

    again = run_audit(a.ws)
    assert again["audit_id"] == a.audit["audit_id"]
    assert list_snapshots(a.ws) == snapshots  # nothing re-snapshotted
    assert a.query(IDS) == findings and a.query(ACTIONS) == actions
    assert (a.ws.exports / f"repair-plan-{again['audit_id']}.jsonl").read_bytes() == plan
    assert a.query("SELECT count(*) FROM audits") == [(1,)]
    assert a.query("SELECT count(*) FROM findings_history") == [(len(findings),)]


def test_same_exports_in_another_workspace_give_the_same_ids(tmp_path, fresh_copy):
    a = simulate_and_audit(tmp_path / "ws", runs=70, seed=6)
    b_ws = fresh_copy(a.ws)
    b = run_audit(b_ws)
    assert b["audit_id"] == a.audit["audit_id"]
    import duckdb

    with duckdb.connect(str(b_ws.database), read_only=True) as con:
        assert con.execute(IDS).fetchall() == a.query(IDS)
        assert con.execute(ACTIONS).fetchall() == a.query(ACTIONS)


def test_new_export_changes_the_audit_but_keeps_finding_ids_and_first_seen(tmp_path):
    a = simulate_and_audit(tmp_path / "ws", runs=70, seed=8)
    before = dict(a.query("SELECT finding_id, first_seen_at FROM findings"))
    # A later Stripe export with the same refunds (another file's bytes): a new snapshot,
    # with a newer observed_at
    stripe = a.ws.landing / "stripe" / "refunds-list.json"
    import os

    stat = stripe.stat()
    stripe.write_bytes(stripe.read_bytes() + b"\n")
    os.utime(stripe, (stat.st_atime, stat.st_mtime + 3600))
    later = run_audit(a.ws)
    assert later["audit_id"] != a.audit["audit_id"]
    after = dict(a.query("SELECT finding_id, first_seen_at FROM findings"))
    kept = set(before) & set(after)
    assert kept, "findings should persist across audits"
    assert all(after[f] == before[f] for f in kept)  # first_seen_at survives
    assert a.query("SELECT count(DISTINCT audit_id) FROM findings_history") == [(2,)]
