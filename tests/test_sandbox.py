"""Every escape route we know, from rules, from SQL scripts, from configuration and from
data: SQL reaches only snapshots/, the spill folder and exports/ of its workspace, and no
value is ever run as SQL. Each route leaves a canary outside the workspace untouched."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon import database
from reckon.config import ConfigError
from reckon.workspace import Workspace
from rules import parse_rule
from simulator import simulate

REFUSED = ("Permission", "disabled", "locked")


@pytest.fixture
def sandboxed(tmp_path):
    """A simulated workspace, a folder outside it holding a secret, and its files before."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("secret\n42\n")
    sim = simulate(tmp_path / "ws", runs=5, seed=3)
    (sim.workspace / "exports").mkdir(exist_ok=True)
    yield Workspace.open(sim.workspace), outside
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]  # nothing written outside


def _refused(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(duckdb.Error) as err:
        con.execute(sql).fetchall()
    assert any(word in str(err.value) for word in REFUSED), err.value


# --- from a rule: its SELECT runs inside the findings step -----------------------------

@pytest.mark.parametrize("source", [
    "SELECT content AS subject_id FROM read_text('{outside}/secret.csv')",
    "SELECT content AS subject_id FROM read_blob('{outside}/secret.csv')",
    "SELECT secret::VARCHAR AS subject_id FROM read_csv('{outside}/secret.csv')",
    "SELECT file AS subject_id FROM glob('{outside}/*')",
    "SELECT content AS subject_id FROM read_text('/etc/passwd')",
    "SELECT content AS subject_id FROM read_text('{ws}/reckon.yaml')",
    "SELECT file AS subject_id FROM glob('{ws}/decisions/*')",
    "SELECT file AS subject_id FROM glob('{ws}/landing/**')",
    "SELECT json::VARCHAR AS subject_id FROM read_json_objects('{ws}/landing/**/*.json')",
])
def test_a_rule_reads_nothing_outside_its_folders(sandboxed, source):
    ws, outside = sandboxed
    rule_file = ws.root / "exports" / "evil.sql"
    rule_file.write_text(
        "-- rule_id: X1\n-- mismatch_type: evil\n-- subject_kind: intent\n-- severity: low\n"
        "-- precedence: 99\n-- repair: human_adjudication\n-- duplicate_risk: low\n-- next_action: none\n"
        "-- prevention: none\n-- metric: pending\n-- description: tries to escape\n"
        + source.format(outside=outside, ws=ws.root) + "\n")
    with database.connect(ws) as con:
        _refused(con, parse_rule(rule_file).hits_sql())


# --- from a SQL script: models, repairs, metrics run whole files ------------------------

@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1 AS x) TO '{outside}/copied.csv'",
    "COPY (SELECT 1 AS x) TO 'relative.csv'",
    "COPY (SELECT 1 AS x) TO '{ws}/exports/../reckon.yaml'",
    "COPY (SELECT 1 AS x) TO '{ws}/exports_sibling.csv'",
    "COPY (SELECT 1 AS x) TO '{ws}/decisions/forged.csv'",
    "COPY (SELECT 1 AS x) TO '{ws}/landing/stripe/planted.json'",
    "COPY (SELECT 1 AS x) TO '{ws}/exports/link/through.csv'",  # a link out of exports/
    "EXPORT DATABASE '{outside}/dump'",
    "ATTACH '{outside}/attached.duckdb' AS elsewhere",
    "INSTALL httpfs",
    "LOAD '{ws}/exports/planted.duckdb_extension'",
    "CREATE PERSISTENT SECRET planted (TYPE s3, KEY_ID 'k', SECRET 's')",
    "SET VARIABLE raw_events = ['{outside}/secret.csv']; SELECT * FROM read_csv(getvariable('raw_events'))",
])
def test_a_script_writes_and_loads_nothing_outside_its_folders(sandboxed, statement):
    ws, outside = sandboxed
    (ws.root / "exports" / "link").symlink_to(outside, target_is_directory=True)
    before = {p: p.read_bytes() for p in ws.root.rglob("*") if p.is_file() and "exports" not in p.parts}
    with database.connect(ws) as con:
        _refused(con, statement.format(outside=outside, ws=ws.root))
        con.execute("COPY (SELECT 42 AS answer) TO ? (FORMAT csv)", [str(ws.root / "exports" / "ok.csv")])
    assert (ws.root / "exports" / "ok.csv").read_text().startswith("answer")  # the allowed folder works
    after = {p: p.read_bytes() for p in ws.root.rglob("*") if p.is_file() and "exports" not in p.parts
             and p.name not in ("reckon.duckdb", "reckon.duckdb.wal")}
    assert after == {p: b for p, b in before.items() if p in after} and set(after) <= set(before)


@pytest.mark.parametrize("statement", [
    "SET enable_external_access = true", "RESET enable_external_access", "SET allowed_directories = ['/']",
    "SET allowed_paths = ['/etc/passwd']", "SET memory_limit = '100GB'", "SET temp_directory = '/tmp'",
    "SET allow_unsigned_extensions = true", "SET lock_configuration = false",
])
def test_a_script_cannot_loosen_the_session(sandboxed, statement):
    ws, _ = sandboxed
    with database.connect(ws) as con:
        _refused(con, statement)
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False


def test_the_analyst_copy_session_is_sandboxed_too(sandboxed):
    ws, outside = sandboxed
    run_audit(ws)
    with database.connect_read_copy(ws) as con:
        assert con.execute("SELECT count(*) FROM findings").fetchone()[0] >= 0
        assert con.execute("SELECT count(*) FROM raw_events").fetchone()[0] > 0  # its file variables are set
        assert con.execute("SELECT count(*) FROM cfg_policies").fetchone()[0] == 1  # internal, by its bare name
        _refused(con, f"SELECT * FROM read_text('{outside}/secret.csv')")


# --- from configuration ----------------------------------------------------------------

INJECTION = "4GB'; COPY (SELECT * FROM read_csv('/etc/passwd', header=false, sep=':')) TO '{out}'; SET memory_limit='4GB"


@pytest.mark.parametrize("key", ["memory_limit", "max_temp_directory_size"])
def test_configuration_values_never_reach_sql_text(sandboxed, key):
    ws, outside = sandboxed
    config = ws.root / "reckon.yaml"
    text = config.read_text()
    value = json.dumps(INJECTION.format(out=outside / "pwned.csv"))
    text = (text.replace("memory_limit: 4GB", f"memory_limit: {value}") if key == "memory_limit"
            else text.replace("memory_limit: 4GB", f"memory_limit: 4GB\n    max_temp_directory_size: {value}"))
    config.write_text(text)
    with pytest.raises((ConfigError, duckdb.Error)):  # refused at load, or as a value: never run as SQL
        run_audit(Workspace.open(ws.root))


def test_a_workspace_path_with_quotes_audits_like_any_other(tmp_path):
    sim = simulate(tmp_path / "ws q'uoted; DROP TABLE findings; --", runs=20, seed=3)
    assert run_audit(Workspace.open(sim.workspace))["findings"] > 0


# --- from data: file names and values are parameters, never SQL -----------------------

def test_file_names_and_values_that_look_like_sql_are_only_data(sandboxed):
    ws, _ = sandboxed
    name = "x'); COPY (SELECT 1) TO 'named.csv'; --.json"
    refund = {"id": "re_'; DROP TABLE findings; --", "object": "refund", "status": "succeeded", "amount": 1,
              "currency": "usd", "created": 1763700000, "metadata": {"reckon_intent_id": "int_'); --"}}
    (ws.landing / "stripe" / name).write_text(json.dumps({"object": "list", "data": [refund], "has_more": False}))
    audit = run_audit(ws)
    assert audit["findings"] > 0
    with database.connect_read_copy(ws) as con:
        files = [Path(p).name for (p,) in con.execute("SELECT path FROM audit_files").fetchall()]
        kept = con.execute("SELECT count(*) FROM raw_observed WHERE external_id = ?", [refund["id"]]).fetchone()[0]
        assert con.execute("SELECT count(*) FROM findings").fetchone()[0] == audit["findings"]
    assert kept == 1 and "data.parquet" in files  # the record was read and audited as data
    assert not (ws.root / "named.csv").exists()
