"""The rule catalog (rules/mismatches/*.sql) against the contract's mismatch types
(docs/contract.md)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rules import (
    MISMATCHES_DIR,
    OPERATIONS,
    REPAIR_CONDITIONS,
    Rule,
    RuleError,
    load_rules,
    parse_rule,
)
from tests import contract


@pytest.fixture(scope="module")
def taxonomy() -> dict[str, list[str]]:
    """Mismatch types per subject kind, in the order of docs/contract.md's tables."""
    return contract.mismatch_types_by_level()


@pytest.fixture(scope="module")
def rule_files() -> list[Rule]:
    # parse_rule, not load_rules: a duplicate must show up here as a count, not an exception.
    return [parse_rule(p) for p in sorted(MISMATCHES_DIR.glob("*.sql"))]


def test_every_taxonomy_type_has_exactly_one_rule(
    taxonomy: dict[str, list[str]], rule_files: list[Rule]
) -> None:
    counts = Counter(r.mismatch_type for r in rule_files)
    wrong = {t: counts[t] for kind in taxonomy.values() for t in kind if counts[t] != 1}
    assert not wrong, f"taxonomy types without exactly one rule (type: rules found): {wrong}"


def test_rule_ids_are_unique(rule_files: list[Rule]) -> None:
    dups = {rid: n for rid, n in Counter(r.rule_id for r in rule_files).items() if n > 1}
    assert not dups, f"rule ids used more than once: {dups}"
    load_rules()  # and the loader agrees


def test_subject_kinds_match_taxonomy_sections(
    taxonomy: dict[str, list[str]], rule_files: list[Rule]
) -> None:
    section_of = {t: kind for kind, types in taxonomy.items() for t in types}
    wrong = {
        r.mismatch_type: (r.subject_kind, section_of[r.mismatch_type])
        for r in rule_files
        if r.mismatch_type in section_of and r.subject_kind != section_of[r.mismatch_type]
    }
    assert not wrong, (
        f"rules whose subject_kind differs from their taxonomy section (rule, taxonomy): {wrong}"
    )


def test_intent_precedence_follows_taxonomy_order(taxonomy: dict[str, list[str]]) -> None:
    intent_rules = [r for r in load_rules() if r.subject_kind == "intent"]
    precedences = Counter(r.precedence for r in intent_rules)
    assert all(n == 1 for n in precedences.values()), (
        f"intent rules share a precedence: {precedences}"
    )
    in_order = [r.mismatch_type for r in sorted(intent_rules, key=lambda r: r.precedence)]
    named = [t for t in in_order if t in taxonomy["intent"]]
    assert named == taxonomy["intent"], (
        f"intent rules by precedence:\n  {named}\nbut docs/contract.md lists them as:\n  {taxonomy['intent']}"
    )


GOOD_HEADER = {
    "rule_id": "R999",
    "mismatch_type": "bogus_type",
    "subject_kind": "intent",
    "severity": "low",
    "precedence": "99",
    "repair": "forward_completion if safe_to_retry else human_adjudication",
    "operation": "retry_new_key",
    "duplicate_risk": "low",
    "next_action": "do the thing again",
    "prevention": "do the thing right",
    "metric": "failure",
    "description": "A test rule.",
}
GOOD_SQL = "SELECT intent_id AS subject_id FROM intent_state"


def _write_rule(folder: Path, name: str, header: dict[str, str], sql: str = GOOD_SQL) -> Path:
    path = folder / name
    lines = [f"-- {k}: {v}" for k, v in header.items()]
    path.write_text("\n".join([*lines, sql]) + "\n", encoding="utf-8")
    return path


def test_a_well_formed_rule_parses(tmp_path: Path) -> None:
    rule = parse_rule(_write_rule(tmp_path, "bogus_type.sql", GOOD_HEADER))
    assert (rule.rule_id, rule.mismatch_type, rule.precedence) == ("R999", "bogus_type", 99)
    assert rule.sql == GOOD_SQL
    assert rule.scope == "all"


def test_a_run_scope_rule_may_read_its_tables_through_its_own_ctes(tmp_path: Path) -> None:
    sql = ("WITH late AS (SELECT run_id FROM run_state WHERE past_window) "
           "SELECT intent_id AS subject_id FROM intent_state SEMI JOIN late USING (run_id)")
    rule = parse_rule(_write_rule(tmp_path, "bogus_type.sql", {**GOOD_HEADER, "scope": "run"}, sql))
    assert rule.scope == "run"
    # What an incremental audit fetches of the scope's rows: every name the SQL mentions.
    assert {"run_id", "past_window", "intent_id"} <= rule.columns


@pytest.mark.parametrize("sql", [
    "SELECT s.intent_id AS subject_id FROM intent_state s WHERE s IS NOT NULL",
    "SELECT intent_id AS subject_id FROM (SELECT * FROM intent_state)",
    "SELECT intent_id AS subject_id FROM intent_state NATURAL JOIN run_state",
    "SELECT intent_id AS subject_id FROM intent_state WHERE COLUMNS('n_.*') > 0",
])
def test_a_run_scope_rule_that_reads_whole_rows_gets_whole_rows(tmp_path: Path, sql: str) -> None:
    rule = parse_rule(_write_rule(tmp_path, "bogus_type.sql", {**GOOD_HEADER, "scope": "run"}, sql))
    assert rule.columns is None


@pytest.mark.parametrize(
    ("header", "sql", "complaint"),
    [
        pytest.param(
            {k: v for k, v in GOOD_HEADER.items() if k != "severity"},
            GOOD_SQL,
            "lacks severity",
            id="missing key",
        ),
        pytest.param(
            {**GOOD_HEADER, "description": ""}, GOOD_SQL, "lacks description", id="empty value"
        ),
        pytest.param(
            {**GOOD_HEADER, "subject_kind": "workflow"},
            GOOD_SQL,
            "subject_kind",
            id="bad subject kind",
        ),
        pytest.param(
            {**GOOD_HEADER, "severity": "critical"}, GOOD_SQL, "severity", id="bad severity"
        ),
        pytest.param(
            {**GOOD_HEADER, "precedence": "first"},
            GOOD_SQL,
            "precedence",
            id="non-numeric precedence",
        ),
        pytest.param({**GOOD_HEADER, "rule_id": "R-999"}, GOOD_SQL, "rule_id", id="bad rule id"),
        pytest.param(GOOD_HEADER, "", "no SQL", id="no body"),
        pytest.param({k: v for k, v in GOOD_HEADER.items() if k != "prevention"}, GOOD_SQL, "lacks prevention",
                     id="no prevention line"),
        pytest.param({**GOOD_HEADER, "repair": "fix_it"}, GOOD_SQL, "repair values", id="unknown pattern"),
        pytest.param({**GOOD_HEADER, "repair": "compensation if lucky else human_adjudication"}, GOOD_SQL,
                     "repair condition", id="unknown condition"),
        pytest.param({**GOOD_HEADER, "repair": "forward_completion or else"}, GOOD_SQL, "repair must be",
                     id="unreadable repair"),
        pytest.param({k: v for k, v in GOOD_HEADER.items() if k != "operation"}, GOOD_SQL, "lacks operation",
                     id="forward completion without its operation"),
        pytest.param({**GOOD_HEADER, "operation": "mark_complete"}, GOOD_SQL, "operation 'mark_complete'",
                     id="an operation of another pattern"),
        pytest.param({**GOOD_HEADER, "duplicate_risk": "low if lucky else high"}, GOOD_SQL,
                     "duplicate_risk condition", id="unknown risk condition"),
        pytest.param({**GOOD_HEADER, "metric": "misc"}, GOOD_SQL, "metric", id="unknown metric category"),
        pytest.param({**GOOD_HEADER, "scope": "day"}, GOOD_SQL, "scope must be", id="unknown scope"),
        pytest.param({**GOOD_HEADER, "scope": "run", "subject_kind": "effect"},
                     "SELECT system || ':' || external_id AS subject_id FROM observed", "an effect has no run",
                     id="effect rule scoped to a run"),
        pytest.param({**GOOD_HEADER, "scope": "run"},
                     "SELECT s.intent_id AS subject_id FROM intent_state s SEMI JOIN matches m USING (intent_id)",
                     "it reads matches", id="run scope reading another table"),
        pytest.param({**GOOD_HEADER, "scope": "run"},
                     "SELECT intent_id AS subject_id FROM intent_state WHERE EXISTS (SELECT 1 FROM audit_context)",
                     "it reads audit_context", id="run scope reading the clock in a subquery"),
        pytest.param({**GOOD_HEADER, "scope": "run"}, "SELECT intent_id AS subject_id FROM main.intent_state",
                     "it reads main.intent_state", id="run scope naming the table's schema"),
        pytest.param({**GOOD_HEADER, "scope": "run"}, "SELECT subject_id FROM read_parquet('hits.parquet')",
                     "not table functions", id="run scope reading a file"),
        pytest.param({**GOOD_HEADER, "scope": "run"}, "SELECT intent_id AS subject_id FROM intent_state; SELECT 1",
                     "must be one SELECT", id="run scope with two statements"),
    ],
)
def test_malformed_header_raises_rule_error_naming_the_file(
    tmp_path: Path, header: dict[str, str], sql: str, complaint: str
) -> None:
    path = _write_rule(tmp_path, "broken_rule.sql", header, sql)
    with pytest.raises(RuleError, match=re.escape(complaint)) as err:
        parse_rule(path)
    assert "broken_rule.sql" in str(err.value)


def test_duplicate_rule_id_in_a_folder_raises_naming_both_files(tmp_path: Path) -> None:
    _write_rule(tmp_path, "a_rule.sql", GOOD_HEADER)
    _write_rule(tmp_path, "b_rule.sql", {**GOOD_HEADER, "mismatch_type": "other_type"})
    with pytest.raises(RuleError, match="rule_id 'R999'") as err:
        load_rules(tmp_path)
    assert "a_rule.sql" in str(err.value) and "b_rule.sql" in str(err.value)


def test_every_condition_and_operation_a_header_may_name_has_its_sql(audit_db_empty) -> None:
    """A vocabulary word the SQL has no arm for would give NULL silently: every repair
    condition evaluates, and every operation gives parameters and an explanation."""
    con = audit_db_empty
    for condition in REPAIR_CONDITIONS:
        assert con.execute("SELECT condition_met(?, true, true, true, true)", [condition]).fetchone() == (True,)
    plan = (MISMATCHES_DIR.parent / "repairs" / "20_repair_actions.sql").read_text()
    for operation in OPERATIONS:
        assert plan.count(f"'{operation}'") >= 2, f"{operation}: no parameters or no explanation in the plan SQL"


def test_every_type_in_the_catalog_table_has_its_whole_meaning(audit_db_empty) -> None:
    rows = audit_db_empty.execute("SELECT * FROM mismatch_types").fetchall()
    cols = [d[0] for d in audit_db_empty.description]
    assert len(rows) == len(load_rules())
    for row in rows:
        entry = dict(zip(cols, row, strict=True))
        missing = [k for k in ("severity", "repair", "duplicate_risk", "next_action", "prevention", "metric")
                   if not entry[k]]
        assert not missing, f"{entry['mismatch_type']}: {missing}"


@pytest.fixture(scope="module")
def audit_db_empty():
    from reckon.rule_cases import empty_audit_database

    con = empty_audit_database()
    yield con
    con.close()
