"""Readers for the contract as the repository documents it (docs/contract.md and
docs/event-log.schema.json), so that tests check the code against the project's own docs.

The mismatch-type tables are the ones under the `### Intent level`, `### Run level` and
`### Effect level` headings of docs/contract.md; the repair patterns are the table under
`## ... Repair patterns`. A row is `| `name` | ... |`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs"
CONTRACT = DOCS / "contract.md"
EVENT_LOG_SCHEMA = DOCS / "event-log.schema.json"

LEVELS = ("intent", "run", "effect")

_HEADING = re.compile(r"^(#+)\s+(.*?)\s*$")
_LEVEL = re.compile(r"^(Intent|Run|Effect) level\b", re.IGNORECASE)
_PATTERNS = re.compile(r"^(?:\d+\.\s*)?Repair patterns\s*$", re.IGNORECASE)
_ROW = re.compile(r"^\|\s*`([a-z_]+)`\s*\|")


def parse_mismatch_tables(text: str) -> dict[str, list[str]]:
    """Mismatch types per subject kind (intent, run, effect), in table order."""
    kinds: dict[str, list[str]] = {}
    kind = None
    for line in text.splitlines():
        if m := _HEADING.match(line):
            level = _LEVEL.match(m.group(2)) if len(m.group(1)) == 3 else None
            kind = level.group(1).lower() if level else None
            if kind:
                kinds[kind] = []
        elif kind and (row := _ROW.match(line)):
            kinds[kind].append(row.group(1))
    return kinds


def parse_repair_patterns(text: str) -> list[str]:
    """The repair patterns, in table order."""
    patterns: list[str] = []
    inside = False
    for line in text.splitlines():
        if m := _HEADING.match(line):
            if len(m.group(1)) <= 2:
                inside = bool(_PATTERNS.match(m.group(2)))
            elif len(m.group(1)) > 2 and inside:
                inside = False  # a subsection ends the patterns table
        elif inside and (row := _ROW.match(line)):
            patterns.append(row.group(1))
    return patterns


@cache
def contract_text() -> str:
    return CONTRACT.read_text(encoding="utf-8")


@cache
def mismatch_types_by_level() -> dict[str, list[str]]:
    """{"intent": [...in precedence order], "run": [...], "effect": [...]}."""
    kinds = parse_mismatch_tables(contract_text())
    assert tuple(kinds) == LEVELS, f"{CONTRACT} should have the three level tables: {kinds}"
    assert all(kinds.values()), f"a level table of {CONTRACT} parsed empty: {kinds}"
    return kinds


def mismatch_types() -> list[str]:
    """Every mismatch type, intent level first (in precedence order), then run, then effect."""
    return [t for level in LEVELS for t in mismatch_types_by_level()[level]]


def repair_patterns() -> list[str]:
    patterns = parse_repair_patterns(contract_text())
    assert patterns, f"no repair patterns table found in {CONTRACT}"
    return patterns


def event_log_schema() -> dict[str, Any]:
    """The JSON Schema of one event-log line."""
    return json.loads(EVENT_LOG_SCHEMA.read_text(encoding="utf-8"))
