"""`reckon.yaml`: sources, systems, the workflow catalog, policies and prevention lines.

Validated on load; every error names the offending key path so a user can fix
the file without reading this code. Nothing system-specific lives elsewhere:
a user of another runtime or vendor changes this file, not the code.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import re2
import yaml

from connectors.live.transport import VENDORS, ApiSettings

CONFIG_FILE = "reckon.yaml"

# Bounds no real configuration reaches: past them a value is a mistake, refused at load
# rather than overflowing deep in an audit. README.md lists them per key.
MAX_CONFIG_BYTES = 1 << 20  # reckon.yaml itself
MAX_DEPTH = 32  # nesting, connector options included
MAX_VALUES = 100_000  # values in the document once YAML aliases are expanded
MAX_TEXT = 10_000  # characters of one string
MAX_INT = 2**63 - 1  # any integer (a DuckDB BIGINT)
MAX_NAME = 64  # characters of a source, system or step name (a folder or asset name)
MAX_WORKFLOW = 200  # characters of a workflow name (the runtime's own)
MAX_DURATION = timedelta(days=3650)
MIN_SIZE, MAX_SIZE = 64 * 10**6, 2**50  # DuckDB memory and spill sizes: 64MB .. 1024TiB
MAX_BUCKETS = 4096  # a partition each in Dagster
MAX_THREADS = 256
MAX_REPEATED_DRIFT_AUDITS = 1_000
MAX_MINUTES_PER_TASK = 7 * 24 * 60
MAX_PATTERN = 1_000  # characters of correlation.key_pattern
MAX_PATTERN_PROGRAM = 10_000  # RE2 instructions of it: keeps its matcher's memory bounded
MAX_RATE = 10_000  # requests per second to one vendor (`systems.<name>.api.rate_per_second`)
MAX_BURST = 10_000
MAX_RETRIES = 10
MAX_TIMEOUT = timedelta(minutes=10)
# A fixed `observed_at`: an export's time, so after the Unix epoch and well before year 9999
# (a settle or completion window added to it stays a valid time).
OBSERVED_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))

_DURATION = re.compile(r"\s*(\d{1,15}(?:\.\d{1,9})?)\s*(s|m|h|d)\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# DuckDB's own size syntax, narrowed: a number and a unit, nothing else.
_SIZE = re.compile(r"(\d{1,15}(?:\.\d{1,6})?) ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_SIZE_UNITS = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
# Source, system and step names become folder and asset names (snapshots/source=<name>/).
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ACTION = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+")
_OBJECT_TYPE = re.compile(r"[a-z0-9_]+")  # the middle of an action
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # an environment variable's name
# No string in reckon.yaml may hold NUL or another control character (tab, newline and
# carriage return aside) or a lone surrogate: no path, folder name or Parquet value can.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error becomes a ConfigError, not a line on stderr
_RE2_OPTIONS.max_mem = 64 << 20


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, except a timestamp stays text: `observed_at` is parsed and
    range-checked here, and no datetime reaches connector options (JSON in a snapshot's id)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ConfigError(ValueError):
    """reckon.yaml is invalid; the message names the key."""


@dataclass(frozen=True)
class Source:
    name: str
    connector: str
    paths: list[str]
    system: str | None
    # "auto" (format's own export time, else file mtime), "mtime", or a fixed timestamp.
    observed_at: str
    # Connector-specific settings (e.g. a column mapping), validated by the connector.
    options: dict[str, Any] = field(default_factory=dict)
    # An optional source may match no file; a required one that does fails the audit.
    optional: bool = False


# Where an intended field is read on an object (`systems.<name>.fields`): the normalized
# state, the system's own status word, reckon's normalized fields, or a raw-record path.
FIELD_TARGETS = {"$state": "state", "$status": "status"}
_SEGMENT = re.compile(r'^[^.$"\\\[\]]+$')


@dataclass(frozen=True)
class FieldMapping:
    """One intended field and where the system shows it."""

    field: str
    kind: str  # "raw" (a path in the vendor's record), "fields" (reckon's), "state", "status"
    path: str  # the path as written (dotted)
    # DuckDB JSON paths for "raw"/"fields", e.g. $."properties"."email": a segment of digits
    # is an object key in `json_path` and a list index in `index_path` (`custom_fields.360001`
    # and `tags.0` are both written as dotted paths).
    json_path: str | None
    index_path: str | None = None
    # Intended value -> the value the system shows for it (a vocabulary of the workflow).
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class System:
    name: str
    object_type: str
    correlation_paths: list[str]
    natural_key: list[str]
    natural_key_unique: bool
    settle_window: timedelta
    agent_actors: list[str]
    idempotency_ttl: timedelta
    # A non-unique natural key (a charge, an email + template) names the same effect only
    # near the intent in time: objects created more than this before or after it don't match.
    natural_key_window: timedelta = timedelta(hours=24)
    # How the system spells ids (connectors.schema.ID_FORMS); "" takes its connector's.
    id_form: str = ""
    # Intended field -> where the system shows it; unmapped fields are read by their own
    # name in reckon's normalized fields.
    fields: tuple[FieldMapping, ...] = ()
    # How to reach the system's API (`reckon verify`, executors); None: not reachable.
    api: ApiSettings | None = None


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    required: bool
    reversible: bool
    compensation: str | None
    safe_to_retry: bool
    order: int

    @property
    def system(self) -> str:
        return self.action.split(".")[0]


@dataclass(frozen=True)
class Workflow:
    name: str
    completion_window: timedelta
    steps: list[Step]


@dataclass(frozen=True)
class Policies:
    quarantine_max_share: float = 0.05
    compensate_orphans: bool = False
    minutes_per_operator_task: float = 15.0
    repeated_drift_audits: int = 3
    approval_required: tuple[str, ...] = ("forward_completion", "compensation", "human_adjudication")
    memory_limit: str = "4GB"
    threads: int = 2
    # Spill room in .duckdb_tmp/; empty: 90% of the workspace disk's free space when an audit starts.
    max_temp_directory_size: str = ""
    # Recompute only the runs new data can change (reckon/incremental.py); false: every audit is full.
    incremental: bool = True
    # More than 1: a full audit's models one bucket of runs at a time (reckon/buckets.py), on
    # Dagster one partition per bucket; needs `incremental: false`.
    buckets: int = 1


@dataclass(frozen=True)
class PreventionLine:
    """A prevention line refined for one workflow or one system (`prevention:`): it replaces
    the mismatch type's own line (its rule header) for that workflow's or system's findings."""

    mismatch_type: str
    scope: str  # workflow · system
    name: str  # the workflow or the system
    line: str


@dataclass(frozen=True)
class KeyPattern:
    """`correlation.key_pattern`, matched by RE2 in time linear in the value: Python's `re`
    backtracks, and `(a+)+$` on a 34-character value did not finish in 90 s."""

    pattern: str
    _matcher: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A Set holding the one pattern: its full match is RE2's DFA with no Python per
        # call beyond encoding (re2's `fullmatch` builds a match object, ~5x the cost).
        # With a program of at most MAX_PATTERN_PROGRAM instructions in 64 MB the DFA
        # never runs out of memory, the one case where a Set would answer "no match".
        matcher = re2.Set.FullMatchSet(_RE2_OPTIONS)
        matcher.Add(self.pattern)
        matcher.Compile()
        object.__setattr__(self, "_matcher", matcher)

    def __reduce__(self) -> tuple[type[KeyPattern], tuple[str]]:
        # RE2's Set does not pickle; a process reading files for a snapshot compiles its own.
        return KeyPattern, (self.pattern,)

    def fullmatch(self, text: str) -> bool:
        # A value from JSON may hold a lone surrogate: as bytes RE2 matches no character to it.
        return self._matcher.Match(text.encode("utf-8", "surrogatepass")) is not None


@dataclass(frozen=True)
class Config:
    root: Path
    correlation_pattern: KeyPattern
    sources: list[Source]
    systems: dict[str, System]
    workflows: dict[str, Workflow]
    policies: Policies = field(default_factory=Policies)
    prevention: tuple[PreventionLine, ...] = ()

    def resolve(self, relative: str) -> Path:
        """A path from the config, resolved inside the workspace (never outside it)."""
        return inside(self.root, relative, "path")


def inside(root: Path, relative: str, key: str) -> Path:
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ConfigError(f"{key}: '{relative}' must be a relative path inside the workspace")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ConfigError(f"{key}: '{relative}' resolves outside the workspace")
    return resolved


def parse_duration(value: Any, key: str, minimum: timedelta = timedelta(0)) -> timedelta:
    """Seconds (an integer) or `<number><s|m|h|d>`, between `minimum` and MAX_DURATION."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value) if isinstance(value, str) else None
        if not match:
            raise ConfigError(f"{key}: '{value}' is not a duration like 90s, 30m, 2h or 3d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    # Checked as a number: timedelta itself overflows past 999,999,999 days.
    if not minimum.total_seconds() <= seconds <= MAX_DURATION.total_seconds():
        raise ConfigError(f"{key}: '{value}' is out of range ({minimum.total_seconds():g}s to {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


def size_bytes(value: str) -> float:
    """The bytes a DuckDB size (`4GB`, `512MiB`) stands for; ValueError if it is none."""
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"'{value}' is not a size like 512MB, 4GB or 8GiB")
    return float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def parse_size(value: Any, key: str) -> str:
    """A DuckDB size (`4GB`, `512MiB`) between MIN_SIZE and MAX_SIZE, as written."""
    try:
        size = size_bytes(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(f"{key}: '{value}' is out of range (64MB to 1024TiB)")
    return value


def _number(value: Any, key: str, low: float, high: float) -> Any:
    if not low <= value <= high:  # NaN fails both comparisons
        raise ConfigError(f"{key}: {value!r} is out of range ({low:g} to {high:g})")
    return value


class _Reader:
    """Typed access to a YAML mapping that reports errors by key path."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path or 'reckon.yaml'}: expected a mapping")
        self.data = data
        self.path = path

    def key(self, name: Any) -> str:
        return f"{self.path}.{name}" if self.path else str(name)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                raise ConfigError(f"{self.key(name)}: required key is missing")
            return default
        value = self.data[name]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.key(name)}: expected {names}, got {type(value).__name__}")
        return value

    def strings(self, name: str, default: Any = ..., minimum: int = 0) -> list[str]:
        value = self.get(name, list, default)
        if not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.key(name)}: expected a list of non-empty strings")
        if len(value) < minimum:
            raise ConfigError(f"{self.key(name)}: expected at least {minimum}")
        return list(value)

    def section(self, name: Any) -> _Reader:
        return _Reader(self.get(name, dict), self.key(name))

    def names(self, name: str, check: Callable[[Any, str], str]) -> list[str]:
        """The keys of the mapping `name` (absent: none), each checked by `check(key, path)`."""
        if name not in self.data:
            return []
        return [check(key, f"{self.key(name)}.{key}") for key in self.get(name, dict)]

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(map(str, set(self.data) - allowed))
        if extra:
            raise ConfigError(f"{self.key(extra[0])}: unknown key (allowed: {', '.join(sorted(allowed))})")


def load_config(workspace: Path) -> Config:
    """Load and validate `<workspace>/reckon.yaml`."""
    path = workspace / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path}: not found (run `reckon simulate` or write one; see README)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: unreadable: {exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {len(raw)} bytes, more than {MAX_CONFIG_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        at = len(raw[: exc.start].decode("utf-8"))  # valid up to the first bad byte
        raise ConfigError(f"{_key_at(text, at) or path}: not valid UTF-8 "
                          f"(line {text.count(chr(10), 0, at) + 1}: {exc.reason})") from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader: builds plain values only
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    # What the YAML library itself raises on hostile input: nesting past Python's recursion
    # limit; an explicit tag whose value it cannot build (!!int x, !!bool x, !!timestamp x).
    except (RecursionError, ValueError, OverflowError, LookupError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {type(exc).__name__}: {exc}") from exc
    return parse_config(data, workspace)


def _key_at(text: str, index: int) -> str:
    """The key path of the YAML node holding character `index`, "" when none does."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return ""
    path = ""
    for _ in range(MAX_DEPTH):  # an alias can make the tree a cycle
        pairs = (node.value if isinstance(node, yaml.MappingNode)
                 else list(enumerate(node.value)) if isinstance(node, yaml.SequenceNode) else [])
        for name, child in pairs:
            start = (name if isinstance(name, yaml.Node) else child).start_mark.index
            if start <= index < child.end_mark.index:
                path = (f"{path}[{name}]" if isinstance(name, int)
                        else f"{path}.{name.value}" if path else str(name.value))
                node = child
                break
        else:
            break
    return path


def _check_values(data: Any) -> None:
    """Every value in the document, whatever key it is under (connector options too): text,
    a number, true/false, null, a list or a mapping with scalar keys; strings bounded and
    free of control characters; integers within a BIGINT; numbers finite; nesting and the
    number of values (YAML aliases expanded, so no billion laughs) bounded."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    count = 0
    while stack:
        key, value, depth = stack.pop()
        where = key or CONFIG_FILE
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"{where}: more than {MAX_VALUES} values in {CONFIG_FILE} (YAML aliases expanded)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for name, item in value.items():
                child = f"{key}.{name}" if key else str(name)
                if not isinstance(name, str | int | float):  # bool is an int
                    raise ConfigError(f"{child}: a key must be text or a number, got {type(name).__name__}")
                _check_scalar(name, child)
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{key}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif value is not None and not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected text, a number, true/false, a list or a mapping, "
                              f"got {type(value).__name__}")
        else:
            _check_scalar(value, where)


def _check_scalar(value: Any, where: str) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ConfigError(f"{where}: text of {len(value)} characters, more than {MAX_TEXT}")
        bad = _BAD_CHARS.search(value)
        if bad:
            raise ConfigError(f"{where}: contains the control character or lone surrogate {bad.group()!r}")
    elif isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise ConfigError(f"{where}: integer out of range (±{MAX_INT})")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {value} is not a finite number")


def _key_pattern(pattern: str, key: str) -> KeyPattern:
    """A correlation key pattern RE2 can run (RE2 syntax: no backreferences, no lookaround)."""
    if not 0 < len(pattern) <= MAX_PATTERN:
        raise ConfigError(f"{key}: expected 1 to {MAX_PATTERN} characters")
    try:
        program = re2.compile(pattern, _RE2_OPTIONS).programsize
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason
        raise ConfigError(f"{key}: invalid regular expression (RE2 syntax): {reason}") from exc
    if program > MAX_PATTERN_PROGRAM:
        raise ConfigError(f"{key}: regular expression too complex ({program} RE2 instructions, "
                          f"more than {MAX_PATTERN_PROGRAM})")
    return KeyPattern(pattern)


def parse_config(data: Any, workspace: Path) -> Config:
    from connectors import CONNECTORS  # the registry names the valid connectors
    from rules import REPAIR_PATTERNS

    _check_values(data)
    top = _Reader(data, "")
    top.unknown({"version", "correlation", "sources", "systems", "catalog", "policies", "prevention"})
    if top.get("version", int) != 1:
        raise ConfigError("version: only version 1 is supported")
    root = workspace.resolve()

    correlation = _Reader(top.get("correlation", dict, {}), "correlation")
    correlation.unknown({"key_pattern"})
    pattern = _key_pattern(correlation.get("key_pattern", str, ".+"), "correlation.key_pattern")

    systems = {name: _system(name, top.section("systems")) for name in top.names("systems", _name)}

    sources = []
    for name in top.names("sources", _name):
        src = top.section("sources").section(name)
        src.unknown({"connector", "paths", "system", "observed_at", "options", "optional"})
        connector = src.get("connector", str)
        if connector not in CONNECTORS:
            raise ConfigError(f"{src.key('connector')}: unknown connector '{connector}' (known: {', '.join(sorted(CONNECTORS))})")
        system = src.get("system", str, None)
        if system is None and CONNECTORS[connector].layer == "observed":
            raise ConfigError(f"{src.key('system')}: required for connector '{connector}'")
        if system is not None and system not in systems:
            raise ConfigError(f"{src.key('system')}: '{system}' is not declared under systems")
        paths = src.strings("paths", minimum=1)
        for i, p in enumerate(paths):
            # The whole pattern, not its part before a wildcard: `landing/*/../../x` leaves too.
            inside(root, p, src.key(f"paths[{i}]"))
        observed_at = src.get("observed_at", str, "auto")
        if observed_at not in ("auto", "mtime"):
            parse_fixed_time(observed_at, src.key("observed_at"))
        options = src.get("options", dict, {})
        try:
            CONNECTORS[connector].check_options(options)
        except ValueError as exc:
            raise ConfigError(f"{src.key('options')}: {exc}") from exc
        sources.append(Source(name, connector, paths, system, observed_at, options,
                              src.get("optional", bool, False)))
    if not sources:
        raise ConfigError("sources: at least one source is required")
    systems = {name: _with_id_form(system, sources, CONNECTORS) for name, system in systems.items()}
    systems = {name: _with_api_vendor(system, sources) for name, system in systems.items()}

    workflows = {}
    catalog = top.section("catalog") if "catalog" in top.data else _Reader({}, "catalog")
    for name in top.names("catalog", _workflow_name):
        wf = catalog.section(name)
        wf.unknown({"completion_window", "steps"})
        steps: list[Step] = []
        for i, raw in enumerate(wf.get("steps", list)):
            st = _Reader(raw, wf.key(f"steps[{i}]"))
            st.unknown({"step", "action", "required", "reversible", "compensation", "safe_to_retry"})
            action = _action(st.get("action", str), st.key("action"))
            if action.split(".")[0] not in systems:
                raise ConfigError(f"{st.key('action')}: system '{action.split('.')[0]}' is not declared under systems")
            reversible = st.get("reversible", bool, False)
            compensation = st.get("compensation", str, None)
            if reversible and not compensation:
                raise ConfigError(f"{st.key('compensation')}: a reversible step names its compensation operation")
            step = _name(st.get("step", str), st.key("step"))
            if step in (s.name for s in steps):
                raise ConfigError(f"{st.key('step')}: '{step}' is already a step of {name}")
            steps.append(
                Step(
                    name=step,
                    action=action,
                    required=st.get("required", bool, True),
                    reversible=reversible,
                    compensation=compensation and _action(compensation, st.key("compensation")),
                    safe_to_retry=st.get("safe_to_retry", bool, False),
                    order=i + 1,
                )
            )
        window = parse_duration(wf.get("completion_window", (str, int)), wf.key("completion_window"), timedelta(seconds=1))
        workflows[name] = Workflow(name, window, steps)

    policies = Policies()
    if "policies" in top.data:
        pol = top.section("policies")
        pol.unknown({"quarantine_max_share", "compensate_orphans", "minutes_per_operator_task", "repeated_drift_audits",
                     "approval_required", "duckdb", "incremental", "buckets"})
        duck = _Reader(pol.get("duckdb", dict, {}), pol.key("duckdb"))
        duck.unknown({"memory_limit", "threads", "max_temp_directory_size"})
        approval = pol.strings("approval_required", list(policies.approval_required))
        for i, pattern_name in enumerate(approval):
            if pattern_name not in REPAIR_PATTERNS:
                raise ConfigError(f"{pol.key('approval_required')}[{i}]: '{pattern_name}' is not one of {', '.join(REPAIR_PATTERNS)}")
        spill = duck.get("max_temp_directory_size", str, policies.max_temp_directory_size)
        policies = Policies(
            quarantine_max_share=float(_number(pol.get("quarantine_max_share", (int, float), policies.quarantine_max_share),
                                               pol.key("quarantine_max_share"), 0, 1)),
            compensate_orphans=pol.get("compensate_orphans", bool, policies.compensate_orphans),
            minutes_per_operator_task=float(_number(pol.get("minutes_per_operator_task", (int, float), policies.minutes_per_operator_task),
                                                    pol.key("minutes_per_operator_task"), 0, MAX_MINUTES_PER_TASK)),
            repeated_drift_audits=_number(pol.get("repeated_drift_audits", int, policies.repeated_drift_audits),
                                          pol.key("repeated_drift_audits"), 1, MAX_REPEATED_DRIFT_AUDITS),
            approval_required=tuple(approval),
            memory_limit=parse_size(duck.get("memory_limit", str, policies.memory_limit), duck.key("memory_limit")),
            threads=_number(duck.get("threads", int, policies.threads), duck.key("threads"), 1, MAX_THREADS),
            max_temp_directory_size=spill and parse_size(spill, duck.key("max_temp_directory_size")),
            incremental=pol.get("incremental", bool, policies.incremental),
            buckets=_number(pol.get("buckets", int, policies.buckets), pol.key("buckets"), 1, MAX_BUCKETS),
        )
        if policies.buckets > 1 and policies.incremental:
            raise ConfigError(f"{pol.key('buckets')}: an audit in buckets is a full audit: set "
                              f"{pol.key('incremental')} to false")
    prevention = _prevention(top, workflows, systems) if "prevention" in top.data else ()
    return Config(root, pattern, sources, systems, workflows, policies, prevention)


def _prevention(top: _Reader, workflows: dict[str, Workflow], systems: dict[str, System]) -> tuple[PreventionLine, ...]:
    """`prevention: {<mismatch type>: {workflows: {<workflow>: line}, systems: {<system>: line}}}`."""
    from rules import load_rules  # the rule headers name the mismatch types

    types = sorted(rule.mismatch_type for rule in load_rules())
    section = top.section("prevention")
    lines = []
    for mismatch_type in section.data:
        if mismatch_type not in types:
            raise ConfigError(f"{section.key(mismatch_type)}: '{mismatch_type}' is not a mismatch type "
                              f"(known: {', '.join(types)})")
        refined = section.section(mismatch_type)
        refined.unknown({"workflows", "systems"})
        for scope, known, declared_under in (("workflow", workflows, "catalog"), ("system", systems, "systems")):
            by_name = refined.section(f"{scope}s") if f"{scope}s" in refined.data else _Reader({}, "")
            for name in by_name.data:
                if name not in known:
                    raise ConfigError(f"{by_name.key(name)}: '{name}' is not declared under {declared_under}")
                line = by_name.get(name, str).strip()
                if not line:
                    raise ConfigError(f"{by_name.key(name)}: expected a non-empty prevention line")
                lines.append(PreventionLine(mismatch_type, scope, name, line))
    return tuple(lines)


def _system(name: str, parent: _Reader) -> System:
    from connectors.schema import ID_FORMS

    sys_ = parent.section(name)
    sys_.unknown({"object_type", "correlation_paths", "natural_key", "natural_key_unique", "settle_window", "agent_actors", "idempotency_ttl",
                  "natural_key_window", "id_form", "fields", "api"})
    id_form = sys_.get("id_form", str, "")
    if id_form and id_form not in ID_FORMS:
        raise ConfigError(f"{sys_.key('id_form')}: '{id_form}' is not one of {', '.join(ID_FORMS)}")
    object_type = sys_.get("object_type", str)
    if not _OBJECT_TYPE.fullmatch(object_type) or len(object_type) > MAX_NAME:
        raise ConfigError(f"{sys_.key('object_type')}: '{object_type}' must be lowercase letters, digits and "
                          f"underscores (the object of its actions), at most {MAX_NAME}")
    return System(
        name=name,
        object_type=object_type,
        correlation_paths=sys_.strings("correlation_paths", []),
        natural_key=sys_.strings("natural_key", []),
        natural_key_unique=sys_.get("natural_key_unique", bool, False),
        settle_window=parse_duration(sys_.get("settle_window", (str, int), "1h"), sys_.key("settle_window")),
        agent_actors=sys_.strings("agent_actors", []),
        idempotency_ttl=parse_duration(sys_.get("idempotency_ttl", (str, int), "24h"), sys_.key("idempotency_ttl")),
        natural_key_window=parse_duration(sys_.get("natural_key_window", (str, int), "24h"), sys_.key("natural_key_window")),
        id_form=id_form,
        fields=_field_mappings(_Reader(sys_.get("fields", dict, {}), sys_.key("fields"))),
        api=_api(sys_.section("api")) if "api" in sys_.data else None,
    )


def _api(api: _Reader) -> ApiSettings:
    """`systems.<name>.api`: where the system's API is and the NAME of the environment
    variable holding its credential (a credential itself never belongs in reckon.yaml)."""
    api.unknown({"vendor", "base_url", "credentials_env", "rate_per_second", "burst", "timeout", "max_retries"})
    vendor = api.get("vendor", str, "")
    if vendor and vendor not in VENDORS:
        raise ConfigError(f"{api.key('vendor')}: '{vendor}' is not one of {', '.join(VENDORS)}")
    base_url = api.get("base_url", str)
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:  # an unclosed IPv6 bracket, a port out of range
        parts = urllib.parse.urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{api.key('base_url')}: '{base_url}' is not an http(s) URL like https://api.stripe.com")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{api.key('base_url')}: must not hold credentials; name an environment variable "
                          "in credentials_env")
    env = api.get("credentials_env", str)
    if not _ENV_NAME.fullmatch(env):
        raise ConfigError(f"{api.key('credentials_env')}: '{env}' is not an environment variable name "
                          "(letters, digits, underscores)")
    defaults = ApiSettings(vendor, base_url, env)
    timeout = parse_duration(api.get("timeout", (str, int), int(defaults.timeout)), api.key("timeout"),
                             timedelta(seconds=1))
    if timeout > MAX_TIMEOUT:
        raise ConfigError(f"{api.key('timeout')}: '{api.data['timeout']}' is out of range (1s to 10m)")
    return ApiSettings(
        vendor=vendor,
        base_url=base_url.rstrip("/"),
        credentials_env=env,
        rate_per_second=float(_number(api.get("rate_per_second", (int, float), defaults.rate_per_second),
                                      api.key("rate_per_second"), 0.01, MAX_RATE)),
        burst=_number(api.get("burst", int, defaults.burst), api.key("burst"), 1, MAX_BURST),
        timeout=timeout.total_seconds(),
        max_retries=_number(api.get("max_retries", int, defaults.max_retries), api.key("max_retries"), 0, MAX_RETRIES),
    )


def _field_mappings(section: _Reader) -> tuple[FieldMapping, ...]:
    """`fields: {intended field: target}`; a target is `$state`, `$status`, `$fields.<path>`
    (reckon's normalized fields) or a dotted path in the raw record, alone or as
    `{path: <target>, values: {intended value: shown value}}`."""
    mappings = []
    for name in section.data:
        key = section.key(str(name))
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{key}: an intended field name must be a non-empty string")
        spec = section.data[name]
        values: dict[str, str] = {}
        if isinstance(spec, dict):
            entry = _Reader(spec, key)
            entry.unknown({"path", "values"})
            spec = entry.get("path", str)
            raw_values = entry.get("values", dict, {})
            for intended, shown in raw_values.items():
                if not isinstance(shown, str | int | float | bool) or isinstance(intended, list | dict):
                    raise ConfigError(f"{key}.values.{intended}: expected a plain value, got {type(shown).__name__}")
                values[_scalar_text(intended)] = _scalar_text(shown)
        if not isinstance(spec, str) or not spec:
            raise ConfigError(f"{key}: expected a path such as `email`, `properties.email`, `$state` or `$status`")
        if spec in FIELD_TARGETS:
            mappings.append(FieldMapping(name, FIELD_TARGETS[spec], spec, None, values=values))
            continue
        kind, path = ("fields", spec[len("$fields."):]) if spec.startswith("$fields.") else ("raw", spec)
        segments = path.split(".")
        if not all(_SEGMENT.match(segment) for segment in segments):
            raise ConfigError(f"{key}: '{spec}' is not a dotted path (segments without . $ \" \\ [ ]), "
                              "$state, $status or $fields.<path>")
        json_path = "$" + "".join(f'."{s}"' for s in segments)
        index_path = "$" + "".join(f"[{s}]" if s.isdigit() else f'."{s}"' for s in segments)
        mappings.append(FieldMapping(name, kind, spec, json_path, values=values,
                                     index_path=index_path if index_path != json_path else None))
    return tuple(mappings)


def _scalar_text(value: Any) -> str:
    """A YAML scalar as the text JSON's ->> gives for it (true, 42, 4.5, text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_id_form(system: System, sources: list[Source], connectors: dict) -> System:
    """The system's id form: configured, else that of the connector(s) exporting it."""
    if system.id_form:
        return system
    forms = sorted({connectors[s.connector].id_form for s in sources if s.system == system.name})
    if len(forms) > 1:
        raise ConfigError(f"systems.{system.name}.id_form: its sources' connectors spell ids differently "
                          f"({', '.join(forms)}); set one")
    return replace(system, id_form=forms[0] if forms else "verbatim")


def _with_api_vendor(system: System, sources: list[Source]) -> System:
    """The API's vendor: configured, else the connector of the system's sources."""
    if system.api is None or system.api.vendor:
        return system
    vendors = sorted({s.connector for s in sources if s.system == system.name and s.connector in VENDORS})
    if len(vendors) != 1:
        raise ConfigError(f"systems.{system.name}.api.vendor: required (one of {', '.join(VENDORS)}): "
                          "no single source of the system names its vendor")
    return replace(system, api=replace(system.api, vendor=vendors[0]))


def _name(name: Any, key: str) -> str:
    """A source, system or step name: also a folder name (`snapshots/source=<name>/`)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise ConfigError(f"{key}: '{name}' must be lowercase letters, digits and underscores, "
                          f"starting with a letter, at most {MAX_NAME}")
    return name


def _workflow_name(name: Any, key: str) -> str:
    """A workflow name is the runtime's own (any letters, spaces, dots), but text."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_WORKFLOW or name != name.strip():
        raise ConfigError(f"{key}: a workflow name is text of 1 to {MAX_WORKFLOW} characters "
                          "without surrounding spaces (quote a number)")
    return name


def _action(action: str, key: str) -> str:
    if not _ACTION.fullmatch(action):
        raise ConfigError(f"{key}: '{action}' is not system.object.verb")
    return action


def parse_fixed_time(value: str, key: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{key}: expected auto, mtime or an RFC 3339 timestamp, got '{value}'") from exc
    if parsed.tzinfo is None:
        raise ConfigError(f"{key}: timestamp '{value}' needs an offset")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        utc = None
    if utc is None or not OBSERVED_RANGE[0] <= utc < OBSERVED_RANGE[1]:
        raise ConfigError(f"{key}: '{value}' is out of range ({OBSERVED_RANGE[0]:%Y} to {OBSERVED_RANGE[1]:%Y})")
    return utc
