"""Incompleteness is a wrong verdict too: a source that matches no file stops the audit, a
system with no fresh export is named everywhere an operator looks, and copying or touching
exports never changes a verdict."""

from __future__ import annotations

import json
import os
import shutil
import time

import dagster as dg
import duckdb
import pytest
import yaml

from pipelines.cli import main
from pipelines.definitions import AUDIT_JOB, build_definitions
from pipelines.runner import run_audit
from reckon.snapshots import MissingSourceError
from reckon.workspace import Workspace
from simulator import simulate
from tests.conftest import simulate_and_audit


def retype_glob(root, source: str, paths: list[str], optional: bool | None = None) -> None:
    config = yaml.safe_load((root / "reckon.yaml").read_text())
    config["sources"][source]["paths"] = paths
    if optional is not None:
        config["sources"][source]["optional"] = optional
    (root / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_source_that_matches_no_file_fails_the_audit_by_name(tmp_path, capsys):
    sim = simulate(tmp_path / "ws", runs=30, seed=3)
    retype_glob(sim.workspace, "stripe_refunds", ["landing/strpie/*.json"])  # a typo
    with pytest.raises(MissingSourceError, match=r"source 'stripe_refunds'.*landing/strpie/\*\.json"):
        run_audit(Workspace.open(sim.workspace))
    assert main(["audit", "--workspace", str(sim.workspace)]) == 1
    assert "stripe_refunds" in capsys.readouterr().err


def test_an_optional_source_may_match_nothing_and_its_system_is_named(tmp_path, capsys):
    sim = simulate(tmp_path / "ws", runs=30, seed=3)
    retype_glob(sim.workspace, "stripe_refunds", ["landing/not-yet/*.json"], optional=True)
    audit = run_audit(Workspace.open(sim.workspace))
    assert json.loads(audit["stale_systems"]) == [{"system": "stripe", "reason": "no export",
                                                   "newest_observed_at": None}]
    # In the summary, the report's headline and a failing asset check.
    defs = build_definitions(str(sim.workspace))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(AUDIT_JOB).execute_in_process(instance=instance, raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["systems_fresh"].passed is False
    assert "stripe (no export)" in checks["systems_fresh"].metadata["stale_systems"].value
    report = next((sim.workspace / "exports").glob("report-*.html")).read_text()
    assert "Systems without a fresh export" in report
    assert main(["audit", "--workspace", str(sim.workspace)]) == 0
    out = capsys.readouterr().out
    assert "Systems without a fresh export" in out and "| stripe | no export |" in out


def test_an_export_older_than_the_log_by_more_than_its_settle_window_is_named(tmp_path):
    sim = simulate(tmp_path / "ws", runs=30, seed=4)
    for page in (sim.workspace / "landing" / "zendesk").glob("*.json"):
        stamp = page.stat().st_mtime - 3 * 3600  # zendesk settles in 15m
        os.utime(page, (stamp, stamp))
    audit = run_audit(Workspace.open(sim.workspace))
    assert "zendesk" in audit["stale_systems"] and "stripe" not in audit["stale_systems"]


def test_a_copied_and_touched_workspace_audits_to_the_same_findings(tmp_path):
    a = simulate_and_audit(tmp_path / "ws", runs=60, seed=6)
    before = sorted(a.query("SELECT finding_id, state_hash FROM findings"))
    copy = tmp_path / "copy"
    shutil.copytree(a.ws.root, copy, copy_function=shutil.copy)  # `cp -r`: new file times
    later = time.time() + 7 * 86400
    for path in (copy / "landing").rglob("*"):
        os.utime(path, (later, later))
    ws = Workspace.open(copy)
    snapshots = sorted(p.name for p in ws.snapshots.rglob("snapshot_id=*"))
    again = run_audit(ws)
    assert sorted(p.name for p in ws.snapshots.rglob("snapshot_id=*")) == snapshots  # nothing read again
    assert again["audit_id"] == a.audit["audit_id"] and again["as_of"] == a.audit["as_of"]
    with duckdb.connect(str(ws.database), read_only=True) as con:
        assert sorted(con.execute("SELECT finding_id, state_hash FROM findings").fetchall()) == before
