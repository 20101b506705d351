"""SQL rules: the layers, one file per mismatch type, the findings and the repair plan.

A mismatch rule is a SELECT returning the offending subjects (`subject_id`), under a
header of metadata in SQL comments, in the style of dbt singular tests:

    -- rule_id: R106
    -- mismatch_type: receipt_missing
    -- subject_kind: intent
    -- severity: medium
    -- precedence: 6
    -- description: ...
    --   continued description lines are indented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent
LAYERS_DIR = RULES_DIR / "layers"
MISMATCHES_DIR = RULES_DIR / "mismatches"
FINDINGS_DIR = RULES_DIR / "findings"
REPAIRS_DIR = RULES_DIR / "repairs"
FIXTURES_DIR = RULES_DIR / "fixtures"
MACROS_FILE = RULES_DIR / "macros.sql"  # comparisons the layers share

SUBJECT_KINDS = ("intent", "run", "effect")
SEVERITIES = ("low", "medium", "high")
REQUIRED_KEYS = ("rule_id", "mismatch_type", "subject_kind", "severity", "precedence", "description")
_HEADER = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(.*)$")


class RuleError(ValueError):
    """A rule file is malformed; the message names the file."""


@dataclass(frozen=True)
class Rule:
    rule_id: str
    mismatch_type: str
    subject_kind: str
    severity: str
    precedence: int
    description: str
    sql: str
    path: Path

    def hits_sql(self) -> str:
        """The rule's offending rows, labelled with its metadata."""
        return (
            f"SELECT '{self.rule_id}' AS rule_id, '{self.mismatch_type}' AS mismatch_type, "
            f"'{self.subject_kind}' AS subject_kind, '{self.severity}' AS severity, "
            f"{self.precedence} AS precedence, subject_id FROM (\n{self.sql.rstrip().rstrip(';')}\n)"
        )


def parse_header(text: str) -> tuple[dict[str, str], str]:
    """Split a SQL file into its `-- key: value` header and its body."""
    meta: dict[str, str] = {}
    last = None
    lines = text.splitlines()
    body_start = len(lines)
    for number, line in enumerate(lines):
        if (m := _CONTINUATION.match(line)) and last:
            meta[last] += " " + m.group(1).strip()
        elif m := _HEADER.match(line):
            last = m.group(1)
            meta[last] = m.group(2).strip()
        else:
            body_start = number
            break
    return meta, "\n".join(lines[body_start:]).strip()


def parse_rule(path: Path) -> Rule:
    meta, sql = parse_header(path.read_text(encoding="utf-8"))
    missing = [k for k in REQUIRED_KEYS if not meta.get(k)]
    if missing:
        raise RuleError(f"{path.name}: header lacks {', '.join(missing)}")
    if meta["subject_kind"] not in SUBJECT_KINDS:
        raise RuleError(f"{path.name}: subject_kind must be one of {SUBJECT_KINDS}")
    if meta["severity"] not in SEVERITIES:
        raise RuleError(f"{path.name}: severity must be one of {SEVERITIES}")
    if not meta["precedence"].isdigit():
        raise RuleError(f"{path.name}: precedence must be a whole number")
    for key in ("rule_id", "mismatch_type"):
        if not re.fullmatch(r"[A-Za-z0-9_]+", meta[key]):
            raise RuleError(f"{path.name}: {key} may hold only letters, digits and underscores")
    if not sql:
        raise RuleError(f"{path.name}: no SQL after the header")
    return Rule(
        rule_id=meta["rule_id"],
        mismatch_type=meta["mismatch_type"],
        subject_kind=meta["subject_kind"],
        severity=meta["severity"],
        precedence=int(meta["precedence"]),
        description=meta["description"],
        sql=sql,
        path=path,
    )


def load_rules(folder: Path = MISMATCHES_DIR) -> list[Rule]:
    """Every rule in the folder, by subject kind then precedence; ids and types unique."""
    rules = [parse_rule(p) for p in sorted(folder.glob("*.sql"))]
    for attr in ("rule_id", "mismatch_type"):
        seen: dict[str, Path] = {}
        for rule in rules:
            value = getattr(rule, attr)
            if value in seen:
                raise RuleError(f"{rule.path.name}: {attr} '{value}' is also used by {seen[value].name}")
            seen[value] = rule.path
    return sorted(rules, key=lambda r: (SUBJECT_KINDS.index(r.subject_kind), r.precedence, r.rule_id))


def sql_scripts(folder: Path) -> list[Path]:
    """A step's SQL files, in their numbered order."""
    return sorted(folder.glob("*.sql"))


@dataclass(frozen=True)
class Layer:
    """A layer script: builds the table `name` from the tables it `depends_on`.

    A run-scoped layer (header `scoped_tables: a, b`) computes its tables for the audit's
    scope only, as `scoped_a`, `scoped_b`; `reckon.engine.commit_layers` folds them into
    `a`, `b` by run_id. `full_mode` names the script to run instead on a full audit.
    """

    name: str
    depends_on: tuple[str, ...]
    description: str
    path: Path
    scoped_tables: tuple[str, ...] = ()
    full_path: Path | None = None
    counted: str = ""  # header `table`: the table whose rows the layer reports, if not `name`

    @property
    def table(self) -> str:
        """The table whose row count the layer reports."""
        return self.counted or (f"scoped_{self.name}" if self.name in self.scoped_tables else self.name)


def load_layers() -> list[Layer]:
    layers = []
    for path in sql_scripts(LAYERS_DIR):
        meta, _ = parse_header(path.read_text(encoding="utf-8"))
        if not meta.get("layer"):
            raise RuleError(f"{path.name}: header lacks layer")
        full = meta.get("full_mode")
        layers.append(Layer(meta["layer"], _names(meta.get("depends_on", "")), meta.get("description", ""), path,
                            _names(meta.get("scoped_tables", "")), path.parent / full if full else None,
                            meta.get("table", "")))
    return layers


def _names(text: str) -> tuple[str, ...]:
    return tuple(d.strip() for d in text.split(",") if d.strip())
