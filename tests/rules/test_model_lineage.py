"""Every model's header declares what its SQL reads and builds, so that the Dagster lineage
(`rules.upstream`) is true: each SQL file is parsed (sqlglot) and held to its header."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from reckon import database, engine
from reckon.rule_cases import WORKSPACE_DIR
from reckon.workspace import Workspace
from rules import INPUT_TABLES, Model, load_models, upstream

WRITES = (exp.Create, exp.Insert, exp.Update, exp.Delete, exp.Alter)


def lineage(sql: str) -> tuple[set[str], set[str]]:
    """(tables the script reads that it did not make itself, tables and views it makes or
    changes for others); temporary tables and views are its own business."""
    reads, builds, made, temporary = set(), set(), set(), set()
    for statement in sqlglot.parse(sql, read="duckdb"):
        if statement is None or isinstance(statement, exp.Drop):
            continue
        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        target = statement.this if isinstance(statement, WRITES) else None
        target = target.this if isinstance(target, exp.Schema) else target
        target = target if isinstance(target, exp.Table) else None
        for table in statement.find_all(exp.Table):
            if table is not target and table.name and table.name not in ctes | made:
                reads.add(table.name)
        if target is None:
            continue
        if isinstance(statement, exp.Create):
            made.add(target.name)
            properties = statement.args.get("properties")
            if properties and any(isinstance(p, exp.TemporaryProperty) for p in properties.expressions):
                temporary.add(target.name)
        if target.name not in temporary:
            builds.add(target.name)
    return reads, builds


def scripts(model: Model) -> list:
    return [model.path, *([model.full_path] if model.full_path else [])]


MODELS = load_models()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_the_header_names_every_table_the_sql_reads_and_builds(model: Model) -> None:
    reads, builds = lineage(model.path.read_text(encoding="utf-8"))
    declared = set(model.reads) | set(model.kept)
    assert reads - set(model.builds) == declared - set(model.builds), (
        f"{model.path.name}: reads undeclared {sorted(reads - declared - set(model.builds))}, "
        f"declares unread {sorted(declared - reads)}")
    assert builds == set(model.builds), (
        f"{model.path.name}: builds undeclared {sorted(builds - set(model.builds))}, "
        f"declares unbuilt {sorted(set(model.builds) - builds)}")


@pytest.mark.parametrize("model", [m for m in MODELS if m.full_path], ids=lambda m: m.name)
def test_a_full_mode_script_reads_and_builds_no_more_than_its_model(model: Model) -> None:
    reads, builds = lineage(model.full_path.read_text(encoding="utf-8"))
    assert reads <= set(model.reads) | set(model.kept) | set(model.builds)
    assert builds <= set(model.builds)


def test_kept_tables_are_the_previous_audits_run_scoped_tables() -> None:
    scoped = {t for m in MODELS for t in m.scoped_tables}
    for model in MODELS:
        assert set(model.kept) <= scoped, f"{model.name}: kept tables must be run-scoped tables {sorted(scoped)}"


def test_the_lineage_resolves_and_the_inputs_register_every_input_table() -> None:
    graph = upstream(MODELS, "audit_inputs")  # raises if a read has no builder
    assert graph["intent_state"] and "matches" in graph["intent_state"]
    con = duckdb.connect()
    database.search_internal(con)
    engine.prepare(con, Workspace.open(WORKSPACE_DIR))
    registered = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert registered >= INPUT_TABLES, sorted(INPUT_TABLES - registered)
