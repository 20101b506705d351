"""The rule catalog (rules/mismatches/*.sql) against the contract's mismatch types
(docs/contract.md)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rules import MISMATCHES_DIR, Rule, RuleError, load_rules, parse_rule
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
