"""The incremental protocol: what an audit keeps from the last one, what it recomputes, and
when it starts over. Every piece of it is here or in the model SQL (rules/models) this module runs.

Invariants (tests/test_incremental.py proves the first one table by table):

1. An incremental audit gives exactly the tables a full audit of the same snapshots gives.
2. The kept tables (`KEPT_TABLES`, every model's `scoped_tables`, `SUBJECT_CONTEXT` and `RUN_SCOPE_HITS`) were
   computed by the SQL (`FINGERPRINTED`) and catalog whose fingerprint `model_state` holds, from the snapshots
   `folded_snapshots` lists. If the fingerprint differs, a folded snapshot is gone, or
   `policies.incremental` is false, the audit starts over: `resume` drops them all.
3. An audit folds in only the snapshots not folded yet (`raw_events_new`,
   `raw_observed_new`), queueing what they touch: runs with new events (`changed_runs`),
   objects with a new version (`changed_objects`), fields shown for the first time
   (`changed_fields`).
4. A run's rows in the run-scoped tables depend only on its own events, the objects its
   keys reach, the natural-key groups of those objects, and two clocks that only move
   forward. The scope (rules/models/30_scope.sql) is every run the queues or the clocks
   can change; 65_coupled.sql adds the runs a natural-key group couples to them. Only
   the scope's rows are recomputed (as `scoped_<table>`), then `commit` replaces them.
5. The commit is one transaction and records the fingerprint last: a crash before it
   leaves the previous audit's tables whole; a crash inside an audit in buckets leaves a
   fingerprint that never matches, so the next audit starts over.

A full audit runs `full_mode` scripts where a model has them (every run in scope, nothing
coupled) and builds the same tables.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from reckon.database import PUBLIC_TABLES, PUBLIC_VIEWS, qualified, run_script, table_exists
from rules import FINDINGS_DIR, MACROS_FILE, MODELS_DIR, Model, load_models, load_rules

MODELS = load_models()
# Tables an audit keeps for the next one, besides the run-scoped model tables.
KEPT_TABLES = ("events", "observed", "observed_keys", "observed_fields", "changed_runs", "changed_objects",
               "changed_fields", "folded_snapshots")
# The run-scoped tables the models keep (each rebuilt for the scope as `scoped_<name>`).
SCOPED_TABLES = tuple(t for model in MODELS for t in model.scoped_tables)
# The findings step's JSON context of each intent a rule hits (rules/findings/10_subjects.sql),
# run-scoped too: the commit drops the scope's rows, the findings step builds what is missing.
SUBJECT_CONTEXT = "intent_subject_context"
SUBJECTS_FILE = FINDINGS_DIR / "10_subjects.sql"
# The hits of the `scope: run` rules, with each hit's run, kept between audits: the commit
# queues the scope's runs in `HITS_PENDING`, and the findings step evaluates those rules
# for the queued runs only, replaces their hits and empties the queue (reckon/engine.py).
RUN_SCOPE_HITS = "run_scope_hits"
HITS_PENDING = "hits_pending_runs"
# The objects no intent claims (rules/models/67_unclaimed.sql): one audit's bookkeeping,
# dropped at its commit.
UNCLAIMED = "unclaimed"
# What analysts and rules read: every table a model builds, not the scope's bookkeeping.
MODEL_TABLES = tuple(t for model in MODELS if model.full_path is None and model.name != UNCLAIMED
                     for t in model.scoped_tables or (model.name,))

STATE_DDL = """
CREATE TABLE IF NOT EXISTS internal.model_state (fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS internal.folded_snapshots (snapshot_id VARCHAR);
"""


# The SQL whose output the kept tables hold: every model script, the macros they call, the
# findings' script that builds the kept intent context, and the rules whose hits are kept.
FINGERPRINTED = (*sorted(MODELS_DIR.rglob("*.sql")), MACROS_FILE, SUBJECTS_FILE,
                 *sorted(rule.path for rule in load_rules() if rule.scope == "run"))


def fingerprint(catalog: list[list[dict]]) -> str:
    """Hash of the `FINGERPRINTED` scripts and the catalog tables the models read."""
    digest = hashlib.sha256()
    for path in FINGERPRINTED:
        digest.update(path.relative_to(MODELS_DIR.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(catalog, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


def resume(con: duckdb.DuckDBPyConnection, print_: str, snapshot_ids: set[str], allowed: bool) -> set[str]:
    """The snapshots already folded into the kept tables; or, after dropping every kept
    table (invariant 2), none: the audit is then full."""
    _drop_misplaced(con)
    con.execute(STATE_DDL)
    kept = {row[0] for row in con.execute("SELECT fingerprint FROM model_state").fetchall()}
    folded = {row[0] for row in con.execute("SELECT snapshot_id FROM folded_snapshots").fetchall()}
    if allowed and kept == {print_} and folded <= snapshot_ids:
        return folded
    for table in (*KEPT_TABLES, *SCOPED_TABLES, SUBJECT_CONTEXT, RUN_SCOPE_HITS, HITS_PENDING, "model_state"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(STATE_DDL)
    return set()


def _drop_misplaced(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every table and view in `main` that is not public, and every table there whose
    name is a public view's. An earlier version kept them all there, `model_state` too: its
    workspace then starts over, and builds every table where it now lives; and it kept
    `stored_results` as a table. An interrupted audit may leave a public table's
    `scoped_<t>` there, rebuilt by the next one."""
    found = con.execute(
        "SELECT 'TABLE', table_name FROM duckdb_tables() WHERE NOT temporary "
        "AND (table_name NOT IN (SELECT unnest(?)) OR table_name IN (SELECT unnest(?))) "
        "AND database_name = current_database() AND schema_name = 'main' "
        "UNION ALL SELECT 'VIEW', view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary "
        "AND view_name NOT IN (SELECT unnest(?)) AND database_name = current_database() AND schema_name = 'main'",
        [list(PUBLIC_TABLES), list(PUBLIC_VIEWS), list(PUBLIC_TABLES)]).fetchall()
    for kind, name in found:  # names from the database's own catalog, quoted all the same
        con.execute(f'DROP {kind} main."{name}"')


def is_incremental(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT incremental FROM audit_context").fetchone()[0])


def build_model(con: duckdb.DuckDBPyConnection, model: Model) -> int:
    """Run one model (its full-mode script on a full audit), in one transaction; returns
    the rows it computed (for a run-scoped model: the scope's rows)."""
    full = model.full_path is not None and not is_incremental(con)
    con.execute("BEGIN")
    run_script(con, model.full_path if full else model.path)
    con.execute("COMMIT")
    return con.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]


def commit(con: duckdb.DuckDBPyConnection) -> int:
    """Fold the scope's rows into the run-scoped tables, in one transaction (invariant 5):
    incremental, the scope's runs are replaced; full, the scoped tables become the tables.
    Returns the number of runs recomputed."""
    incremental = is_incremental(con)
    con.execute("BEGIN")
    for table in SCOPED_TABLES:
        if incremental:
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM scope_runs)")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM scoped_{table}")
            con.execute(f"DROP TABLE scoped_{table}")
        else:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"ALTER TABLE scoped_{table} RENAME TO {table}")
    if incremental and table_exists(con, SUBJECT_CONTEXT):  # a full audit's resume dropped it
        con.execute(f"DELETE FROM {SUBJECT_CONTEXT} WHERE run_id IN (SELECT run_id FROM scope_runs)")
    if incremental and table_exists(con, RUN_SCOPE_HITS):  # likewise; the findings step rebuilds them all
        # Added to, not replaced: a findings step that never ran leaves its runs queued.
        con.execute(f"INSERT INTO {HITS_PENDING} SELECT run_id FROM scope_runs "
                    f"EXCEPT SELECT run_id FROM {HITS_PENDING}")
    con.execute(f"DROP VIEW scoped_events; DROP VIEW claims_outside_scope; DROP TABLE IF EXISTS scope_event_rows; "
                f"DROP TABLE IF EXISTS {UNCLAIMED}")
    con.execute("DELETE FROM changed_runs; DELETE FROM changed_objects; DELETE FROM changed_fields")
    _record(con, con.execute("SELECT models_fingerprint FROM audit_context").fetchone()[0])
    con.execute("COMMIT")
    return con.execute("SELECT count(*) FROM scope_runs").fetchone()[0]


def build_all(con: duckdb.DuckDBPyConnection) -> None:
    """Every model in order, then the commit."""
    for model in MODELS:
        build_model(con, model)
    commit(con)


def scoped(table: str) -> str:
    """A run-scoped table's scope rows, `scoped_<table>`, in the table's own schema: a full
    audit's commit renames it to the table, which keeps its schema."""
    schema, name = qualified(table).split(".")
    return f"{schema}.scoped_{name}"


def _model_index(name: str) -> int:
    return next(i for i, model in enumerate(MODELS) if model.name == name)


# An audit in buckets (reckon/buckets.py) runs the models in three phases, each one pass
# per bucket: every bucket's claims first (intended, recorded, claims), then the
# unclaimed objects, one slice of the objects per pass, then every bucket's matches and state.
# A natural key matches only objects no intent claims, so the unclaimed objects need all the
# buckets' claims; computed in the other order, a first bucket would see every object the
# later buckets claim as unclaimed. Computed once, no matches pass reads every object and
# every claim.
FOLDED_MODELS = MODELS[:_model_index("scope")]  # events and observed: folded once, for every bucket
CLAIM_MODELS = MODELS[_model_index("scope") + 1:_model_index("coupled")]
UNCLAIMED_MODEL = MODELS[_model_index(UNCLAIMED)]
MATCH_MODELS = MODELS[_model_index(UNCLAIMED) + 1:]
CLAIM_TABLES = tuple(t for model in CLAIM_MODELS for t in model.scoped_tables)
MATCH_TABLES = tuple(t for model in MATCH_MODELS for t in model.scoped_tables)


def bucket_claims(con: duckdb.DuckDBPyConnection, buckets: int, bucket: int) -> None:
    """Phase 1 for one bucket of runs: `scoped_<t>` for each of `CLAIM_TABLES`, from its
    runs' events and every observed object."""
    _bucket_scope(con, buckets, bucket)
    con.execute("CREATE OR REPLACE TABLE internal.scope_event_rows AS "
                "SELECT * FROM events SEMI JOIN scope_runs USING (run_id)")
    con.execute("CREATE OR REPLACE VIEW internal.scoped_events AS SELECT * FROM scope_event_rows")
    for model in CLAIM_MODELS:
        build_model(con, model)


def bucket_unclaimed(con: duckdb.DuckDBPyConnection, buckets: int, bucket: int) -> None:
    """Phase 2 for one slice of the objects (`hash(system, external_id) % buckets`):
    `unclaimed`, once `claims` holds every bucket's rows (all outside this pass's scope,
    which has no runs)."""
    con.execute("SET VARIABLE objects_slice = [?, ?]", [buckets, bucket])
    con.execute("ALTER VIEW observed RENAME TO observed_all")
    con.execute("CREATE VIEW observed AS FROM observed_all "
                "WHERE hash(system, external_id) % getvariable('objects_slice')[1] = getvariable('objects_slice')[2]")
    con.execute(f"CREATE OR REPLACE TABLE {scoped('claims')} AS SELECT * FROM claims WHERE false")
    con.execute("CREATE OR REPLACE VIEW internal.claims_outside_scope AS SELECT system, external_id FROM claims")
    build_model(con, UNCLAIMED_MODEL)


def bucket_matches(con: duckdb.DuckDBPyConnection, buckets: int, bucket: int) -> None:
    """Phase 3 for one bucket of runs: `scoped_<t>` for each of `MATCH_TABLES`, from this
    bucket's rows of `CLAIM_TABLES` and every slice of `unclaimed`."""
    _bucket_scope(con, buckets, bucket)
    for table in CLAIM_TABLES:
        con.execute(f"CREATE OR REPLACE TABLE {scoped(table)} AS SELECT * FROM {table} SEMI JOIN scope_runs USING (run_id)")
    for model in MATCH_MODELS:
        build_model(con, model)


def _bucket_scope(con: duckdb.DuckDBPyConnection, buckets: int, bucket: int) -> None:
    con.execute("CREATE OR REPLACE TABLE internal.scope_runs AS SELECT DISTINCT run_id FROM events WHERE hash(run_id) % ? = ?",
                [buckets, bucket])


def start_buckets(con: duckdb.DuckDBPyConnection) -> str:
    """Before the buckets: fold events and observed, and create the run-scoped tables
    empty, with the models' own schemas. Until `finish_buckets`, the kept tables are
    incomplete and their fingerprint never matches (invariant 5); returns the real one."""
    fingerprint_ = con.execute("SELECT models_fingerprint FROM audit_context").fetchone()[0]
    con.execute("UPDATE audit_context SET models_fingerprint = 'unfinished buckets'")
    for model in FOLDED_MODELS:
        build_model(con, model)
    con.execute("CREATE OR REPLACE TABLE internal.scope_runs AS SELECT run_id FROM events WHERE false")
    con.execute("CREATE OR REPLACE VIEW internal.scoped_events AS SELECT * FROM events WHERE false")
    con.execute("CREATE OR REPLACE VIEW internal.claims_outside_scope AS SELECT system, external_id FROM observed WHERE false")
    for model in MODELS[_model_index("scope") + 1:]:
        build_model(con, model)
    commit(con)
    return fingerprint_


def finish_buckets(con: duckdb.DuckDBPyConnection, fingerprint_: str) -> None:
    """Every bucket is in: the kept tables are those of one pass, under its fingerprint."""
    con.execute("DROP VIEW IF EXISTS scoped_events; DROP VIEW IF EXISTS claims_outside_scope; "
                "DROP TABLE IF EXISTS scope_event_rows")
    con.execute("BEGIN")
    con.execute("UPDATE audit_context SET models_fingerprint = ?", [fingerprint_])
    _record(con, fingerprint_)
    con.execute("COMMIT")


def _record(con: duckdb.DuckDBPyConnection, print_: str) -> None:
    """The kept tables now match this fingerprint (inside the commit's transaction)."""
    con.execute("DELETE FROM model_state")
    con.execute("INSERT INTO model_state VALUES (?)", [print_])
