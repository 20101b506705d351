"""The command line: demo, audit and rules test."""

from __future__ import annotations

from pipelines.cli import main


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
