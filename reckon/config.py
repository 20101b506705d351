"""`reckon.yaml`: sources, systems, the workflow catalog and policies.

Validated on load; every error names the offending key path so a user can fix
the file without reading this code. Nothing system-specific lives elsewhere:
a user of another runtime or vendor changes this file, not the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "reckon.yaml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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


@dataclass(frozen=True)
class Config:
    root: Path
    correlation_key_pattern: str
    sources: list[Source]
    systems: dict[str, System]
    workflows: dict[str, Workflow]
    policies: Policies = field(default_factory=Policies)

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


def parse_duration(value: Any, key: str) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(f"{key}: '{value}' is not a duration like 90s, 30m, 2h or 3d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class _Reader:
    """Typed access to a YAML mapping that reports errors by key path."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path or 'reckon.yaml'}: expected a mapping")
        self.data = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

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

    def strings(self, name: str, default: Any = ...) -> list[str]:
        value = self.get(name, list, default)
        if not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.key(name)}: expected a list of non-empty strings")
        return list(value)

    def section(self, name: str) -> _Reader:
        return _Reader(self.get(name, dict), self.key(name))

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise ConfigError(f"{self.key(extra[0])}: unknown key (allowed: {', '.join(sorted(allowed))})")


def load_config(workspace: Path) -> Config:
    """Load and validate `<workspace>/reckon.yaml`."""
    path = workspace / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path}: not found (run `reckon simulate` or write one; see README)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(data, workspace)


def parse_config(data: Any, workspace: Path) -> Config:
    from connectors import CONNECTORS  # the registry names the valid connectors

    top = _Reader(data, "")
    top.unknown({"version", "correlation", "sources", "systems", "catalog", "policies"})
    if top.get("version", int) != 1:
        raise ConfigError("version: only version 1 is supported")
    root = workspace.resolve()

    pattern = _Reader(top.get("correlation", dict, {}), "correlation").get("key_pattern", str, ".+")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"correlation.key_pattern: invalid regular expression: {exc}") from exc

    systems = {name: _system(name, top.section("systems")) for name in top.get("systems", dict)}

    sources = []
    for name in top.get("sources", dict):
        src = top.section("sources").section(name)
        src.unknown({"connector", "paths", "system", "observed_at", "options", "optional"})
        connector = src.get("connector", str)
        if connector not in CONNECTORS:
            raise ConfigError(f"{src.key('connector')}: unknown connector '{connector}' (known: {', '.join(sorted(CONNECTORS))})")
        system = src.get("system", str, None)
        if CONNECTORS[connector].layer == "observed":
            if system is None:
                raise ConfigError(f"{src.key('system')}: required for connector '{connector}'")
            if system not in systems:
                raise ConfigError(f"{src.key('system')}: '{system}' is not declared under systems")
        paths = src.strings("paths")
        for i, p in enumerate(paths):
            inside(root, p.split("*")[0] or ".", src.key(f"paths[{i}]"))
        observed_at = str(src.get("observed_at", (str, datetime), "auto"))
        if observed_at not in ("auto", "mtime"):
            parse_fixed_time(observed_at, src.key("observed_at"))
        options = src.get("options", dict, {})
        try:
            CONNECTORS[connector].check_options(options)
        except ValueError as exc:
            raise ConfigError(f"{src.key('options')}: {exc}") from exc
        sources.append(Source(_name(name, src.path), connector, paths, system, observed_at, options,
                              src.get("optional", bool, False)))
    if not sources:
        raise ConfigError("sources: at least one source is required")
    systems = {name: _with_id_form(system, sources, CONNECTORS) for name, system in systems.items()}

    workflows = {}
    catalog = top.section("catalog") if "catalog" in top.data else _Reader({}, "catalog")
    for name in catalog.data:
        wf = catalog.section(name)
        wf.unknown({"completion_window", "steps"})
        steps = []
        for i, raw in enumerate(wf.get("steps", list)):
            st = _Reader(raw, wf.key(f"steps[{i}]"))
            st.unknown({"step", "action", "required", "reversible", "compensation", "safe_to_retry"})
            action = st.get("action", str)
            if not re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+", action):
                raise ConfigError(f"{st.key('action')}: '{action}' is not system.object.verb")
            if action.split(".")[0] not in systems:
                raise ConfigError(f"{st.key('action')}: system '{action.split('.')[0]}' is not declared under systems")
            reversible = st.get("reversible", bool, False)
            compensation = st.get("compensation", str, None)
            if reversible and not compensation:
                raise ConfigError(f"{st.key('compensation')}: a reversible step names its compensation operation")
            steps.append(
                Step(
                    name=_name(st.get("step", str), st.key("step")),
                    action=action,
                    required=st.get("required", bool, True),
                    reversible=reversible,
                    compensation=compensation,
                    safe_to_retry=st.get("safe_to_retry", bool, False),
                    order=i + 1,
                )
            )
        workflows[name] = Workflow(name, parse_duration(wf.get("completion_window", (str, int)), wf.key("completion_window")), steps)

    policies = Policies()
    if "policies" in top.data:
        pol = top.section("policies")
        pol.unknown({"quarantine_max_share", "compensate_orphans", "minutes_per_operator_task", "repeated_drift_audits",
                     "approval_required", "duckdb", "incremental"})
        duck = _Reader(pol.get("duckdb", dict, {}), pol.key("duckdb"))
        duck.unknown({"memory_limit", "threads", "max_temp_directory_size"})
        share = float(pol.get("quarantine_max_share", (int, float), policies.quarantine_max_share))
        if not 0 <= share <= 1:
            raise ConfigError(f"{pol.key('quarantine_max_share')}: must be between 0 and 1")
        policies = Policies(
            quarantine_max_share=share,
            compensate_orphans=pol.get("compensate_orphans", bool, policies.compensate_orphans),
            minutes_per_operator_task=float(pol.get("minutes_per_operator_task", (int, float), policies.minutes_per_operator_task)),
            repeated_drift_audits=pol.get("repeated_drift_audits", int, policies.repeated_drift_audits),
            approval_required=tuple(pol.strings("approval_required", list(policies.approval_required))),
            memory_limit=duck.get("memory_limit", str, policies.memory_limit),
            threads=duck.get("threads", int, policies.threads),
            max_temp_directory_size=duck.get("max_temp_directory_size", str, policies.max_temp_directory_size),
            incremental=pol.get("incremental", bool, policies.incremental),
        )
    return Config(root, pattern, sources, systems, workflows, policies)


def _system(name: str, parent: _Reader) -> System:
    from connectors.schema import ID_FORMS

    sys_ = parent.section(name)
    sys_.unknown({"object_type", "correlation_paths", "natural_key", "natural_key_unique", "settle_window", "agent_actors", "idempotency_ttl",
                  "natural_key_window", "id_form", "fields"})
    id_form = sys_.get("id_form", str, "")
    if id_form and id_form not in ID_FORMS:
        raise ConfigError(f"{sys_.key('id_form')}: '{id_form}' is not one of {', '.join(ID_FORMS)}")
    return System(
        name=_name(name, sys_.path),
        object_type=sys_.get("object_type", str),
        correlation_paths=sys_.strings("correlation_paths", []),
        natural_key=sys_.strings("natural_key", []),
        natural_key_unique=sys_.get("natural_key_unique", bool, False),
        settle_window=parse_duration(sys_.get("settle_window", (str, int), "1h"), sys_.key("settle_window")),
        agent_actors=sys_.strings("agent_actors", []),
        idempotency_ttl=parse_duration(sys_.get("idempotency_ttl", (str, int), "24h"), sys_.key("idempotency_ttl")),
        natural_key_window=parse_duration(sys_.get("natural_key_window", (str, int), "24h"), sys_.key("natural_key_window")),
        id_form=id_form,
        fields=_field_mappings(_Reader(sys_.get("fields", dict, {}), sys_.key("fields"))),
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


def _name(name: str, key: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{key}: '{name}' must be lowercase letters, digits and underscores")
    return name


def parse_fixed_time(value: str, key: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{key}: expected auto, mtime or an RFC 3339 timestamp, got '{value}'") from exc
    if parsed.tzinfo is None:
        raise ConfigError(f"{key}: timestamp '{value}' needs an offset")
    return parsed.astimezone(UTC)
