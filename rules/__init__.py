"""SQL rules: the models, one file per mismatch type, the findings and the repair plan.

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

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

RULES_DIR = Path(__file__).resolve().parent
MODELS_DIR = RULES_DIR / "models"
MISMATCHES_DIR = RULES_DIR / "mismatches"
FINDINGS_DIR = RULES_DIR / "findings"
REPAIRS_DIR = RULES_DIR / "repairs"
FIXTURES_DIR = RULES_DIR / "fixtures"
MACROS_FILE = RULES_DIR / "macros.sql"  # comparisons the models share

SUBJECT_KINDS = ("intent", "run", "effect")
SEVERITIES = ("low", "medium", "high")
REPAIR_PATTERNS = ("receipt_backfill", "status_patch", "forward_completion", "compensation", "human_adjudication",
                   "wait_and_verify")
# What a repair's `if` may test: the catalog (reversible, safe to retry), the intent (it has an
# idempotency key), the policy (an orphan may be compensated). rules/repairs/10_patterns.sql.
REPAIR_CONDITIONS = ("reversible", "safe_to_retry", "has_key", "compensable")
# What a duplicate risk's `if` may test: the system still remembers the original call's key.
RISK_CONDITIONS = ("key_remembered",)
# How a forward completion or status patch is carried out (rules/repairs/20_repair_actions.sql).
OPERATIONS = {
    "patch_fields": "forward_completion", "execute_step": "forward_completion",
    "retry_same_key": "forward_completion", "retry_new_key": "forward_completion",
    "mark_satisfied": "status_patch", "mark_needs_reconciliation": "status_patch", "mark_complete": "status_patch",
}  # fmt: skip
# What the metrics count a type as (reports/metrics.sql: findings_by_category, duplicate incidents).
METRIC_CATEGORIES = ("duplicate", "drift", "failure", "missing", "bookkeeping", "pending", "orphan")
# `scope: run`: a subject's hits depend only on its own run's rows of these tables, so an
# incremental audit evaluates the rule for the runs in scope and keeps the others' hits
# (reckon/engine.py); `scope: all` (the default): the rule reads anything, every audit.
SCOPES = ("all", "run")
RUN_SCOPE_TABLES = ("intent_state", "run_state")
REQUIRED_KEYS = ("rule_id", "mismatch_type", "subject_kind", "severity", "precedence", "repair", "duplicate_risk",
                 "next_action", "prevention", "metric", "description")
_CHOICE = re.compile(r"^(\w+)(?: if (\w+) else (\w+))?$")
_HEADER = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(.*)$")


class RuleError(ValueError):
    """A rule file is malformed; the message names the file."""


@dataclass(frozen=True)
class Choice:
    """`value`, or `value if condition else otherwise` (a header's conditional value)."""

    value: str
    condition: str | None = None
    otherwise: str | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return (self.value,) if self.otherwise is None else (self.value, self.otherwise)


@dataclass(frozen=True)
class Rule:
    """A mismatch rule: its SQL, and everything its type means (the header)."""

    rule_id: str
    mismatch_type: str
    subject_kind: str
    severity: str
    precedence: int
    description: str
    sql: str
    path: Path
    repair: Choice = Choice("human_adjudication")
    operation: str | None = None  # how a forward completion or status patch is done
    duplicate_risk: Choice = Choice("medium")
    next_action: str = ""  # what an operator should do next, in words
    prevention: str = ""  # the follow-up work that stops it recurring
    metric: str = ""  # the category the metrics count it in
    scope: str = "all"  # SCOPES
    columns: frozenset[str] | None = None  # of a `scope: run` rule: the names its SQL mentions (None: whole rows)

    def catalog_row(self) -> dict[str, object]:
        """The type's row in the `mismatch_types` table the repair and metrics SQL read."""
        return {
            "mismatch_type": self.mismatch_type, "rule_id": self.rule_id, "subject_kind": self.subject_kind,
            "severity": self.severity, "precedence": self.precedence, "repair": self.repair.value,
            "repair_condition": self.repair.condition, "repair_otherwise": self.repair.otherwise,
            "operation": self.operation, "duplicate_risk": self.duplicate_risk.value,
            "risk_condition": self.duplicate_risk.condition, "risk_otherwise": self.duplicate_risk.otherwise,
            "next_action": self.next_action, "prevention": self.prevention, "metric": self.metric,
            "description": self.description,
        }  # fmt: skip

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
    repair = _choice(path, meta, "repair", REPAIR_PATTERNS, REPAIR_CONDITIONS)
    risk = _choice(path, meta, "duplicate_risk", SEVERITIES, RISK_CONDITIONS)
    operation = meta.get("operation") or None
    needs = {p for p in repair.values if p in OPERATIONS.values()}
    if operation is None and needs:
        raise RuleError(f"{path.name}: header lacks operation (how its {', '.join(sorted(needs))} is done: "
                        f"{', '.join(op for op, p in OPERATIONS.items() if p in needs)})")
    if operation is not None and OPERATIONS.get(operation) not in needs:
        raise RuleError(f"{path.name}: operation '{operation}' is not one of its repair's "
                        f"({', '.join(op for op, p in OPERATIONS.items() if p in needs) or 'it needs none'})")
    if meta["metric"] not in METRIC_CATEGORIES:
        raise RuleError(f"{path.name}: metric must be one of {METRIC_CATEGORIES}")
    scope = meta.get("scope") or "all"
    if scope not in SCOPES:
        raise RuleError(f"{path.name}: scope must be one of {SCOPES}")
    columns = _run_scope_columns(path, meta["subject_kind"], sql) if scope == "run" else None
    return Rule(
        rule_id=meta["rule_id"],
        mismatch_type=meta["mismatch_type"],
        subject_kind=meta["subject_kind"],
        severity=meta["severity"],
        precedence=int(meta["precedence"]),
        description=meta["description"],
        sql=sql,
        path=path,
        repair=repair,
        operation=operation,
        duplicate_risk=risk,
        next_action=meta["next_action"],
        prevention=meta["prevention"],
        metric=meta["metric"],
        scope=scope,
        columns=columns,
    )


def _run_scope_columns(path: Path, subject_kind: str, sql: str) -> frozenset[str] | None:
    """Check a `scope: run` rule: it judges an intent or a run and reads only
    `RUN_SCOPE_TABLES`, unqualified (the engine binds those names to the scope's rows).
    Returns every name its column references and join columns mention, which the engine
    fetches of the scope's rows; None when it reads whole rows (`*`, `COLUMNS`, a
    positional or natural join, a row named by its table or alias). By DuckDB's parser."""
    if subject_kind == "effect":
        raise RuleError(f"{path.name}: scope run is for intent and run rules (an effect has no run)")
    tree = _syntax_tree(sql)
    if tree["error"] or len(tree["statements"]) != 1:
        raise RuleError(f"{path.name}: its SQL must be one SELECT ({tree.get('error_message', 'several statements')})")
    tables, ctes, relations, names, single = set(), set(), set(), set(), set()
    whole_rows = False
    stack: list = [tree["statements"]]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        kind = node.get("class") or node.get("type")
        if kind == "TABLE_FUNCTION":
            raise RuleError(f"{path.name}: scope run rules read tables, not table functions")
        if kind == "BASE_TABLE":
            tables.add((node["catalog_name"], node["schema_name"], node["table_name"]))
        if kind in ("STAR", "POSITIONAL_REFERENCE") or node.get("ref_type") in ("NATURAL", "POSITIONAL"):
            whole_rows = True
        if kind == "COLUMN_REF":
            names.update(node["column_names"])
            if len(node["column_names"]) == 1:  # a column, or a whole row by its relation's name
                single.add(node["column_names"][0])
        names.update(node.get("using_columns") or [])
        if kind in ("BASE_TABLE", "SUBQUERY"):
            relations.update(filter(None, [node.get("alias"), node.get("table_name")]))
        ctes.update(entry["key"] for entry in (node.get("cte_map") or {}).get("map") or [])
    outside = sorted(".".join(filter(None, t)) for t in tables
                     if t[:2] != ("", "") or t[2] not in (*RUN_SCOPE_TABLES, *ctes))
    if outside:
        raise RuleError(f"{path.name}: scope run rules read only {', '.join(RUN_SCOPE_TABLES)} (unqualified); "
                        f"it reads {', '.join(outside)}")
    return None if whole_rows or single & (relations | ctes) else frozenset(names)


@functools.cache
def _syntax_tree(sql: str) -> dict:
    """DuckDB's parse of `sql` (json_serialize_sql), once per text and process: rules load
    on every audit."""
    with _parser(os.getpid()).cursor() as con:
        return json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])


@functools.cache
def _parser(pid: int) -> duckdb.DuckDBPyConnection:
    # One in-memory database per process (about 20 ms to open; a forked child opens its
    # own: the parent's has no threads there); a cursor per parse, for threads.
    return duckdb.connect()


def _choice(path: Path, meta: dict[str, str], key: str, values: tuple[str, ...], conditions: tuple[str, ...]) -> Choice:
    """A header value `v` or `v if condition else w`, each checked against its vocabulary."""
    match = _CHOICE.match(meta[key])
    if not match:
        raise RuleError(f"{path.name}: {key} must be `value` or `value if condition else value`")
    choice = Choice(*match.groups())
    if any(v not in values for v in choice.values):
        raise RuleError(f"{path.name}: {key} values must be among {values}")
    if choice.condition is not None and choice.condition not in conditions:
        raise RuleError(f"{path.name}: {key} condition must be one of {conditions}")
    return choice


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


# Tables the audit's inputs register (reckon/inputs.py) that models may read.
INPUT_TABLES = frozenset({
    "audit_context", "cfg_systems", "cfg_workflows", "cfg_steps", "cfg_policies", "cfg_snapshots", "cfg_field_map",
    "cfg_status_vocabulary", "raw_events", "raw_events_new", "raw_observed", "raw_observed_new", "decisions",
    "quarantine", "mismatch_types", "folded_snapshots",
})  # fmt: skip


@dataclass(frozen=True)
class Model:
    """A SQL model (rules/models/): builds its tables from the tables it reads.

    Its header declares every table it reads from this audit (`reads`) or as the previous
    audit left it (`kept`: run-scoped tables before this audit's commit), and every table
    or view it builds (`builds`); tests/rules/test_model_lineage.py checks the SQL against
    them, and the Dagster lineage follows them. A run-scoped model (`scoped_tables: a, b`)
    computes its tables for the audit's scope only, as `scoped_a`, `scoped_b`;
    `reckon.incremental.commit` folds them into `a`, `b`. `full_mode` names the script to
    run instead on a full audit.
    """

    name: str
    description: str
    path: Path
    reads: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    builds: tuple[str, ...] = ()
    scoped_tables: tuple[str, ...] = ()
    full_path: Path | None = None
    counted: str = ""  # header `table`: the table whose rows the model reports, if not `name`

    @property
    def table(self) -> str:
        """The table whose row count the model reports."""
        return self.counted or (f"scoped_{self.name}" if self.name in self.scoped_tables else self.name)


def load_models() -> list[Model]:
    models = []
    for path in sql_scripts(MODELS_DIR):
        meta, _ = parse_header(path.read_text(encoding="utf-8"))
        if not meta.get("model") or not meta.get("builds"):
            raise RuleError(f"{path.name}: header lacks model or builds")
        full = meta.get("full_mode")
        models.append(Model(meta["model"], meta.get("description", ""), path, _names(meta.get("reads", "")),
                            _names(meta.get("kept", "")), _names(meta["builds"]), _names(meta.get("scoped_tables", "")),
                            path.parent / full if full else None, meta.get("table", "")))
    return models


def upstream(models: list[Model], inputs: str) -> dict[str, tuple[str, ...]]:
    """Each model's upstream steps: for every table it reads, the models before it that
    build that table, or `inputs` for a table the audit's inputs register (the lineage)."""
    out: dict[str, tuple[str, ...]] = {}
    for index, model in enumerate(models):
        found: list[str] = []
        for table in model.reads:
            builders = [m.name for m in models[:index] if table in m.builds]
            if not builders and table not in INPUT_TABLES:
                raise RuleError(f"{model.path.name}: reads {table}, which no earlier model builds and the inputs do not register")
            found += builders or [inputs]
        out[model.name] = tuple(dict.fromkeys(found))
    return out


def _names(text: str) -> tuple[str, ...]:
    return tuple(d.strip() for d in text.split(",") if d.strip())
