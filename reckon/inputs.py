"""An audit's inputs, registered in DuckDB: the config as tables, the snapshot catalog,
operator decisions, quarantine and the audit's identity (its id and "now"); then, once
the incremental protocol has said what the kept tables hold (`reckon.incremental.resume`),
the audit's context and the views over the snapshot Parquet files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors import CONNECTORS, SourceOptions
from connectors.base import QuarantineSink
from connectors.schema import with_snapshot_columns
from reckon import database, decisions, flags
from reckon.config import Config
from reckon.snapshots import Snapshot
from rules import MACROS_FILE, load_rules

AUDITS_DDL = """
CREATE TABLE IF NOT EXISTS audits (
    audit_id VARCHAR PRIMARY KEY, seq BIGINT, as_of TIMESTAMPTZ, log_observed_at TIMESTAMPTZ,
    snapshot_ids VARCHAR[], runs BIGINT, intents BIGINT, observed_objects BIGINT,
    findings BIGINT, repair_actions BIGINT, quarantined BIGINT, sources VARCHAR,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ);
-- Added later: workspaces audited before keep their history.
ALTER TABLE audits ADD COLUMN IF NOT EXISTS stale_systems VARCHAR;
"""


MISMATCH_TYPES_SCHEMA = pa.schema(
    [(name, pa.int32() if name == "precedence" else pa.string()) for name in (
        "mismatch_type", "rule_id", "subject_kind", "severity", "precedence", "repair", "repair_condition",
        "repair_otherwise", "operation", "duplicate_risk", "risk_condition", "risk_otherwise", "next_action",
        "prevention", "metric", "description")]
)  # fmt: skip


def audit_identity(snapshots: list[Snapshot], operator_digest: str = "") -> tuple[str, datetime]:
    """The audit id hashes the snapshot set and the operator files (decisions, flags); "now"
    is the newest export time, not the wall clock."""
    ids = sorted(s.snapshot_id for s in snapshots)
    audit_id = "aud_" + hashlib.sha256("|".join([*ids, operator_digest]).encode()).hexdigest()[:20]
    as_of = max((datetime.fromisoformat(s.observed_at) for s in snapshots), default=datetime(1970, 1, 1, tzinfo=UTC))
    return audit_id, as_of


@dataclass(frozen=True)
class AuditInputs:
    audit_id: str
    as_of: datetime
    log_observed_at: datetime | None
    catalog: list[list[dict[str, Any]]]  # what the models read of the configuration (fingerprinted)
    root: Path  # the workspace: `audit_files` holds paths relative to it


def register_inputs(con: duckdb.DuckDBPyConnection, cfg: Config, snapshots: list[Snapshot], root: Path) -> AuditInputs:
    """Config tables, the snapshot catalog, operator decisions and flags, quarantine and the
    audit's identity."""
    sink, flag_sink = QuarantineSink(decisions.SOURCE), QuarantineSink(flags.SOURCE)
    _arrow_table(con, "decisions", decisions.load_decisions(root, sink))
    _arrow_table(con, "flags", flags.load_flags(root, flag_sink))
    audit_id, as_of = audit_identity(snapshots, decisions.digest(root) + flags.digest(root))
    systems = [
        {"system": s.name, "object_type": s.object_type, "natural_key": s.natural_key,
         "natural_key_unique": s.natural_key_unique, "settle_seconds": int(s.settle_window.total_seconds()),
         "agent_actors": s.agent_actors, "idempotency_ttl_seconds": int(s.idempotency_ttl.total_seconds()),
         "natural_key_window_seconds": int(s.natural_key_window.total_seconds()), "id_form": s.id_form,
         "field_map": [{"field": m.field, "kind": m.kind, "json_path": m.json_path, "index_path": m.index_path}
                       for m in s.fields]}
        for s in cfg.systems.values()
    ]
    field_map = [
        {"system": s.name, "field": m.field, "kind": m.kind, "path": m.path, "json_path": m.json_path,
         "index_path": m.index_path,
         "values": [{"intended": k, "shown": v} for k, v in sorted(m.values.items())]}
        for s in cfg.systems.values() for m in s.fields
    ]
    vocabulary = status_vocabulary(cfg)
    workflows = [
        {"workflow": w.name, "completion_window_seconds": int(w.completion_window.total_seconds())}
        for w in cfg.workflows.values()
    ]
    steps = [
        {"workflow": w.name, "step": s.name, "action": s.action, "system": s.system, "required": s.required,
         "reversible": s.reversible, "compensation": s.compensation, "safe_to_retry": s.safe_to_retry,
         "step_order": s.order}
        for w in cfg.workflows.values() for s in w.steps
    ]
    _table(con, "cfg_systems", systems, pa.schema([("system", pa.string()), ("object_type", pa.string()), ("natural_key", pa.list_(pa.string())),
                  ("natural_key_unique", pa.bool_()), ("settle_seconds", pa.int64()),
                  ("agent_actors", pa.list_(pa.string())), ("idempotency_ttl_seconds", pa.int64()),
                  ("natural_key_window_seconds", pa.int64()), ("id_form", pa.string()),
                  ("field_map", pa.list_(pa.struct([("field", pa.string()), ("kind", pa.string()),
                                                    ("json_path", pa.string()), ("index_path", pa.string())])))]))
    _table(con, "cfg_field_map", field_map, pa.schema([
        ("system", pa.string()), ("field", pa.string()), ("kind", pa.string()), ("path", pa.string()),
        ("json_path", pa.string()), ("index_path", pa.string()),
        ("values", pa.list_(pa.struct([("intended", pa.string()), ("shown", pa.string())])))]))
    _table(con, "cfg_status_vocabulary", vocabulary, pa.schema([
        ("system", pa.string()), ("status", pa.string()), ("state", pa.string()),
        ("implies", pa.list_(pa.string()))]))
    _table(con, "cfg_workflows", workflows, pa.schema([("workflow", pa.string()), ("completion_window_seconds", pa.int64())]))
    _table(con, "cfg_steps", steps, pa.schema([("workflow", pa.string()), ("step", pa.string()), ("action", pa.string()), ("system", pa.string()),
                  ("required", pa.bool_()), ("reversible", pa.bool_()), ("compensation", pa.string()),
                  ("safe_to_retry", pa.bool_()), ("step_order", pa.int32())]))
    pol = cfg.policies
    _table(con, "cfg_policies", [
        {"quarantine_max_share": pol.quarantine_max_share, "compensate_orphans": pol.compensate_orphans,
         "minutes_per_operator_task": pol.minutes_per_operator_task, "approval_required": list(pol.approval_required),
         "repeated_drift_audits": pol.repeated_drift_audits}
    ], pa.schema([("quarantine_max_share", pa.float64()), ("compensate_orphans", pa.bool_()),
                  ("minutes_per_operator_task", pa.float64()), ("approval_required", pa.list_(pa.string())),
                  ("repeated_drift_audits", pa.int64())]))
    _table(con, "cfg_snapshots", [
        {"snapshot_id": s.snapshot_id, "source": s.source, "connector": s.connector, "layer": s.layer,
         "system": s.system, "observed_at": datetime.fromisoformat(s.observed_at), "rows": s.rows,
         "quarantined": s.quarantined, "repeats_dropped": s.repeats_dropped, "path": str(s.folder.relative_to(root)),
         "origin": s.origin}
        for s in snapshots
    ], pa.schema([("snapshot_id", pa.string()), ("source", pa.string()), ("connector", pa.string()),
                  ("layer", pa.string()), ("system", pa.string()), ("observed_at", pa.timestamp("us", tz="UTC")),
                  ("rows", pa.int64()), ("quarantined", pa.int64()), ("repeats_dropped", pa.int64()),
                  ("path", pa.string()), ("origin", pa.string())]))
    log_times = [datetime.fromisoformat(s.observed_at) for s in snapshots if s.layer == "workflow"]
    con.execute(AUDITS_DDL)
    con.execute(MACROS_FILE.read_text(encoding="utf-8"))
    # What each mismatch type means, from the rule headers: the repair and metrics SQL read it.
    _arrow_table(con, "mismatch_types", pa.Table.from_pylist([r.catalog_row() for r in load_rules()],
                                                            schema=MISMATCH_TYPES_SCHEMA))
    # Prevention lines refined per workflow or system (reckon.yaml `prevention:`); the reports
    # read them, no model does, so they are not part of the audit's identity.
    _table(con, "cfg_prevention", [
        {"mismatch_type": p.mismatch_type, "scope": p.scope, "name": p.name, "prevention": p.line}
        for p in cfg.prevention
    ], pa.schema([("mismatch_type", pa.string()), ("scope", pa.string()), ("name", pa.string()),
                  ("prevention", pa.string())]))
    # Rejected lines of the operator files (decisions and flags), into `quarantine`.
    _arrow_table(con, "rejected_decisions", pa.concat_tables([sink.table(), flag_sink.table()]))
    return AuditInputs(audit_id, as_of, max(log_times) if log_times else None,
                       [systems, workflows, steps, field_map, vocabulary], root)


def register_audit(con: duckdb.DuckDBPyConnection, inputs: AuditInputs, fingerprint: str, folded: set[str],
                   snapshots: list[Snapshot]) -> None:
    """The audit's context, and views over all snapshots (for analysts) and over those the
    kept model tables have not folded in yet (all of them on a full audit)."""
    # `seq` orders audits: a re-run keeps its number, a new audit (even with the same
    # as-of time, e.g. after an operator decision) comes after every earlier one.
    con.execute(
        "CREATE OR REPLACE TABLE audit_context AS SELECT ?::VARCHAR AS audit_id, ?::TIMESTAMPTZ AS as_of, "
        "?::TIMESTAMPTZ AS log_observed_at, coalesce((SELECT seq FROM audits WHERE audit_id = ?), "
        "(SELECT coalesce(max(seq), 0) + 1 FROM audits)) AS seq, ?::BOOLEAN AS incremental, "
        "?::VARCHAR AS models_fingerprint",
        [inputs.audit_id, inputs.as_of, inputs.log_observed_at, inputs.audit_id, bool(folded), fingerprint],
    )
    # The files each view reads: recorded relative to the workspace (a moved or shared
    # workspace still reads them), and set as session variables resolved against its root
    # (on this connection and, by `database.connect`, on every later one), never written
    # into the SQL.
    files = {"quarantine_files": [s.quarantine_file for s in snapshots]}
    for layer, name in (("workflow", "raw_events"), ("observed", "raw_observed")):
        files[name] = [s.data_file for s in snapshots if s.layer == layer]
        files[f"{name}_new"] = [s.data_file for s in snapshots if s.layer == layer and s.snapshot_id not in folded]
    files = {view: [path.relative_to(inputs.root).as_posix() for path in paths] for view, paths in files.items()}
    _table(con, "audit_files", [{"view": view, "path": path} for view, paths in files.items() for path in paths],
           pa.schema([("view", pa.string()), ("path", pa.string())]))
    database.set_file_variables(con, inputs.root, files)
    for layer, name in (("workflow", "raw_events"), ("observed", "raw_observed")):
        schema = next(c.schema for c in CONNECTORS.values() if c.layer == layer)
        for view in (name, f"{name}_new"):
            con.execute(f"CREATE OR REPLACE VIEW {view} AS {_parquet_or_empty(view, bool(files[view]), schema)}")
    con.execute(
        "CREATE OR REPLACE TABLE quarantine AS SELECT *, NULL::VARCHAR AS snapshot_id FROM rejected_decisions"
        + (" UNION ALL BY NAME SELECT * FROM read_parquet(getvariable('quarantine_files'), union_by_name = true, "
           "hive_partitioning = false)" if files["quarantine_files"] else "")
    )


def status_vocabulary(cfg: Config) -> list[dict[str, Any]]:
    """Each system's status words (lower case), the normalized state each means (what `$state`
    in a field mapping reads an intended status word with) and the words each implies, from
    the readers of its sources."""
    words: dict[tuple[str, str], dict[str, Any]] = {}
    for source in cfg.sources:
        reader = CONNECTORS[source.connector]
        if reader.layer != "observed":
            continue
        vocabulary = reader(SourceOptions(source=source.name, system=source.system, options=source.options))
        for status, state in vocabulary.status_vocabulary().items():
            implied = sorted(word.lower() for word in reader.status_implies.get(status, ()))
            words.setdefault((source.system, status.lower()), {"state": state, "implies": implied})
    return [{"system": system, "status": status, **entry} for (system, status), entry in sorted(words.items())]


def _table(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict], schema: pa.Schema) -> None:
    _arrow_table(con, name, pa.Table.from_pylist(rows, schema=schema))


def _arrow_table(con: duckdb.DuckDBPyConnection, name: str, data: pa.Table) -> None:
    # Registered explicitly: with external access off, DuckDB does not scan Python variables.
    con.register("_arrow_input", data)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {database.qualified(name)} AS SELECT * FROM _arrow_input")
    finally:
        con.unregister("_arrow_input")


def _parquet_or_empty(view: str, has_files: bool, schema: pa.Schema) -> str:
    """The view's SQL: its files (the session variable of `database.FILE_VIEWS`), or no rows
    of the schema when it has none."""
    if has_files:
        return (f"SELECT * FROM read_parquet(getvariable('{view}'), union_by_name = true, "
                "hive_partitioning = false)")
    cols = ", ".join(f"NULL::{_duck_type(f.type)} AS {f.name}" for f in with_snapshot_columns(schema))
    return f"SELECT {cols} WHERE false"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN"}[t]
