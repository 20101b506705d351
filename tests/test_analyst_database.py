"""The analyst copy as an analyst meets it: public tables in `main`, each table and column
commented, internal tables in `internal` (in the audit's own database too, so the copy is
the file as it is), views that read in a bare session and survive a moved workspace, a
workspace of the earlier layout audited into this one, and the five questions an analyst
asks first, each answered by a view and checked against an independent computation from
the history tables and the plan files."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon import database
from reckon.database import INTERNAL_SCHEMA, PUBLIC_TABLES, search_internal
from reckon.workspace import Workspace
from rules import parse_rule
from simulator import simulate
from simulator.timeline import advance

SEED, RUNS, DAYS = 7, 120, 3  # the demo's


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Workspace:
    """The demo: a simulated workspace audited once per simulated day."""
    root = tmp_path_factory.mktemp("demo") / "ws"
    simulate(root, runs=RUNS, seed=SEED)
    for day in range(1, DAYS + 1):
        if day > 1:
            advance(root, day, SEED)
        run_audit(Workspace.open(root))
    return Workspace.open(root)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    result = con.execute(sql, params or [])
    cols = [d[0] for d in result.description]
    return [dict(zip(cols, r, strict=True)) for r in result.fetchall()]


@pytest.fixture(scope="module")
def copy(demo):
    with database.connect_read_copy(demo) as con:
        yield con


@pytest.fixture(scope="module")
def history(copy) -> dict:
    """What the checks below compute from: every audit's findings, by `seq`."""
    audits = rows(copy, "SELECT audit_id, seq, as_of FROM audits ORDER BY seq")
    by_audit = defaultdict(dict)
    for r in rows(copy, "SELECT * FROM findings_history"):
        by_audit[r["audit_id"]][r["finding_id"]] = r
    return {"audits": audits, "findings": [by_audit[a["audit_id"]] for a in audits]}


def latest_plan(ws: Workspace, copy) -> list[dict]:
    audit_id = copy.execute("SELECT audit_id FROM audit_context").fetchone()[0]
    path = ws.exports / f"repair-plan-{audit_id}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def opened_at(history: dict, finding_id: str, upto: int):
    """The `as_of` that began the finding's latest unbroken run of audits (up to index
    `upto`) in which it was present and open: when it last opened."""
    start = None
    for i in range(upto + 1):
        row = history["findings"][i].get(finding_id)
        if row is not None and row["status"] == "open":
            start = start or history["audits"][i]["as_of"]
        else:
            start = None
    return start


def p90(values: list[float]) -> float:
    xs, pos = sorted(values), 0.9 * (len(values) - 1)
    lo = int(pos)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (pos - lo)


# --- the database's shape -----------------------------------------------------------------


def layout(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Schema -> its tables and views, as the catalog lists them."""
    found = defaultdict(set)
    for schema, table in con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                     "WHERE table_catalog = current_database()").fetchall():
        found[schema].add(table)
    return dict(found)


def test_both_databases_hold_the_public_tables_in_main_and_the_rest_in_internal(demo, copy):
    with duckdb.connect(str(demo.database), read_only=True) as con:
        audited = layout(con)
    for tables in (layout(copy), audited):
        assert set(tables) == {"main", INTERNAL_SCHEMA}
        assert tables["main"] == set(PUBLIC_TABLES)
        assert {"cfg_systems", "cfg_policies", "scope_runs", "rule_hits", "intent_keys", "intent_subjects",
                "model_state"} <= tables[INTERNAL_SCHEMA]
    views = {v for (v,) in copy.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' "
                                        "AND NOT internal AND database_name = current_database()").fetchall()}
    assert views == set(database.PUBLIC_VIEWS)  # what an audit drops when it finds one of them as a table
    # the copy is the audit's database as it is
    assert layout(copy) == audited


def test_every_view_reads_in_an_analysts_bare_session(demo):
    """No search path set, as a plain `duckdb` CLI opens the copy: public views read what
    they read, internal ones too (a view binds its names in its own schema, then `main`)."""
    with duckdb.connect(str(demo.root / database.READ_COPY), read_only=True) as con:
        for view in database.FILE_VIEWS:  # docs/outputs.md's recipe for the views over the snapshots
            con.execute(f"""SET VARIABLE {view} = (
                SELECT list(parse_dirpath(d.path) || '/' || f.path ORDER BY f.path)
                FROM audit_files f, duckdb_databases() d
                WHERE d.database_name = current_database() AND f.view = ?)""", [view])
        views = con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal "
                            "AND database_name = current_database() ORDER BY ALL").fetchall()
        assert {v for s, v in views if s == "main"} >= {"open_findings", "operator_queue", "since_last_audit",
                                                        "time_to_reconcile", "finding_lifecycle", "raw_events"}
        counts = {(schema, view): con.execute(f'SELECT count(*) FROM {schema}."{view}"').fetchone()[0]
                  for schema, view in views}
    assert counts[("main", "open_findings")] > 0 and counts[("main", "raw_events")] > 0
    # Attached under another name, as from an analyst's own database: the public views read
    # the same, one that names an internal table with its schema (stored_results) too.
    plain = {key: n for key, n in counts.items() if key[0] == "main" and key[1] not in database.FILE_VIEWS}
    with duckdb.connect() as con:
        con.execute("ATTACH ? AS analyst_copy (READ_ONLY)", [str(demo.root / database.READ_COPY)])
        attached = {(schema, view): con.execute(f'SELECT count(*) FROM analyst_copy.{schema}."{view}"').fetchone()[0]
                    for schema, view in plain}
    assert attached == plain and plain[("main", "stored_results")] > 0


def to_earlier_layout(path: Path) -> None:
    """Arrange a workspace database as the earlier version left it: every table and view
    in `main`, no schema `internal`."""
    with duckdb.connect(str(path)) as con:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?",
                                    [INTERNAL_SCHEMA]).fetchall():
            con.execute(f'CREATE TABLE main."{table}" AS FROM {INTERNAL_SCHEMA}."{table}"')
        views = con.execute("SELECT sql FROM duckdb_views() WHERE schema_name = ? ORDER BY view_oid",
                            [INTERNAL_SCHEMA]).fetchall()
        for (sql,) in views:  # bound in `main` now that the tables are there
            assert sql.startswith(f"CREATE VIEW {INTERNAL_SCHEMA}.")
            con.execute(sql.replace(f"CREATE VIEW {INTERNAL_SCHEMA}.", "CREATE VIEW main.", 1))
        con.execute(f"DROP SCHEMA {INTERNAL_SCHEMA} CASCADE")
        assert set(layout(con)) == {"main"}


def test_a_workspace_of_the_earlier_layout_audits_again_into_this_one(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=30, seed=5).workspace)
    run_audit(ws)
    findings_sql = "SELECT finding_id, state_hash, status FROM findings ORDER BY ALL"
    with duckdb.connect(str(ws.database), read_only=True) as con:
        before, expected = con.execute(findings_sql).fetchall(), layout(con)
    assert before
    to_earlier_layout(ws.database)

    run_audit(Workspace.open(ws.root))
    with duckdb.connect(str(ws.database), read_only=True) as con:
        search_internal(con)
        # the fingerprint kept in `main` is gone with the rest: the audit started over
        assert con.execute("SELECT incremental FROM audit_context").fetchone()[0] is False
        assert con.execute(findings_sql).fetchall() == before
        assert layout(con) == expected
    with duckdb.connect(str(ws.root / database.READ_COPY), read_only=True) as con:
        assert layout(con) == expected


def test_a_users_own_rule_names_internal_tables_unqualified(demo, tmp_path):
    """A rule file as README's "Writing a rule" has it, reading an internal table by its
    bare name, runs in the audit's own sandboxed session."""
    path = tmp_path / "primary_in_force.sql"
    path.write_text("""-- rule_id: U900
-- mismatch_type: primary_in_force
-- subject_kind: intent
-- severity: low
-- precedence: 90
-- repair: human_adjudication
-- duplicate_risk: low
-- next_action: look
-- prevention: none
-- metric: bookkeeping
-- description: Intents with a primary finding, from the internal intent_findings.
SELECT subject_id FROM intent_findings
""", encoding="utf-8")
    rule = parse_rule(path)
    with database.connect(demo, read_only=True) as con:
        hits = {r[0] for r in con.execute(f"SELECT subject_id FROM ({rule.hits_sql()})").fetchall()}
        expected = {r[0] for r in con.execute(f"SELECT subject_id FROM {INTERNAL_SCHEMA}.intent_findings").fetchall()}
    assert hits == expected and hits


def test_every_public_table_view_and_column_has_a_comment(copy):
    comments = dict(copy.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main' "
        "UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
    ).fetchall())
    assert {t for t in PUBLIC_TABLES if not (comments.get(t) or "").strip()} == set()
    uncommented = copy.execute(
        "SELECT table_name || '.' || column_name FROM duckdb_columns() WHERE schema_name = 'main' "
        "AND list_contains(?, table_name) AND coalesce(trim(comment), '') = '' ORDER BY ALL",
        [list(PUBLIC_TABLES)]).fetchall()
    assert uncommented == []


def test_raw_views_read_after_the_workspace_is_moved(tmp_path):
    sim = simulate(tmp_path / "before", runs=20, seed=3)
    ws = Workspace.open(sim.workspace)
    run_audit(ws)
    with duckdb.connect(str(ws.database), read_only=True) as con:
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        paths = [p for (p,) in con.execute("SELECT path FROM audit_files").fetchall()]
    assert paths and not any(Path(p).is_absolute() for p in paths)
    moved = Path(shutil.move(ws.root, tmp_path / "elsewhere" / "after"))

    with database.connect_read_copy(Workspace.open(moved)) as con:
        assert con.execute("SELECT count(DISTINCT event_id) FROM raw_events").fetchone()[0] == events
        assert con.execute("SELECT count(*) FROM raw_observed").fetchone()[0] > 0
    # an analyst's own session, with docs/outputs.md's recipe, from any working directory
    with duckdb.connect(str(moved / database.READ_COPY), read_only=True) as con:
        for view in ("raw_events", "raw_observed"):
            con.execute(f"""SET VARIABLE {view} = (
                SELECT list(parse_dirpath(d.path) || '/' || f.path ORDER BY f.path)
                FROM audit_files f, duckdb_databases() d
                WHERE d.database_name = current_database() AND f.view = ?)""", [view])
        assert con.execute("SELECT count(DISTINCT event_id) FROM raw_events").fetchone()[0] == events


# --- the five questions an analyst asks first -----------------------------------------------


def test_q1_what_is_open_now(demo, copy, history):
    open_now = {r["finding_id"]: r for r in rows(copy, "SELECT * FROM open_findings")}
    # independently: the findings the executor's plan file acts on
    assert set(open_now) == {a["finding_id"] for a in latest_plan(demo, copy)}
    assert open_now
    latest = len(history["audits"]) - 1
    as_of = history["audits"][latest]["as_of"]
    for finding_id, row in open_now.items():
        assert row["opened_at"] == opened_at(history, finding_id, latest)
        assert row["open_seconds"] == (as_of - row["opened_at"]).total_seconds()


def test_q2_what_must_a_person_do(demo, copy):
    queue = rows(copy, "SELECT * FROM operator_queue")
    plan = latest_plan(demo, copy)
    assert {r["action_id"] for r in queue} == {
        a["action_id"] for a in plan if a["pattern"] == "human_adjudication" or a["requires_approval"]}
    assert queue
    # the spreadsheet is the same queue
    audit_id = copy.execute("SELECT audit_id FROM audit_context").fetchone()[0]
    with (demo.exports / f"operator-queue-{audit_id}.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert sorted(r["action_id"] for r in csv.DictReader(handle)) == sorted(r["action_id"] for r in queue)


def test_q3_what_changed_since_the_last_audit(copy, history):
    prev, cur = history["findings"][-2:]
    seen_before = {f for audit in history["findings"][:-1] for f in audit}
    expected = set()
    for fid, row in cur.items():
        was = prev.get(fid)
        if row["status"] == "open" and fid not in seen_before:
            expected.add(("new", fid))
        elif row["status"] == "open" and (was is None or was["status"] == "resolved"):
            expected.add(("regressed", fid))
        elif row["status"] == "open" and row["state_hash"] != was["state_hash"]:
            expected.add(("evidence_changed", fid))
    for fid, was in prev.items():
        if was["status"] == "open" and (fid not in cur or cur[fid]["status"] == "resolved"):
            expected.add(("resolved", fid))
    got = {(r["change"], r["finding_id"]) for r in rows(copy, "SELECT * FROM since_last_audit")}
    assert got == expected
    assert {change for change, _ in got} >= {"new", "resolved"}


def test_q4_how_long_does_reconciling_take_per_workflow(copy, history):
    prev, cur = history["findings"][-2:]
    latest = len(history["audits"]) - 1
    as_of = history["audits"][latest]["as_of"]
    subjects_now = {(r["subject_kind"], r["subject_id"]) for r in cur.values()}
    waits = defaultdict(list)
    for fid, was in prev.items():
        now = cur.get(fid)
        gone = now is None and (was["subject_kind"], was["subject_id"]) not in subjects_now  # not superseded
        if was["status"] == "open" and (gone or (now is not None and now["status"] == "resolved")):
            seconds = (as_of - opened_at(history, fid, latest - 1)).total_seconds()
            for scope in ("*", was["workflow"] or "(none)"):
                waits[scope].append(seconds)
    table = {r["workflow"]: r for r in rows(copy, "SELECT * FROM time_to_reconcile WHERE seq = ?",
                                            [history["audits"][latest]["seq"]])}
    assert waits["*"]
    for scope, row in table.items():
        assert row["findings_reconciled"] == len(waits[scope]), scope
        if waits[scope]:
            assert row["mean_seconds"] == pytest.approx(sum(waits[scope]) / len(waits[scope]))
            assert row["p90_seconds"] == pytest.approx(p90(waits[scope]))
        else:
            assert row["mean_seconds"] is None and row["p90_seconds"] is None
    assert set(waits) <= set(table)


def test_q5_which_open_findings_have_waited_longest(copy, history):
    latest = len(history["audits"]) - 1
    as_of = history["audits"][latest]["as_of"]
    waited = {fid: (as_of - opened_at(history, fid, latest)).total_seconds()
              for fid, row in history["findings"][latest].items() if row["status"] == "open"}
    oldest = rows(copy, "SELECT finding_id, open_seconds FROM open_findings ORDER BY open_seconds DESC, finding_id")
    assert [(r["finding_id"], r["open_seconds"]) for r in oldest] == sorted(waited.items(), key=lambda x: (-x[1], x[0]))
    assert oldest[0]["open_seconds"] > 0


def test_every_query_docs_outputs_md_shows_analysts_runs_on_the_demo(demo):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "outputs.md").read_text(encoding="utf-8")
    section = docs[docs.index("## 4. Example analyst queries"):]
    statements = [s for block in re.findall(r"```sql\n(.*?)```", section, re.S) for s in block.split(";") if s.strip()]
    assert len(statements) >= 10
    # an analyst's own session on the copy, as the docs open it
    with duckdb.connect(str(demo.root / database.READ_COPY), read_only=True) as con:
        results = [con.execute(sql).fetchall() for sql in statements]
    assert all(results[:5]), "each of the five first questions has an answer on the demo"
