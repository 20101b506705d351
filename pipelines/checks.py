"""Asset checks: on each snapshot, its canonical schema, the quarantine share under policy and
schema drift; on the observed layer, that every system has an export as fresh as the log."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from connectors import CONNECTORS
from connectors.schema import with_snapshot_columns
from pipelines.assets import snapshot_key
from pipelines.resources import ReckonWorkspace
from reckon import database
from reckon.config import Config, Source
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
            metadata={"snapshot_id": snaps[-1].snapshot_id, "missing": ", ".join(missing) or "-",
                      "wrong_type": ", ".join(wrong) or "-"},
        )

    @dg.asset_check(asset=snapshot_key(source.name), name="quarantine_share",
                    description=f"At most {max_share:.0%} of the records read from `{source.name}` are quarantined.")
    def quarantine_check(workspace: ReckonWorkspace) -> dg.AssetCheckResult:
        snaps = list_snapshots(workspace.open(), source.name)
        rows = sum(s.rows for s in snaps)
        bad = sum(s.quarantined for s in snaps)
        share = bad / (rows + bad) if rows + bad else 0.0
        return dg.AssetCheckResult(
            passed=share <= max_share,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"rows": rows, "quarantined": bad, "share": round(share, 6), "max_share": max_share},
        )

    @dg.asset_check(asset=snapshot_key(source.name), name="schema_drift",
                    description="The newest snapshot's raw records carry the fields the format documents: "
                                "none added (kept in `extra`/`fields`), none expected missing.")
    def drift_check(workspace: ReckonWorkspace) -> dg.AssetCheckResult:
        snaps = list_snapshots(workspace.open(), source.name)
        if not snaps:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN, metadata={"snapshots": 0})
        snap = snaps[-1]
        return dg.AssetCheckResult(
            passed=not snap.fields_added and not snap.fields_missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"snapshot_id": snap.snapshot_id, "fields_added": ", ".join(snap.fields_added) or "-",
                      "fields_missing": ", ".join(snap.fields_missing) or "-"},
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
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"stale_systems": ", ".join(f"{system} ({reason})" for system, reason in stale) or "-"},
    )


def build_checks(config: Config) -> list[dg.AssetChecksDefinition]:
    return [*(c for s in config.sources for c in snapshot_checks(s, config.policies.quarantine_max_share)),
            systems_fresh]
