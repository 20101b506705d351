"""The benchmark keeps working: a tiny run prints every figure, and the generator's
workspaces audit to exactly the faults it put in. No timing is asserted."""

from __future__ import annotations

import json
import re

import pytest

from bench import report
from bench.__main__ import full_rebuild, main
from bench.generate import expected_findings, generate

FIGURES = [
    "runs / observed objects", "generate (vectorized)",
    "ingest workflow_log (event_log)", "ingest stripe_refunds (stripe)",
    "ingest sendgrid_events (sendgrid)", "ingest hubspot_contacts (hubspot)",
    "ingest zendesk_tickets (zendesk)", "ingest, all sources",
    "audit: models:audit_inputs", "audit: models:events", "audit: models:intent_state", "audit: findings:findings",
    "audit: findings:repair_plan", "audit: reports:plan_exports", "audit: reports:reconciliation_metrics",
    "audit: reports:analyst_database", "audit: reports:read_copy",
    "**full audit**", "audit: largest step peak RSS", "audit peak RSS", "floor (one hand-written DuckDB pass)", "**audit / floor**",
    "Dagster: audit job run", "**Dagster overhead**", "full audit in 4 buckets of runs",
    "buckets: every bucket's claims passes", "buckets: findings equal the single pass", "incremental: day 4 added", "incremental: runs recomputed",
    "**incremental / full audit**", "incremental: a quiet day added (30 intents", "HTML report: write", "HTML report: size", "HTML report: load in headless", "hardware:",
]  # fmt: skip


def test_a_tiny_benchmark_run_prints_every_figure(tmp_path, capsys):
    argv = ["--intents", "2000", "--days", "3", "--fault-share", "0.3", "--workdir", str(tmp_path),
            "--tiny-intents", "0"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    for figure in FIGURES:
        assert figure in out, figure
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert all(" nan" not in line and "None" not in line for line in table)
    assert re.search(r"\*\*audit / floor\*\* \| \*\*[\d.]+x\*\*", out)

    # Printed again with itself as the previous run, every figure has its twin beside it.
    report.main([str(tmp_path / "results.json"), "--previous", str(tmp_path / "results.json")])
    again = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    rows = [cells for cells in again if cells[0] not in ("| figure", "| ---")]
    assert len(rows) == len(table) - 2
    assert all(cells[1] == cells[2] for cells in rows)

    results = json.loads((tmp_path / "results.json").read_text())["results"][0]
    assert results["intents"] == 2000 == results["audit"]["audit"]["intents"]
    found = results["audit"]["findings"]
    assert {"intent:receipt_missing", "intent:attempt_lost", "intent:duplicate_effect",
            "intent:effect_failed", "intent:field_drift"} <= set(found)  # fmt: skip
    assert found == expected_findings(results["generate"]["scenarios"])
    # The floor classifies the same intents the same way, for the types it knows.
    floor = results["audit"]["floor"]["by_type"]
    for kind in ("receipt_missing", "attempt_lost", "duplicate_effect", "effect_failed", "field_drift"):
        assert floor[kind] == found[f"intent:{kind}"]
    assert results["incremental"]["intents"] > 2000
    assert results["dagster"]["success"]
    # The quiet day adds its few intents to the measured day's workspace.
    assert results["incremental_quiet"]["intents"] == results["incremental"]["intents"] + 30
    # Rebuilt in buckets (after the last incremental day), the audit finds exactly what
    # that audit found.
    assert results["buckets"]["digest"] == results["incremental_quiet"]["digest"]
    assert results["buckets"]["findings"] == results["incremental_quiet"]["findings"] > 0


@pytest.mark.parametrize("intents", [2, 5, 6, 101])
def test_the_generator_writes_exactly_n_intents_with_unique_ids(tmp_path, intents):
    result = generate(tmp_path / "ws", intents, days=2, seed=3, fault_share=0.5)
    lines: dict[str, str] = {}  # event_id -> line: a repeated line is the same event, verbatim
    declared: set[str] = set()
    for path in sorted((tmp_path / "ws" / "landing" / "events").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the one truncated line per file, for the quarantine
            assert lines.setdefault(event["event_id"], line) == line
            if event["type"] == "intent.declared":
                declared.add(event["intent_id"])
    assert len(declared) == intents == result.intents
    assert (tmp_path / "ws" / "reckon.yaml").exists()


def test_every_audit_step_has_its_own_peak_memory(tmp_path):
    # The figure "largest step peak RSS" is only true if each step measured its own peak.
    from bench.child import task_run_audit
    from simulator import simulate

    sim = simulate(tmp_path / "ws", runs=30, seed=4)
    result = task_run_audit(sim.workspace, {})
    peaks = [s["peak_rss"] for s in result["steps"]]
    assert len(peaks) > 5 and all(p and p > 10 * 2**20 for p in peaks)


def test_bench_passes_measures_each_bucket_pass_and_merges_to_one_pass(tmp_path, capsys):
    import duckdb

    from bench.child import findings_digest
    from bench.passes import main as passes
    from pipelines.runner import run_audit
    from reckon.workspace import Workspace

    root = tmp_path / "ws"
    generate(root, 2000, days=2, seed=3, fault_share=0.3)
    with full_rebuild(root):  # an audit in buckets is a full one
        run_audit(Workspace.open(root))
        with duckdb.connect(str(root / "reckon.duckdb"), read_only=True) as con:
            one_pass = findings_digest(con)
        assert passes([str(root), "--buckets", "2", "--workdir", str(tmp_path / "passes")]) == 0
    result = json.loads((tmp_path / "passes" / "passes.json").read_text())
    assert [len(result[phase]) for phase in ("claims", "unclaimed", "matches")] == [2, 2, 2]
    assert sum(p["rows"]["intended"] for p in result["claims"]) == 2000
    assert all(p["peak_rss"] > 0 and p["bytes_written"] > 0 for p in result["claims"] + result["matches"])
    assert result["after"]["digest"] == one_pass
    assert f"findings digest {one_pass}" in capsys.readouterr().out


def test_a_streamed_run_deletes_each_raw_day_and_finds_what_was_generated(tmp_path, capsys):
    from bench import stream

    argv = ["--intents", "1501", "--days", "2", "--buckets", "2", "--workdir", str(tmp_path), "--keep"]
    assert stream.main(argv) == 0
    result = json.loads((tmp_path / "stream.json").read_text())
    assert [d["intents"] for d in result["days"]] == [751, 750]
    assert result["findings"] == expected_findings(result["scenarios"])
    ws = tmp_path / "n1501" / "ws"
    assert not (ws / "landing").exists()  # every raw day was deleted once snapshotted
    assert len(list((ws / "snapshots").glob("source=workflow_log/*/snapshot_id=*/_manifest.json"))) == 2
    assert "| findings | as generated" in capsys.readouterr().out


def test_bench_tables_prints_every_kept_and_run_scoped_table(tmp_path, capsys):
    from bench.tables import main as tables
    from reckon.incremental import KEPT_TABLES, SCOPED_TABLES

    generate(tmp_path / "ws", 2000, days=2, seed=3, fault_share=0.3)
    assert tables([str(tmp_path / "ws"), "--workdir", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert "full audit of 2 days, then day 3 added" in out
    rows = {cells[0]: cells[1:] for line in out.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}  # fmt: skip
    for table in (*KEPT_TABLES, *SCOPED_TABLES):
        kind, count, size, full, day, read_by = rows[table]
        assert kind.split(", ")[0] == ("kept" if table in KEPT_TABLES else "run-scoped"), table
        assert int(count.replace(",", "")) >= 0 and float(size.replace(",", "")) >= 0, table
        figures = [float(x) for x in re.findall(r"[\d.]+", f"{full} {day}")]
        assert len(figures) == 4 and all(x >= 0 for x in figures), table
        assert read_by != "-", table  # every kept table has a reader
    assert rows["intended"][1] == "2,000"  # one row per generated intent, after the full audit
    assert float(rows["observed"][3].split()[0]) > 0  # the full audit wrote it, in measured time


def test_bench_history_prints_the_history_steps_of_each_audit_shown(tmp_path, capsys):
    from bench.history import HISTORY_STEPS
    from bench.history import main as history

    assert history(["--intents-per-day", "800", "--audits", "3", "--workdir", str(tmp_path)]) == 0
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in capsys.readouterr().out.splitlines()
            if re.match(r"\| \d", line)]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert all(len(row) == len(HISTORY_STEPS) + 5 for row in rows)
    history_rows = [int(row[-3].replace(",", "")) for row in rows]
    assert 0 < history_rows[0] < history_rows[1] < history_rows[2]  # every audit appends its findings
    sizes = [float(row[-1].removesuffix(" MB").replace(",", "")) for row in rows]
    assert 0 < sizes[0] <= sizes[2]  # the database file, which the history makes grow
