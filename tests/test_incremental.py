"""Incremental audits give exactly what full audits give.

Two workspaces see the same files day after day: one recomputes only the runs its scope
takes (the default), the other has `policies.incremental: false` and rebuilds every model
every audit. Every model table, finding, action, lifecycle row and metric must match, while
the incremental one recomputes only part of the runs.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from bench.generate import generate
from pipelines.buckets import split_steps
from pipelines.runner import run_audit
from pipelines.steps import MODEL_TABLES as COMMIT_STEP
from pipelines.steps import AuditRun, audit_steps, run_step
from reckon import buckets
from reckon.database import search_internal
from reckon.incremental import FINGERPRINTED, MODEL_TABLES
from reckon.workspace import Workspace
from rules import RULES_DIR, load_rules
from simulator import simulate
from simulator.timeline import advance

AUDIT_TABLES = {
    "findings_history": "*",
    "repair_actions_history": "*",
    "lifecycle_events": "*",
    "metrics": "*",
    "audits": "* EXCLUDE (started_at, finished_at)",
    "suspicious_run_reasons": "*",
    "suspicious_runs": "*",
}


def always_full(root: Path) -> None:
    path = root / "reckon.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("policies", {})["incremental"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def twins(tmp_path: Path, runs: int, seed: int) -> dict[str, Path]:
    """The same simulated workspace twice, each audited once: one incremental, one always full."""
    roots = {"incremental": tmp_path / "inc" / "ws", "full": tmp_path / "full" / "ws"}
    for name, root in roots.items():
        simulate(root, runs, seed)
        if name == "full":
            always_full(root)
        run_audit(Workspace.open(root))
    return roots


def contents(root: Path, tables: dict[str, str]) -> dict[str, list[tuple]]:
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall() for t, cols in tables.items()}


def scope(root: Path) -> tuple[bool, int, int]:
    """Whether the last audit was incremental, the runs it recomputed, and all runs."""
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        return con.execute("SELECT (SELECT incremental FROM audit_context), (SELECT count(*) FROM scope_runs), "
                           "(SELECT count(*) FROM run_state)").fetchone()


def assert_same(incremental: Path, full: Path) -> None:
    tables = {**{t: "*" for t in (*MODEL_TABLES, "observed_keys")}, **AUDIT_TABLES}
    got, want = contents(incremental, tables), contents(full, tables)
    for table in tables:
        assert got[table] == want[table], table
    assert want["findings_history"], "the scenario must produce findings"


def test_a_timeline_audited_incrementally_equals_full_audits(tmp_path):
    """Three simulated days with late webhooks, repairs, decisions and regressions."""
    roots = twins(tmp_path, 60, 5)
    assert_same(roots["incremental"], roots["full"])
    for day in (2, 3):
        for root in roots.values():
            advance(root, day, 5)
            run_audit(Workspace.open(root))
        incremental, recomputed, runs = scope(roots["incremental"])
        assert incremental and 0 < recomputed < runs
        assert scope(roots["full"])[:2] == (False, runs)
        assert_same(roots["incremental"], roots["full"])


def findings_context(root: Path) -> list[tuple]:
    """What each current finding carries, whatever the audits before it were."""
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        return con.execute("SELECT finding_id, intended, recorded, observed, evidence, state_hash FROM findings "
                           "ORDER BY ALL").fetchall()


def test_an_intents_finding_context_is_rebuilt_only_for_the_runs_in_scope(tmp_path):
    """The JSON context of an intent's finding is kept between audits: an incremental audit
    rebuilds the rows of the runs in its scope and keeps every other one as it was. The
    repair plan reads an open intent from that context (`plan`), not from the wide tables:
    every kept row, built this audit or kept from an older one, holds what `intent_state`,
    `intended` and `observed` hold now."""
    roots = twins(tmp_path, 60, 5)
    for root in roots.values():
        advance(root, 2, 5)
        run_audit(Workspace.open(root))
    assert_same(roots["incremental"], roots["full"])
    with duckdb.connect(str(roots["incremental"] / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        built = con.execute(
            "SELECT DISTINCT run_id IN (SELECT run_id FROM scope_runs), audit_id = (SELECT audit_id FROM audit_context) "
            "FROM intent_subject_context").fetchall()
        rows = con.execute(
            "SELECT c.plan, s, i.expected, o.fields "
            "FROM intent_subject_context c JOIN intent_state s ON s.intent_id = c.subject_id "
            "JOIN intended i ON i.intent_id = c.subject_id "
            "LEFT JOIN observed o ON o.system = s.system AND o.external_id = s.external_id").fetchall()
    # Rebuilt in scope, kept outside it; both occur.
    assert sorted(built) == [(False, False), (True, True)]
    assert rows
    for plan, state, expected, fields in rows:
        assert len(plan) > 20
        # `expected` and `fields` live in `intended` and `observed`; every other name is an `intent_state` column.
        now = {name: state[name] for name in plan.keys() - {"expected", "fields"}} | {"expected": expected, "fields": fields}
        assert plan == now


def test_findings_lost_after_the_models_commit_are_caught_up(tmp_path):
    """A worker dies between the models' commit and the findings step: the audit run again
    on the same snapshots still gives every finding the context of the runs the lost one
    recomputed."""
    roots = twins(tmp_path, 60, 5)
    for root in roots.values():
        advance(root, 2, 5)
    run_audit(Workspace.open(roots["full"]))
    run = AuditRun(Workspace.open(roots["incremental"]))
    try:
        for step in audit_steps(run.ws.config, report=False):
            run_step(step, run)
            if step.name == COMMIT_STEP:
                break
    finally:
        run.close()
    assert scope(roots["incremental"])[1] > 0
    run_audit(Workspace.open(roots["incremental"]))
    assert scope(roots["incremental"])[0]
    assert findings_context(roots["incremental"]) == findings_context(roots["full"])


def test_a_new_day_recomputes_only_what_it_touches(tmp_path):
    """The benchmark's shape: days of history, then one more day of runs (with late events
    for older runs, redelivered webhooks and faults)."""
    history, next_day = tmp_path / "history", tmp_path / "next"
    generate(history, 6_000, days=3, seed=4, page_objects=2_000, part_events=5_000)
    generate(next_day, 2_000, days=1, seed=4, first_day=4, page_objects=2_000, part_events=5_000)
    full = tmp_path / "full"
    shutil.copytree(history, full)
    always_full(full)
    for root in (history, full):
        run_audit(Workspace.open(root))
        for folder in (next_day / "landing").iterdir():
            for path in sorted(folder.iterdir()):
                target = root / "landing" / folder.name / path.name
                shutil.copy2(path, target)
                os.utime(target, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
        run_audit(Workspace.open(root))
    incremental, recomputed, runs = scope(history)
    assert incremental and 0 < recomputed < runs / 2
    assert_same(history, full)


def test_changed_rules_or_catalog_start_over(tmp_path):
    root = tmp_path / "ws"
    simulate(root, 20, 3)
    run_audit(Workspace.open(root))
    run_audit(Workspace.open(root))
    assert scope(root)[0]  # nothing new: incremental, only the unsettled runs
    path = root / "reckon.yaml"
    config = yaml.safe_load(path.read_text())
    workflow = next(iter(config["catalog"].values()))
    workflow["completion_window"] = "3h"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    run_audit(Workspace.open(root))
    incremental, recomputed, runs = scope(root)
    assert not incremental and recomputed == runs


def test_the_fingerprint_covers_the_sql_of_every_kept_table():
    """The intents' finding context and the `scope: run` rules' hits are kept, so the SQL
    that builds them is fingerprinted with the models: a changed script starts over instead
    of keeping rows of the old one."""
    kept_builders = {p.relative_to(RULES_DIR).as_posix() for p in FINGERPRINTED}
    assert "findings/10_subjects.sql" in kept_builders
    scopes = {f"mismatches/{rule.path.name}": rule.scope for rule in load_rules()}
    assert {path for path, scope in scopes.items() if scope == "run"} == kept_builders & scopes.keys()
    assert set(scopes.values()) == {"run", "all"}
    assert {p.relative_to(RULES_DIR).as_posix() for p in RULES_DIR.glob("models/**/*.sql")} <= kept_builders


@pytest.mark.parametrize(("source", "landing"), [("workflow_log", "events"), ("stripe_refunds", "stripe")])
def test_a_pruned_snapshot_starts_over(tmp_path, source, landing):
    """A workspace whose snapshots (and landing files) of one source were removed."""
    root = tmp_path / "ws"
    simulate(root, 20, 3)
    run_audit(Workspace.open(root))
    shutil.rmtree(root / "snapshots" / f"source={source}")
    shutil.rmtree(root / "landing" / landing)
    config = root / "reckon.yaml"  # a source with nothing left must say it may be empty
    config.write_text(config.read_text().replace(f"  {source}:\n", f"  {source}:\n    optional: true\n", 1))
    run_audit(Workspace.open(root))
    assert not scope(root)[0]


def _stripe_refunds(root: Path) -> list[dict]:
    """Refund objects of the landing Stripe pages (events wrap them in data.object)."""
    refunds = []
    for path in sorted((root / "landing" / "stripe").glob("*.json")):
        for item in json.loads(path.read_text())["data"]:
            refunds.append(item["data"]["object"] if item.get("object") == "event" else item)
    return refunds


def _land(root: Path, relative: str, text: str) -> None:
    """A new landing file, exported an hour after the newest one."""
    newest = max(p.stat().st_mtime for p in (root / "landing").rglob("*") if p.is_file())
    path = root / "landing" / relative
    path.write_text(text)
    os.utime(path, (newest + 3600, newest + 3600))


def test_a_kept_version_competes_with_the_new_ones(tmp_path):
    """A later export lists a refund again as pending, dated a minute later: a pending
    version never outranks a terminal one, so the version kept from the first audit
    (succeeded) must win again, and the object's first-seen time stay the kept one. An
    incremental audit reads the kept version back for that."""
    roots = twins(tmp_path, 40, 3)
    refund = next(r for r in _stripe_refunds(roots["full"])
                  if r.get("status") == "succeeded" and r.get("metadata", {}).get("reckon_intent_id"))
    stale = {**refund, "status": "pending", "created": refund["created"] + 60}
    page = json.dumps({"object": "list", "data": [stale], "has_more": False, "url": "/v1/refunds"})
    for root in roots.values():
        _land(root, "stripe/relisted-1.json", page)
        run_audit(Workspace.open(root))
    assert scope(roots["incremental"])[0]
    assert_same(roots["incremental"], roots["full"])
    with duckdb.connect(str(roots["incremental"] / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        state, created = con.execute("SELECT state, epoch(created_at)::BIGINT FROM observed "
                                     "WHERE system = 'stripe' AND external_id = ?", [refund["id"]]).fetchone()
    assert (state, created) == ("success", refund["created"])


def test_natural_key_groups_couple_runs_across_audits(tmp_path):
    """Runs that share a natural key but nothing else: a refund nobody claims appears with
    the charge of an earlier run's refund (that run gains a weaker match), then another
    run records it as its receipt (the earlier run loses it again)."""
    roots = twins(tmp_path, 40, 3)
    claimed = [r for r in _stripe_refunds(roots["full"]) if r.get("metadata", {}).get("reckon_intent_id")]
    with duckdb.connect(str(roots["full"] / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        # The owner's run is settled: nothing of its own brings it into the next scope. Its
        # log gives it a reason to be verified (a timeout, a blocked call, a flag), which the
        # coupled run's kept rows must carry into the scope.
        settled = {i for (i,) in con.execute(
            "SELECT intent_id FROM intended JOIN run_state USING (run_id) WHERE past_window AND all_intents_fresh "
            "AND run_id IN (SELECT run_id FROM recorded_reasons)").fetchall()}
        owner = next(r for r in claimed if r["metadata"]["reckon_intent_id"] in settled)
        other = next(r for r in claimed if r["charge"] != owner["charge"])
        run_id, workflow = con.execute("SELECT run_id, workflow FROM intended WHERE intent_id = ?",
                                       [other["metadata"]["reckon_intent_id"]]).fetchone()
    extra = {**owner, "id": "re_unclaimed_1", "metadata": {}, "created": owner["created"] + 60}
    # Dated within its export (an event after it is quarantined as in the future).
    landed = max(p.stat().st_mtime for p in (roots["full"] / "landing").rglob("*") if p.is_file()) + 3600
    at = datetime.fromtimestamp(landed, UTC).isoformat()
    receipt = {"event_id": "ev_late_receipt_1", "ts": at, "type": "receipt.recorded",
               "run_id": run_id, "workflow": workflow, "intent_id": other["metadata"]["reckon_intent_id"],
               "receipt": {"external_id": "re_unclaimed_1"}}
    steps = [("stripe/extra-1.json", json.dumps({"object": "list", "data": [extra], "has_more": False,
                                                 "url": "/v1/refunds"})),
             ("events/late-receipt.jsonl", json.dumps(receipt) + "\n")]
    # Who matches the new refund after each step: the owner by natural key, then the other by receipt.
    expected = [{(owner["metadata"]["reckon_intent_id"], "natural_key")},
                {(other["metadata"]["reckon_intent_id"], "receipt")}]
    for (relative, text), matched in zip(steps, expected, strict=True):
        for root in roots.values():
            _land(root, relative, text)
            run_audit(Workspace.open(root))
        assert scope(roots["incremental"])[0]
        assert_same(roots["incremental"], roots["full"])
        with duckdb.connect(str(roots["full"] / "reckon.duckdb"), read_only=True) as con:
            search_internal(con)
            assert set(con.execute(
                "SELECT intent_id, matched_by FROM matches WHERE external_id = 're_unclaimed_1'").fetchall()) == matched
    with duckdb.connect(str(roots["incremental"] / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)  # the last step coupled the owner's run back in
        assert con.execute("SELECT count(*) FROM coupled_runs JOIN intended USING (run_id) WHERE intent_id = ?",
                           [owner["metadata"]["reckon_intent_id"]]).fetchone()[0] == 1


def test_a_unique_natural_key_couples_a_run_that_had_no_object(tmp_path):
    """A contact the agent's intent never found turns up, made by hand (no marker): its
    email, a unique natural key, is the only link to the intent's run, which has nothing
    new of its own. The natural-key group couples the run to the scope, where the intent
    matches the contact."""
    probe = tmp_path / "probe" / "ws"
    simulate(probe, 40, 3)
    run_audit(Workspace.open(probe))
    with duckdb.connect(str(probe / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)  # an intent that creates a contact, found by its email
        intent_id, contact_id = con.execute(
            "SELECT intent_id, external_id FROM intent_state WHERE system = 'hubspot' AND natural_key IS NOT NULL "
            "AND external_id IS NOT NULL ORDER BY intent_id LIMIT 1").fetchone()
    roots = {"incremental": tmp_path / "inc" / "ws", "full": tmp_path / "full" / "ws"}
    for name, root in roots.items():
        simulate(root, 40, 3)
        if name == "full":
            always_full(root)
    page = roots["full"] / "landing" / "hubspot" / "contacts-page-1.json"
    contacts = json.loads(page.read_text())["results"]
    lost = next(c for c in contacts if c["id"] == contact_id)
    for root in roots.values():  # the first export lacks the contact
        path = root / "landing" / "hubspot" / "contacts-page-1.json"
        stat = path.stat()
        path.write_text(json.dumps({"results": [c for c in contacts if c is not lost]}))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        run_audit(Workspace.open(root))
    made_by_hand = {**lost, "id": "90000001",
                    "properties": {k: v for k, v in lost["properties"].items() if k != "reckon_intent_id"}
                    | {"hs_object_id": "90000001"}}
    for root in roots.values():
        _land(root, "hubspot/by-hand.json", json.dumps({"results": [made_by_hand]}))
        run_audit(Workspace.open(root))
    assert_same(roots["incremental"], roots["full"])
    with duckdb.connect(str(roots["incremental"] / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        assert con.execute("SELECT intent_id, matched_by FROM matches WHERE external_id = '90000001'"
                           ).fetchall() == [(intent_id, "natural_key")]
        assert con.execute("SELECT count(*) FROM coupled_runs JOIN intended USING (run_id) WHERE intent_id = ?",
                           [intent_id]).fetchone()[0] == 1


def test_a_full_audit_in_buckets_equals_one_pass(tmp_path):
    """Buckets of runs (a hash of run_id), each audited on its own, merge into exactly the
    single-pass layers, findings, plan and metrics."""
    one_pass, bucketed = tmp_path / "one", tmp_path / "buckets"
    generate(one_pass, 4_000, days=2, seed=9, page_objects=2_000, part_events=5_000)
    always_full(one_pass)
    shutil.copytree(one_pass, bucketed)
    run_audit(Workspace.open(one_pass))
    run_audit(Workspace.open(bucketed), buckets=4)
    assert_same(bucketed, one_pass)
    assert not (bucketed / "buckets").exists()  # the passes' Parquet, merged, is removed


def test_buckets_whose_natural_key_groups_span_buckets_equal_one_pass(tmp_path):
    """Claims first, for every bucket, then matches: a shared natural key (the owner's
    address) groups objects that intents of every bucket claim, and an object claimed by a
    later bucket is never a natural-key candidate of an earlier one. Model tables, findings
    and repair actions (ids included) and metrics equal one pass."""
    one_pass, bucketed = tmp_path / "one" / "ws", tmp_path / "buckets" / "ws"
    simulate(one_pass, 120, 5)
    always_full(one_pass)
    shutil.copytree(one_pass, bucketed)
    run_audit(Workspace.open(one_pass))
    run_audit(Workspace.open(bucketed), buckets=4)
    assert_same(bucketed, one_pass)
    with duckdb.connect(str(one_pass / "reckon.duckdb"), read_only=True) as con:
        search_internal(con)
        spanning = con.execute("""
            SELECT count(*) FROM (
                SELECT o.system, o.natural_key FROM claims c JOIN observed o USING (system, external_id)
                WHERE o.natural_key IS NOT NULL GROUP BY ALL HAVING count(DISTINCT hash(c.run_id) % ?) > 1)""",
                               [4]).fetchone()[0]
        by_natural_key = con.execute("SELECT count(*) FROM matches WHERE matched_by = 'natural_key'").fetchone()[0]
    assert spanning > 0, "a natural-key group must hold objects claimed from several buckets"
    assert by_natural_key > 0, "the scenario must match some intent by natural key"


def test_a_matches_pass_reads_the_unclaimed_objects_computed_once(tmp_path):
    """The unclaimed objects are computed once per audit, one slice of the objects per
    pass, after every bucket's claims: a matches pass reads its own bucket's claims and
    those slices, not every claim, and takes its natural-key candidates from the slices
    alone (emptied, it finds none)."""
    root = tmp_path / "ws"
    simulate(root, 120, 5)
    always_full(root)
    ws = Workspace.open(root)
    before = split_steps(audit_steps(ws.config, 4, report=False))[0]
    run = AuditRun(ws, buckets=4)
    try:
        for step in before:
            run_step(step, run)
    finally:
        run.close()
    base = buckets.current(ws)
    for phase in ("claims", "unclaimed"):
        for bucket in range(4):
            buckets.run_pass(ws, base, phase, 4, bucket)
    inputs = buckets.phase_inputs(base, "matches", 4, 1)
    assert inputs["claims"] == [buckets.bucket_file(base, "claims", "claims", 1)]
    assert inputs["unclaimed"] == [buckets.bucket_file(base, "unclaimed", "unclaimed", b) for b in range(4)]
    con = duckdb.connect()
    unclaimed, distinct, claimed = con.execute(
        "SELECT count(*), count(DISTINCT (s.system, s.external_id)), count(c.system) FROM read_parquet(?) s "
        "LEFT JOIN (SELECT DISTINCT system, external_id FROM read_parquet(?)) c USING (system, external_id)",
        [[str(p) for p in inputs["unclaimed"]], [str(buckets.bucket_file(base, "claims", "claims", b)) for b in range(4)]],
    ).fetchone()
    assert unclaimed == distinct > 0 and claimed == 0  # each unclaimed object in one slice

    def natural_key_matches(bucket: int) -> int:
        buckets.run_pass(ws, base, "matches", 4, bucket)
        return con.execute("SELECT count(*) FROM read_parquet(?) WHERE matched_by = 'natural_key'",
                           [str(buckets.bucket_file(base, "matches", "matches", bucket))]).fetchone()[0]

    found = {b: natural_key_matches(b) for b in range(4)}
    assert sum(found.values()) > 0, "the scenario must match some intent by natural key"
    for path in inputs["unclaimed"]:
        con.execute("COPY (FROM read_parquet(?) LIMIT 0) TO ? (FORMAT parquet)", [str(path), f"{path}.empty"])
        os.replace(f"{path}.empty", path)
    assert {b: natural_key_matches(b) for b in range(4)} == dict.fromkeys(range(4), 0)
    con.close()


def test_buckets_need_a_full_audit(tmp_path):
    root = tmp_path / "ws"
    simulate(root, 10, 3)
    run_audit(Workspace.open(root))  # kept tables: the next audit is incremental
    with pytest.raises(ValueError, match="incremental"):
        run_audit(Workspace.open(root), buckets=2)
