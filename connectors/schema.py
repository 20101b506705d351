"""Canonical Arrow schemas every connector writes to.

Two shapes only: workflow-log events (the intended and recorded layers) and
observed objects (one row per version of an object in a system of record).
JSON-valued columns are VARCHAR on purpose: DuckDB's JSON type written to
Parquet comes back as Binary in Polars.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", TS),
        ("type", pa.string()),
        ("run_id", pa.string()),
        ("workflow", pa.string()),
        ("intent_id", pa.string()),
        ("step", pa.string()),
        ("action", pa.string()),
        ("system", pa.string()),
        ("idempotency_key", pa.string()),
        ("target_object_type", pa.string()),
        ("target_key", pa.string()),
        ("expected", pa.string()),  # JSON object
        ("attempt", pa.int32()),
        ("receipt_external_id", pa.string()),
        ("receipt", pa.string()),  # JSON object
        ("error_kind", pa.string()),
        ("error_message", pa.string()),
        ("status", pa.string()),
        ("actor", pa.string()),
        ("description", pa.string()),
        ("extra", pa.string()),  # JSON object of fields the spec does not name
        ("source_file", pa.string()),
        ("source_record", pa.int64()),  # 1-based line number
    ]
)

# Normalized states an observed object can be in.
OBSERVED_STATES = ("success", "pending", "failed", "deleted")

# How a system spells an object's id, so that a receipt or target the runtime recorded and
# the id an export shows compare equal when they name the same object (TAXONOMY.md):
# `verbatim` (trimmed), `integer` (a number or digits: 00123, 123 and 123.0 are 123),
# `before_first_dot` (SendGrid: the send call's X-Message-Id is the webhook's
# sg_message_id up to its first "."), `lowercase` (ids that ignore case, e.g. UUIDs).
ID_FORMS = ("verbatim", "integer", "before_first_dot", "lowercase")

OBSERVED_SCHEMA = pa.schema(
    [
        ("system", pa.string()),
        ("object_type", pa.string()),
        ("external_id", pa.string()),
        ("correlation_keys", pa.list_(pa.string())),
        ("state", pa.string()),
        ("raw_status", pa.string()),
        ("fields", pa.string()),  # JSON object of the object's business fields
        ("last_actor", pa.string()),
        ("created_at", TS),
        ("updated_at", TS),  # version time of this row; orders versions of one object
        ("merged_into", pa.string()),  # survivor id when this object was merged away
        # When someone last changed the object's content, where the format says so (an
        # edit, not a lifecycle step such as a delivery event): who-wrote-last evidence
        # for systems that do not name the actor.
        ("edited_at", TS),
        # Each actor the format names and the time of its newest write (JSON object), so a
        # write by the agent stays visible after someone else wrote on top of it.
        ("actor_writes", pa.string()),
        # The vendor's record as read (JSON): `systems.<name>.fields` maps intended fields
        # to paths in it.
        ("raw", pa.string()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),  # 1-based line or record number
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),  # 0 when the whole file is unreadable
        ("reason", pa.string()),
        ("excerpt", pa.string()),
    ]
)

# Columns the snapshot writer adds to every row.
SNAPSHOT_COLUMNS = [("snapshot_id", pa.string()), ("observed_at", TS)]


def with_snapshot_columns(schema: pa.Schema) -> pa.Schema:
    """The schema of a snapshot's Parquet file for rows of `schema`."""
    out = schema
    for name, typ in SNAPSHOT_COLUMNS:
        out = out.append(pa.field(name, typ))
    return out
