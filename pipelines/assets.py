"""The audit's assets. Each is one step of reckon.engine; state passes through the
workspace's DuckDB file, so steps run one after another in one process (no lock waits)."""


from datetime import UTC, datetime

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.resources import ReckonWorkspace
from reckon import engine
from reckon.config import Config
from reports.html_report import headline_markdown, publish_report, trend_markdown
from reports.operator_csv import export_operator_queue_csv
from reports.plan_export import export_plan
from reports.summary import SUMMARY_QUERIES, table_markdown

AUDIT_INPUTS = "audit_inputs"


def snapshot_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"snapshot_{source}")


def snapshot_asset(source: str, connector: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=snapshot_key(source),
        group_name="snapshots",
        description=f"Immutable Parquet snapshot of the `{source}` landing files ({connector} connector).",
        kinds={"parquet"},
    )
    def _snapshot(workspace: ReckonWorkspace) -> dg.MaterializeResult:
        ws = workspace.open()
        snap = engine.ingest(ws, source)
        return dg.MaterializeResult(metadata={
            "snapshot_id": snap.snapshot_id if snap else "(no new files)",
            "rows": dg.MetadataValue.int(snap.rows if snap else 0),
            "quarantined": dg.MetadataValue.int(snap.quarantined if snap else 0),
            "files": dg.MetadataValue.int(len(snap.files) if snap else 0),
        })

    return _snapshot


def audit_inputs_asset(sources: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name=AUDIT_INPUTS,
        group_name="snapshots",
        deps=[snapshot_key(s) for s in sources],
        description="Registers the snapshot set, the config tables and the audit's id and as-of time.",
        kinds={"duckdb"},
    )
    def _inputs(workspace: ReckonWorkspace) -> dg.MaterializeResult:
        ws = workspace.open()
        with engine.connect(ws) as con:
            audit_id = engine.prepare(con, ws)
            as_of, snapshots, quarantined = con.execute(
                "SELECT (SELECT as_of FROM audit_context), (SELECT count(*) FROM cfg_snapshots), "
                "(SELECT count(*) FROM quarantine)"
            ).fetchone()
        return dg.MaterializeResult(metadata={
            "audit_id": audit_id, "as_of": str(as_of),
            "snapshots": dg.MetadataValue.int(snapshots), "quarantined": dg.MetadataValue.int(quarantined),
        })

    return _inputs


def layer_asset(layer) -> dg.AssetsDefinition:
    @dg.asset(
        name=layer.name,
        group_name="layers",
        deps=list(layer.depends_on),
        description=layer.description,
        kinds={"duckdb", "sql"},
    )
    def _layer(workspace: ReckonWorkspace) -> dg.MaterializeResult:
        with engine.connect(workspace.open()) as con:
            rows = engine.build_layer(con, layer)
        return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(rows)})

    return _layer


LAYER_TABLES_ASSET = "layer_tables"


@dg.asset(name=LAYER_TABLES_ASSET, group_name="layers", deps=[layer.name for layer in engine.LAYERS], kinds={"duckdb"},
          description="Folds the scope's rows into the run-scoped layer tables in one transaction "
                      "(incremental: the scope's runs are replaced; full: every table is rebuilt).")
def layer_tables(workspace: ReckonWorkspace) -> dg.MaterializeResult:
    with engine.connect(workspace.open()) as con:
        runs = engine.commit_layers(con)
        incremental = con.execute("SELECT incremental FROM audit_context").fetchone()[0]
    return dg.MaterializeResult(metadata={"runs_recomputed": dg.MetadataValue.int(runs),
                                          "incremental": dg.MetadataValue.bool(bool(incremental))})


@dg.asset(group_name="findings", deps=[LAYER_TABLES_ASSET], kinds={"duckdb", "sql"},
          description="One primary finding per subject, by the mismatch rules in rules/mismatches/.")
def findings(workspace: ReckonWorkspace) -> dg.MaterializeResult:
    with engine.connect(workspace.open()) as con:
        count = engine.detect_findings(con)
        by_type = table_markdown(con, SUMMARY_QUERIES["Findings by mismatch type"])
    return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(count), "by_type": dg.MetadataValue.md(by_type)})


@dg.asset(group_name="findings", deps=[findings], kinds={"duckdb", "parquet"},
          description="Repair actions (smallest safe repair per finding), exported as JSONL and Parquet.")
def repair_plan(workspace: ReckonWorkspace) -> dg.MaterializeResult:
    ws = workspace.open()
    with engine.connect(ws) as con:
        count = engine.plan_repairs(con)
        paths = export_plan(con, ws.exports)
        queue = export_operator_queue_csv(con, ws.exports)
        by_pattern = table_markdown(con, SUMMARY_QUERIES["Repair actions by pattern"])
    return dg.MaterializeResult(metadata={
        "rows": dg.MetadataValue.int(count),
        "jsonl": dg.MetadataValue.path(str(paths["jsonl"])),
        "parquet": dg.MetadataValue.path(str(paths["parquet"])),
        "operator_queue_csv": dg.MetadataValue.path(str(queue)),
        "by_pattern": dg.MetadataValue.md(by_pattern),
    })


@dg.asset(group_name="reports", deps=[repair_plan], kinds={"duckdb"},
          description="TAXONOMY.md metrics per audit and workflow, appended to `metrics`.")
def reconciliation_metrics(workspace: ReckonWorkspace) -> dg.MaterializeResult:
    with engine.connect(workspace.open()) as con:
        count = engine.compute_metrics(con)
        headline = table_markdown(con, """
            SELECT metric, value FROM metrics
            WHERE audit_id = (SELECT audit_id FROM audit_context) AND workflow = '*' AND dimension IS NULL
            ORDER BY metric""")
    return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(count), "headline": dg.MetadataValue.md(headline)})


@dg.asset(group_name="reports", deps=[reconciliation_metrics], kinds={"duckdb"},
          description="Publishes the audit: findings history and the `audits` row analysts query.")
def analyst_database(context: AssetExecutionContext, workspace: ReckonWorkspace) -> dg.MaterializeResult:
    ws = workspace.open()
    with engine.connect(ws) as con:
        audit = engine.publish(con, started_at=_run_start(context))
    engine.publish_read_copy(ws)
    return dg.MaterializeResult(metadata={
        "database": dg.MetadataValue.path(str(ws.database)),
        "audit_id": audit["audit_id"],
        "findings": dg.MetadataValue.int(audit["findings"]),
        "repair_actions": dg.MetadataValue.int(audit["repair_actions"]),
        "quarantined": dg.MetadataValue.int(audit["quarantined"]),
    })


@dg.asset(group_name="reports", deps=[analyst_database], kinds={"html"},
          description="Self-contained HTML report of the audit (exports/report-<audit_id>.html), "
                      "personal data masked.")
def audit_report(workspace: ReckonWorkspace) -> dg.MaterializeResult:
    report = publish_report(workspace.open())
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(report.path)),
        "audit_id": report.data.audit_id,
        "headline": dg.MetadataValue.md(headline_markdown(report.data)),
        "open_findings_per_audit": dg.MetadataValue.md(trend_markdown(report.data)),
        # Numeric metadata: the Dagster UI plots each over the asset's materializations.
        **{m.key: dg.MetadataValue.int(int(m.value)) if m.kind == "count" else dg.MetadataValue.float(m.value)
           for m in report.data.headline if m.value is not None},
    })


def _run_start(context: AssetExecutionContext) -> datetime | None:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    start = record.start_time if record else None
    return datetime.fromtimestamp(start, tz=UTC) if start else None


def build_assets(config: Config) -> list[dg.AssetsDefinition]:
    sources = [s.name for s in config.sources]
    return [
        *(snapshot_asset(s.name, s.connector) for s in config.sources),
        audit_inputs_asset(sources),
        *(layer_asset(layer) for layer in engine.LAYERS),
        layer_tables,
        findings,
        repair_plan,
        reconciliation_metrics,
        analyst_database,
        audit_report,
    ]
