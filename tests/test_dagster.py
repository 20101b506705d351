"""The Dagster definitions load, and the audit job materializes in-process."""

from __future__ import annotations

import dagster as dg

from pipelines.automation import landing_fingerprint
from pipelines.definitions import AUDIT_JOB, build_definitions
from reckon import file_reads
from reckon.workspace import Workspace
from simulator import simulate


def test_definitions_load_from_the_demo_config_without_a_workspace(tmp_path):
    defs = build_definitions(str(tmp_path / "not-yet"))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"snapshot_workflow_log", "audit_inputs", "intended", "recorded", "observed", "matches",
            "findings", "repair_plan", "reconciliation_metrics", "analyst_database"} <= keys
    assert defs.resolve_job_def(AUDIT_JOB) is not None
    assert {s.name for s in defs.schedules} == {"hourly_audit"}
    assert {s.name for s in defs.sensors} == {"new_landing_files"}


def test_audit_job_materializes_every_asset_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(file_reads, "PARALLEL_MIN_BYTES", 0)  # the sources snapshotted side by side
    sim = simulate(tmp_path / "ws", runs=40, seed=9)
    defs = build_definitions(str(sim.workspace))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(AUDIT_JOB).execute_in_process(instance=instance)
    assert result.success
    materialized = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert len(materialized) == len(defs.resolve_asset_graph().get_all_asset_keys())
    findings = materialized["findings"].materialization.metadata
    by_type = findings["by_type"]  # a table the UI can sort, not Markdown
    assert isinstance(by_type, dg.TableMetadataValue)
    assert by_type.schema.columns[0].name == "mismatch_type"
    assert findings["rows"].value == sum(r.data["findings"] for r in by_type.records) > 0
    assert materialized["repair_plan"].materialization.metadata["rows"].value >= findings["rows"].value
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("snapshot_stripe_refunds", "canonical_schema")] is True
    assert checks[("snapshot_stripe_refunds", "quarantine_share")] is True
    blocking = {(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if e.blocking}
    assert {check for _, check in blocking} == {"quarantine_share", "schema_drift"}


def test_every_job_runs_in_one_process(tmp_path):
    """`dagster asset materialize` runs the implicit asset job: one process for all its steps,
    not a process per step."""
    defs = build_definitions(str(tmp_path / "not-yet"))
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor
    assert defs.resolve_job_def(AUDIT_JOB).executor_def is dg.in_process_executor


def test_sensor_requests_one_run_per_landing_state(tmp_path):
    sim = simulate(tmp_path / "ws", runs=5, seed=2)
    defs = build_definitions(str(sim.workspace))
    sensor = defs.resolve_sensor_def("new_landing_files")
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(first, dg.RunRequest)
        cursor = landing_fingerprint(Workspace.open(sim.workspace))
        again = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert isinstance(again, dg.SkipReason)


def test_plan_files_appear_only_for_a_published_audit(tmp_path):
    """A kill between the plan and the publishing leaves no plan file of an audit that
    `audits` lacks: the exports step comes after the audit is published."""
    from pipelines.steps import AuditRun, audit_steps, run_step

    sim = simulate(tmp_path / "ws", runs=30, seed=4)
    ws = Workspace.open(sim.workspace)
    steps = audit_steps(ws.config)
    names = [s.name for s in steps]
    assert names.index("plan_exports") > names.index("analyst_database")
    run = AuditRun(ws)
    try:
        for step in steps[: names.index("analyst_database")]:  # "killed" just before publishing
            run_step(step, run)
    finally:
        run.close()
    assert not list((ws.root / "exports").glob("repair-plan-*"))


def test_one_source_snapshot_materializes_alone(tmp_path):
    """The snapshot assets share one op, and any of them can be materialized on its own."""
    from reckon.snapshots import list_snapshots

    sim = simulate(tmp_path / "ws", runs=20, seed=3)
    defs = build_definitions(str(sim.workspace))
    key = dg.AssetKey("snapshot_stripe_refunds")
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[key])
    assert result.success
    assert [m.asset_key for m in result.get_asset_materialization_events()] == [key]
    ws = Workspace.open(sim.workspace)
    assert [s.name for s in ws.config.sources if list_snapshots(ws, s.name)] == ["stripe_refunds"]
