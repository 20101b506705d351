"""Every mismatch rule against its given/expect fixtures (rules/fixtures/<mismatch_type>.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from reckon.rule_cases import empty_audit_database, load_cases, run_case
from rules import FIXTURES_DIR, Rule, load_rules

RULES = load_rules()

# The table and columns that name a rule's subjects in a case's `given`.
SUBJECT_TABLES = {
    "intent": ("intent_state", lambda row: row.get("intent_id")),
    "run": ("run_state", lambda row: row.get("run_id")),
    "effect": (
        "observed",
        lambda row: (
            f"{row['system']}:{row['external_id']}"
            if row.get("system") and row.get("external_id")
            else None
        ),
    ),
}


def _cases() -> list[Any]:
    params = []
    for rule in RULES:
        for case in load_cases(rule):
            params.append(pytest.param(rule, case, id=f"{rule.mismatch_type}: {case['name']}"))
    return params


def given_subjects(rule: Rule, case: dict[str, Any]) -> set[str]:
    """The subject ids a case's `given` puts in front of the rule."""
    table, subject_of = SUBJECT_TABLES[rule.subject_kind]
    rows = (case.get("given") or {}).get(table) or []
    return {s for s in (subject_of(row) for row in rows) if s}


def is_positive(case: dict[str, Any]) -> bool:
    return bool(case.get("expect"))


def is_negative(rule: Rule, case: dict[str, Any]) -> bool:
    return not case.get("expect") or bool(given_subjects(rule, case) - set(case["expect"]))


@pytest.fixture(scope="module")
def audit_db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = empty_audit_database()
    yield con
    con.close()


@pytest.mark.parametrize(("rule", "case"), _cases())
def test_rule_case(audit_db: duckdb.DuckDBPyConnection, rule: Rule, case: dict[str, Any]) -> None:
    result = run_case(audit_db, rule, case)
    missing = sorted(set(result.expected) - set(result.actual))
    unexpected = sorted(set(result.actual) - set(result.expected))
    assert result.actual == result.expected, (
        f"{rule.rule_id} {rule.mismatch_type} ({rule.path.name}), case {case['name']!r}:\n"
        f"  expected {result.expected}\n  got      {result.actual}\n"
        f"  should fire but did not: {missing}\n  fired but should not:    {unexpected}"
    )


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.mismatch_type)
def test_rule_has_positive_and_negative_fixture(rule: Rule) -> None:
    path = FIXTURES_DIR / f"{rule.mismatch_type}.yaml"
    assert path.exists(), f"{rule.path.name}: no fixture file {path.name} in {FIXTURES_DIR}"
    cases = load_cases(rule)
    assert cases, f"{path.name}: holds no cases"
    names = [c.get("name") for c in cases]
    assert all(names), f"{path.name}: every case needs a name"
    assert len(set(names)) == len(names), f"{path.name}: case names must be unique"
    assert any(is_positive(c) for c in cases), (
        f"{path.name}: needs a positive case (one where {rule.mismatch_type} fires, non-empty expect)"
    )
    assert any(is_negative(rule, c) for c in cases), (
        f"{path.name}: needs a negative case (empty expect, or a given subject the rule must not return)"
    )


def test_every_fixture_file_belongs_to_a_rule() -> None:
    types = {r.mismatch_type for r in RULES}
    strays = sorted(p.name for p in FIXTURES_DIR.glob("*.yaml") if p.stem not in types)
    assert not strays, f"fixture files with no rule in rules/mismatches/: {strays}"
