"""The command line: demo, audit, report, rules test; what operators see (progress, the
lock, version, help, exit codes); the Dagster instance that keeps the CLI's audits; a bad
drop stopping the audit."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from pipelines import cli
from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.runner import run_audit
from pipelines.steps import audit_steps
from reckon.input_gate import AuditBlocked
from reckon.locking import WorkspaceLock
from reckon.snapshots import list_snapshots
from reckon.workspace import Workspace
from simulator import simulate


def test_demo_prints_the_summary_and_outputs(tmp_path, capsys):
    assert main(["demo", "--workspace", str(tmp_path / "ws"), "--runs", "40", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for heading in ("Findings by mismatch type", "Findings by workflow", "Repair actions by pattern",
                    "Quarantined records by source", "analyst database", "repair plan"):
        assert heading in out
    # a second demo replaces the demo workspace it made
    assert main(["demo", "--workspace", str(tmp_path / "ws"), "--runs", "20", "--seed", "4"]) == 0


def test_demo_refuses_a_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--workspace", str(tmp_path)]) == 2
    assert (tmp_path / "mine.txt").exists()


def test_audit_reports_a_bad_config(tmp_path, capsys):
    (tmp_path / "reckon.yaml").write_text("version: 1\nsystems: {}\nsources: {}\n")
    assert main(["audit", "--workspace", str(tmp_path)]) == 2
    assert "sources: at least one source is required" in capsys.readouterr().err


def test_rules_test_passes(capsys):
    assert main(["rules", "test"]) == 0
    assert " 0 failed" in capsys.readouterr().out


def test_report_command_writes_masked_then_unmasked(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["demo", "--workspace", str(ws), "--runs", "20", "--seed", "5", "--days", "1"]) == 0
    assert main(["report", "--workspace", str(ws)]) == 0
    assert "UNMASKED" not in capsys.readouterr().out
    assert main(["report", "--workspace", str(ws), "--unmask"]) == 0
    assert "UNMASKED" in capsys.readouterr().out
    assert len(list((ws / "exports").glob("report-*.html"))) == 2


# --- what operators see: progress, the lock, version, help, exit codes --------------------

ROOT = Path(__file__).resolve().parents[1]


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def audited_twice(tmp_path_factory):
    """A demo workspace audited by `reckon audit` twice: with progress, then `--quiet`."""
    root = tmp_path_factory.mktemp("cli") / "ws"
    simulate(root, runs=20, seed=11)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DAGSTER_HOME", raising=False)
        first = run_main(["audit", "--workspace", str(root)])
        second = run_main(["audit", "--workspace", str(root), "--quiet"])
    return root, first, second


def test_audit_prints_one_progress_line_per_step_on_stderr(audited_twice):
    root, (code, out, err), _ = audited_twice
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("reckon: ")]
    steps = [s.name for s in audit_steps(Workspace.open(root).config)]
    assert sorted(line.split()[1] for line in lines) == sorted(steps)  # Dagster orders them its way
    by_step = {line.split()[1]: line for line in lines}
    assert re.search(r"snapshot_workflow_log +[\d,]+ rows +\d+\.\d s +\([\d,]+ records/s, [\d.,]+ MB/s\)",
                     by_step["snapshot_workflow_log"])
    assert re.search(r"findings +[\d,]+ rows +\d+\.\d s$", by_step["findings"])
    assert "reckon: " not in out  # stdout is the summary only


def test_quiet_audit_prints_no_progress(audited_twice):
    _, _, (code, out, err) = audited_twice
    assert code == 0, err
    assert "reckon: " not in err
    assert "findings," in out  # the summary still prints


def test_cli_audits_are_kept_in_the_workspace_dagster_instance(audited_twice):
    root, *_ = audited_twice
    assert (root / ".dagster" / "dagster.yaml").exists()
    assets = build_definitions(str(root)).resolve_asset_graph().get_all_asset_keys()
    with dg.DagsterInstance.from_config(str(root / ".dagster")) as instance:
        runs = instance.get_run_records()
        assert len(runs) == 2 and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        for key in assets:
            events = instance.fetch_materializations(key, limit=10).records
            assert len(events) == 2, key
        findings = instance.get_latest_materialization_event(dg.AssetKey("findings")).asset_materialization
        assert findings.metadata["rows"].value > 0
        by_type = findings.metadata["by_type"]
        assert isinstance(by_type, dg.TableMetadataValue)
        assert {c.name: c.type for c in by_type.schema.columns}["findings"] == "int"
        assert sum(r.data["findings"] for r in by_type.records) == findings.metadata["rows"].value


def test_dagster_home_when_set_keeps_the_runs(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    simulate(root, runs=5, seed=2)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert run_main(["audit", "--workspace", str(root), "--quiet"])[0] == 0
    assert not (root / ".dagster").exists()
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_run_records()) == 1


def test_audit_in_buckets_runs_its_phases_and_finds_what_one_pass_finds(tmp_path, monkeypatch):
    one_pass, bucketed = tmp_path / "one" / "ws", tmp_path / "buckets" / "ws"
    simulate(one_pass, runs=20, seed=11)
    config = yaml.safe_load((one_pass / "reckon.yaml").read_text())
    config["policies"].update(incremental=False, buckets=2)
    shutil.copytree(one_pass, bucketed)
    (bucketed / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_audit(Workspace.open(one_pass), buckets=1)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    code, out, err = run_main(["audit", "--workspace", str(bucketed)])
    assert code == 0, err
    assert len(re.findall(r"^reckon: bucket_matches ", err, re.M)) == 2  # a run per bucket
    findings = []
    for root in (one_pass, bucketed):
        with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
            findings.append(con.execute("SELECT finding_id, state_hash FROM findings ORDER BY ALL").fetchall())
    assert findings[0] == findings[1] and findings[0]
    assert f"{len(findings[0])} findings," in out


def test_report_of_an_unknown_audit_is_a_clear_error(audited_twice):
    root, *_ = audited_twice
    code, _, err = run_main(["report", "--workspace", str(root), "--audit", "aud_nosuchaudit"])
    assert code == 2
    assert "aud_nosuchaudit" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["audit", "report"])
def test_a_missing_workspace_folder_is_named(tmp_path, command):
    code, _, err = run_main([command, "--workspace", str(tmp_path / "nowhere")])
    assert code == 2
    assert f"workspace folder {tmp_path / 'nowhere'} does not exist" in err


def test_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"reckon {version('reckon')}"


@pytest.mark.parametrize("command", ["audit", "report", "simulate", "demo"])
def test_every_option_shows_its_default(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    options = [o for o in re.findall(r"^  (--[a-z-]+)", text, re.MULTILINE) if o != "--help"]
    assert options and text.count("(default:") == len(options), text


def test_exit_codes_are_documented():
    doc = (ROOT / "docs" / "cli.md").read_text()
    table = re.findall(r"^\| (\d) \|", doc, re.MULTILINE)
    codes = {cli.OK, cli.FAILED, cli.BAD_INPUT, *cli.EXIT_CODES.values()}
    assert sorted(map(int, table)) == sorted(codes)
    assert "docs/cli.md" in (ROOT / "README.md").read_text()


def test_a_waiting_audit_names_the_lock_holder(tmp_path):
    root = tmp_path / "ws"
    simulate(root, runs=5, seed=1)
    lock = WorkspaceLock(root.resolve())
    lock.acquire()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    waiter = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "audit", "--workspace", str(root), "--quiet"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = waiter.stderr.readline()  # quiet: the only stderr line until the lock is free
        assert "waiting up to 600 s for the workspace lock" in line, line
        assert re.search(rf"another audit \(pid {os.getpid()}\) has held it since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
                         line), line
    finally:
        lock.release()
    _, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err
    # now the audit holds (held) the lock: the file names it
    assert (root / ".reckon.lock").read_text().split("\n")[0] == str(waiter.pid)


# --- a bad drop stops the audit before its plan --------------------------------------------


def test_a_bad_new_drop_stops_the_audit_before_its_plan(tmp_path, monkeypatch):
    """History of good snapshots does not dilute a new landing file that is 80% garbage: the
    share is that of the new snapshots, and the audit stops before any plan is written."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    root = tmp_path / "ws"
    simulate(root, runs=30, seed=8)
    first = run_audit(Workspace.open(root))
    plans = sorted((root / "exports").glob("repair-plan-*"))
    good = [json.dumps({"actor": "agent", "event_id": f"ev_late{i}", "run_id": f"run_late{i}", "status": "running",
                        "ts": "2026-11-22T17:00:00Z", "type": "run.started", "workflow": "refund_order"})
            for i in range(20)]
    (root / "landing" / "events" / "log-late.jsonl").write_text("\n".join([*good, *["{not json"] * 80]) + "\n")

    code, _, err = run_main(["audit", "--workspace", str(root), "--quiet"])
    assert code == cli.BLOCKED, err
    assert "audit stopped" in err and "source 'workflow_log'" in err and "80 of 100 new records quarantined" in err
    with pytest.raises(AuditBlocked, match=r"80 of 100 new records quarantined \(80\.0%"):
        run_audit(Workspace.open(root))  # the in-process runner stops the same way, and again
    assert sorted((root / "exports").glob("repair-plan-*")) == plans
    with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
        assert con.execute("SELECT list(audit_id) FROM audits").fetchone()[0] == [first["audit_id"]]
    with dg.DagsterInstance.from_config(str(root / ".dagster")) as instance:
        check = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(dg.AssetKey("snapshot_workflow_log"), "quarantine_share"))
        assert check.event.asset_check_evaluation.passed is False


def test_kept_records_missing_an_expected_field_stop_the_audit(tmp_path):
    """Schema drift that loses data silently: a new file's records are kept although none has
    a field the source's mapping reads (here the correlation key)."""
    root = tmp_path / "ws"
    simulate(root, runs=10, seed=5)
    config = yaml.safe_load((root / "reckon.yaml").read_text())
    config["sources"]["ledger"] = {
        "connector": "generic", "system": "ledger", "paths": ["landing/ledger/*.jsonl"],
        "options": {"external_id": "id", "updated_at": "ts", "correlation_keys": ["intent"]}}
    config["systems"]["ledger"] = {"object_type": "entry", "settle_window": "1h"}
    (root / "reckon.yaml").write_text(yaml.safe_dump(config))
    (root / "landing" / "ledger").mkdir()
    entries = [{"id": f"e{i}", "ts": "2026-11-22T12:00:00Z", "note": "renamed the intent column"} for i in range(120)]
    (root / "landing" / "ledger" / "entries.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    with pytest.raises(AuditBlocked, match=r"source 'ledger': schema drift: no record of a new file has intent"):
        run_audit(Workspace.open(root))
    (ledger,) = list_snapshots(Workspace.open(root), "ledger")
    assert (ledger.rows, ledger.quarantined, ledger.fields_missing) == (120, 0, ["intent"])  # kept, not quarantined
    assert not list((root / "exports").glob("repair-plan-*"))


def test_an_audit_that_waits_too_long_exits_3_naming_the_holder(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    root = tmp_path / "ws"
    simulate(root, runs=5, seed=1)
    lock = WorkspaceLock(root.resolve())
    lock.acquire()
    try:
        code, _, err = run_main(["audit", "--workspace", str(root), "--quiet", "--lock-timeout", "0.5"])
    finally:
        lock.release()
    assert code == cli.BUSY, err
    assert re.search(rf"audit failed: another audit \(pid {os.getpid()}\) holds .*\.reckon\.lock; waited 0\.5 s "
                     r"\(it has held the lock since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", err), err
    assert "Traceback" not in err
