"""Asset checks: on each snapshot, its canonical schema, the quarantine share under policy and
schema drift; on the observed layer, that every system has an export as fresh as the log.

The quarantine share and missing fields of the snapshots no published audit has read yet
block the audit (as the `input_gate` step does in every runner); the rest warn."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from connectors import CONNECTORS
from connectors.schema import with_snapshot_columns
from pipelines.assets import snapshot_key
from pipelines.resources import ReckonWorkspace
from reckon import database
from reckon.config import Config, Source
from reckon.input_gate import GATE_MIN_RECORDS, SourceGate, audited_snapshots, source_gates
from reckon.snapshots import list_snapshots


def snapshot_checks(source: Source, max_share: float) -> list[dg.AssetChecksDefinition]:
    expected = with_snapshot_columns(CONNECTORS[source.connector].schema)

    @dg.asset_check(asset=snapshot_key(source.name), name="canonical_schema",
                    description="The newest snapshot's Parquet schema is the connector's canonical schema.")
    def schema_check(workspace: ReckonWorkspace) -> dg.AssetCheckResult:
        snaps = list_snapshots(workspace.open(), source.name)
        if not snaps:
            return dg.AssetCheckResult(passed=True, metadata={"snapshots": 0})
        actual = pq.read_schema(snaps[-1].data_file)
        missing = [f.name for f in expected if actual.get_field_index(f.name) < 0]
        wrong = [f.name for f in expected if f.name not in missing and actual.field(f.name).type != f.type]
        return dg.AssetCheckResult(
            passed=not missing and not wrong,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"snapshot_id": snaps[-1].snapshot_id, "missing": ", ".join(missing) or "-",
                      "wrong_type": ", ".join(wrong) or "-"},
        )

    def new_snapshots(workspace: ReckonWorkspace) -> SourceGate | None:
        ws = workspace.open()
        if not ws.database.exists():
            return next(iter(source_gates(ws, set(), source.name)), None)
        with database.connect(ws, read_only=True) as con:
            return next(iter(source_gates(ws, audited_snapshots(con), source.name)), None)

    # Blocking: as the `input_gate` step, which stops `run_audit` the same way.
    @dg.asset_check(asset=snapshot_key(source.name), name="quarantine_share", blocking=True,
                    description=f"At most {max_share:.0%} of the records of the `{source.name}` snapshots no "
                                f"published audit has read yet are quarantined; else the audit stops (from "
                                f"{GATE_MIN_RECORDS} new records; fewer only warn).")
    def quarantine_check(workspace: ReckonWorkspace) -> dg.AssetCheckResult:
        gate = new_snapshots(workspace)
        if gate is None:
            return dg.AssetCheckResult(passed=True, metadata={"new_snapshots": 0})
        return dg.AssetCheckResult(
            passed=gate.share <= max_share,
            severity=dg.AssetCheckSeverity.ERROR if gate.blocks else dg.AssetCheckSeverity.WARN,
            description=gate.quarantine_problem(),
            metadata={"new_snapshots": len(gate.snapshot_ids), "rows": gate.rows, "quarantined": gate.quarantined,
                      "share": round(gate.share, 6), "max_share": max_share},
        )

    @dg.asset_check(asset=snapshot_key(source.name), name="schema_drift", blocking=True,
                    description="The raw records of the snapshots no published audit has read yet (else of "
                                "the newest) carry the fields the format documents: kept records of a file none "
                                f"of which has an expected field stop the audit (from {GATE_MIN_RECORDS} new "
                                "records; fewer only warn); other drift, an added field (kept in `extra`/`fields`) "
                                "included, is a warning.")
    def drift_check(workspace: ReckonWorkspace) -> dg.AssetCheckResult:
        gate, new = new_snapshots(workspace), True
        if gate is None:  # nothing new: the newest snapshot's drift again, as a warning
            ws = workspace.open()
            snaps = list_snapshots(ws, source.name)
            if not snaps:
                return dg.AssetCheckResult(passed=True, metadata={"snapshots": 0})
            gate, new = source_gates(ws, {s.snapshot_id for s in snaps[:-1]}, source.name)[0], False
        return dg.AssetCheckResult(
            passed=not gate.fields_added and not gate.fields_missing,
            severity=dg.AssetCheckSeverity.ERROR if new and gate.drift_problem() and gate.blocks
            else dg.AssetCheckSeverity.WARN,
            description=gate.drift_problem() if new else None,
            metadata={"snapshot_ids": ", ".join(gate.snapshot_ids), "new": new,
                      "fields_added": ", ".join(gate.fields_added) or "-",
                      "fields_missing": ", ".join(gate.fields_missing) or "-"},
        )

    return [schema_check, quarantine_check, drift_check]


@dg.asset_check(asset=dg.AssetKey("observed"), name="systems_fresh",
                description="Every system has an export, taken no longer before the workflow log's than its "
                            "settle window: otherwise what the log says happened since cannot be confirmed.")
def systems_fresh(workspace: ReckonWorkspace) -> dg.AssetCheckResult:
    with database.connect(workspace.open(), read_only=True) as con:
        stale = con.execute("SELECT system, stale_reason FROM system_freshness WHERE stale_reason IS NOT NULL "
                            "ORDER BY system").fetchall()
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"stale_systems": ", ".join(f"{system} ({reason})" for system, reason in stale) or "-"},
    )


def build_checks(config: Config) -> list[dg.AssetChecksDefinition]:
    return [*(c for s in config.sources for c in snapshot_checks(s, config.policies.quarantine_max_share)),
            systems_fresh]
