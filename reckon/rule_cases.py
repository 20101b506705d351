"""Given/expect fixtures for the mismatch rules (`reckon rules test`, and pytest).

A fixture file `rules/fixtures/<mismatch_type>.yaml` holds cases:

    rule: receipt_missing
    cases:
      - name: worker died after the side effect
        given:
          intent_state:
            - {intent_id: int_1, observed_state: present, produced_by: agent, recorded_outcome: attempted}
        expect: [int_1]

`given` fills the tables the rule reads (unnamed columns are NULL; every other table
is empty); `expect` lists the subject ids the rule must return, no more, no less.
The tables are the real model tables, built by the real model SQL over no data, so a
fixture breaks when a column it names disappears.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from reckon import database, engine, incremental
from reckon.workspace import Workspace
from rules import FIXTURES_DIR, Rule, load_rules

WORKSPACE_DIR = FIXTURES_DIR / "workspace"  # the cases' reckon.yaml


@dataclass(frozen=True)
class CaseResult:
    rule: str
    case: str
    expected: list[str]
    actual: list[str]

    @property
    def passed(self) -> bool:
        return self.expected == self.actual


def empty_audit_database() -> duckdb.DuckDBPyConnection:
    """An in-memory database with every model and findings table, all empty."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    database.search_internal(con)
    engine.prepare(con, Workspace.open(WORKSPACE_DIR))
    incremental.build_all(con)
    engine.detect_findings(con)
    return con


def load_cases(rule: Rule) -> list[dict[str, Any]]:
    path = FIXTURES_DIR / f"{rule.mismatch_type}.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data.get("rule") != rule.mismatch_type:
        raise ValueError(f"{path.name}: 'rule' must be {rule.mismatch_type}")
    return data["cases"]


def run_case(con: duckdb.DuckDBPyConnection, rule: Rule, case: dict[str, Any]) -> CaseResult:
    con.execute("BEGIN")
    try:
        for table, rows in (case.get("given") or {}).items():
            _fill(con, table, rows or [])
        actual = sorted(r[0] for r in con.execute(f"SELECT subject_id FROM ({rule.sql.rstrip().rstrip(';')})").fetchall())
    finally:
        con.execute("ROLLBACK")
    return CaseResult(rule.mismatch_type, case["name"], sorted(case.get("expect") or []), actual)


def run_all() -> list[CaseResult]:
    con = empty_audit_database()
    try:
        return [run_case(con, rule, case) for rule in load_rules() for case in load_cases(rule)]
    finally:
        con.close()


def _fill(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    unknown = sorted({k for row in rows for k in row} - set(columns))
    if unknown:
        raise ValueError(f"fixture names unknown column(s) of {table}: {', '.join(unknown)}")
    con.execute(f"DELETE FROM {table}")
    if rows:
        con.register("_given", pa.Table.from_pylist([{k: _text_if_nested(v) for k, v in row.items()} for row in rows]))
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _given")
        con.unregister("_given")


def _text_if_nested(value: Any) -> Any:
    # JSON-valued columns are VARCHAR in the models; YAML mappings become JSON text.
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
