"""A low `policies.duckdb.memory_limit` (reckon.yaml) is applied, DuckDB spills to the
workspace's temp folder instead of failing, and the results do not change.

Measured on a simulated workspace of 2,000 runs (2 threads): the whole audit completes
at 64 MB, and the model scripts spill to `<workspace>/.duckdb_tmp` there; at 32 MB the
models run out of memory. Every step is staged so that no single query holds several
large hash tables, or a list() over more than the findings' rows, at once. The
large-input figures are in bench/memory_pressure.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.runner import run_audit
from reckon import database, engine, incremental
from reckon.workspace import Workspace
from simulator import simulate

RUNS, SEED = 2000, 3
LOW_LIMIT = "64MB"  # 1/64 of the default 4 GB: small enough that DuckDB must spill

FINDINGS = "SELECT * EXCLUDE (audit_id) FROM findings ORDER BY finding_id"
ACTIONS = "SELECT * EXCLUDE (audit_id) FROM repair_actions ORDER BY action_id"


def with_limit(src: Path, dst: Path, memory_limit: str | None) -> Workspace:
    """A copy of the simulated inputs (mtimes kept) with `policies.duckdb.memory_limit`."""
    dst.mkdir(parents=True)
    shutil.copytree(src / "landing", dst / "landing")
    config = yaml.safe_load((src / "reckon.yaml").read_text(encoding="utf-8"))
    if memory_limit is not None:
        config["policies"]["duckdb"] = {"memory_limit": memory_limit, "threads": 2}
    (dst / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return Workspace.open(dst)


def results(ws: Workspace, audit_id: str) -> tuple:
    with duckdb.connect(str(ws.database), read_only=True) as con:
        rows = con.execute(FINDINGS).fetchall(), con.execute(ACTIONS).fetchall()
    plan = (ws.exports / f"repair-plan-{audit_id}.jsonl").read_bytes()
    return (*rows, plan)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("memory") / "inputs", runs=RUNS, seed=SEED).workspace


@pytest.fixture(scope="module")
def default_audit(inputs, tmp_path_factory):
    ws = with_limit(inputs, tmp_path_factory.mktemp("default") / "ws", None)
    audit = run_audit(ws)
    return ws, audit


def test_the_memory_limit_comes_from_reckon_yaml(inputs, tmp_path):
    ws = with_limit(inputs, tmp_path / "ws", LOW_LIMIT)
    with database.connect(ws) as con:
        limit, temp, room, order = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('max_temp_directory_size'), current_setting('preserve_insertion_order')").fetchone()
    with duckdb.connect() as plain:
        plain.execute(f"SET memory_limit = '{LOW_LIMIT}'")
        assert limit == plain.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert Path(temp) == ws.root / ".duckdb_tmp"
    assert order is False and room not in ("", "0 bytes")  # set explicitly, never unbounded


def test_a_low_limit_gives_the_same_audit(inputs, default_audit, tmp_path):
    default_ws, default = default_audit
    ws = with_limit(inputs, tmp_path / "ws", LOW_LIMIT)
    low = run_audit(ws)
    assert low["audit_id"] == default["audit_id"]
    assert low["findings"] == default["findings"] > 0
    assert results(ws, low["audit_id"]) == results(default_ws, default["audit_id"])


def test_models_spill_into_the_workspace_and_give_the_same_tables(inputs, default_audit, tmp_path):
    default_ws, _ = default_audit
    ws = with_limit(inputs, tmp_path / "ws", LOW_LIMIT)
    for source in ws.config.sources:
        engine.ingest(ws, source.name)
    spilled, paths = 0, set()
    with database.connect(ws) as con:
        engine.prepare(con, ws)
        for model in incremental.MODELS:
            incremental.build_model(con, model)
            spilled = max(spilled, con.execute(
                "SELECT coalesce(sum(temporary_storage_bytes), 0) FROM duckdb_memory()").fetchone()[0])
            paths |= {Path(p) for (p,) in con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()}
        incremental.commit(con)
        tables = [t for model in incremental.MODELS if model is not incremental.UNCLAIMED_MODEL  # dropped at commit
                  for t in model.scoped_tables or (model.table,)]
        models = {name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in tables}
    assert spilled > 0, "DuckDB did not spill at 64 MB"
    assert all(p.is_relative_to(ws.root / ".duckdb_tmp") for p in paths)
    with duckdb.connect(str(default_ws.database), read_only=True) as con:
        database.search_internal(con)  # the scope and claims tables live in `internal`
        for name, rows in models.items():
            assert con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall() == rows, name

