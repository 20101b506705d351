"""The native workflow log connector: every bad line quarantined with file, line and reason."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa

from connectors.base import QuarantineSink, SourceOptions
from connectors.event_log import EventLogReader
from connectors.schema import EVENT_SCHEMA

GOOD = {"event_id": "ev_1", "ts": "2026-11-20T10:00:00+02:00", "type": "intent.declared", "run_id": "run_1",
        "workflow": "refund_order", "intent_id": "int_1", "step": "issue_refund", "action": "stripe.refund.create",
        "system": "stripe", "expected": {"amount": 4200}, "target": {"object_type": "charge", "key": "ch_1"},
        "trace_id": "abc"}


def read(path: Path) -> tuple[pa.Table, list[dict]]:
    reader = EventLogReader(SourceOptions(source="log", correlation_pattern=re.compile(".+"), root=path.parent))
    sink = QuarantineSink("log")
    table = pa.Table.from_batches(list(reader.batches(path, sink)), schema=EVENT_SCHEMA)
    return table, sink.rows


def test_good_lines_are_canonical(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    table, bad = read(path)
    row = table.to_pylist()[0]
    assert bad == []
    assert row["ts"].isoformat() == "2026-11-20T08:00:00+00:00"
    assert row["target_key"] == "ch_1" and json.loads(row["expected"]) == {"amount": 4200}
    assert json.loads(row["extra"]) == {"trace_id": "abc"}  # unknown fields are kept
    assert (row["source_file"], row["source_record"]) == ("log.jsonl", 1)


def test_malformed_lines_are_quarantined_and_the_rest_kept(tmp_path):
    lines = [
        json.dumps(GOOD),
        "{not json",
        json.dumps({**GOOD, "event_id": "ev_2", "ts": "2026-11-20T10:00:00"}),  # no offset
        json.dumps({k: v for k, v in GOOD.items() if k != "run_id"} | {"event_id": "ev_3"}),
        json.dumps({**GOOD, "event_id": "ev_4", "type": "action.exploded"}),
        json.dumps({**GOOD, "event_id": "ev_5", "type": "action.attempted", "intent_id": None}),
        json.dumps({**GOOD, "event_id": "ev_6", "expected": "not an object"}),
        json.dumps({**GOOD, "event_id": "ev_7", "attempt": 0, "type": "action.attempted"}),
        "[1, 2, 3]",
        "",
        json.dumps({**GOOD, "event_id": "ev_8", "type": "run.completed", "status": "completed"}),
    ]
    path = tmp_path / "log.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"event_id": "\xff\xfe"}\n')
    table, bad = read(path)
    assert table.column("event_id").to_pylist() == ["ev_1", "ev_8"]
    assert [b["source_record"] for b in bad] == [2, 3, 4, 5, 6, 7, 8, 9, 12]
    assert all(b["source_file"] == "log.jsonl" and b["reason"] for b in bad)
    reasons = " | ".join(b["reason"] for b in bad)
    for fragment in ("malformed JSON", "offset", "run_id", "unknown event type", "intent_id", "expected",
                     "attempt", "JSON object", "UTF-8"):
        assert fragment in reasons
    assert table.num_rows + len(bad) == 11  # every non-blank line is accounted for


def test_gzip_that_ends_early_keeps_what_was_read(tmp_path):
    data = gzip.compress(("\n".join(json.dumps({**GOOD, "event_id": f"ev_{i}"}) for i in range(2000)) + "\n").encode())
    path = tmp_path / "log.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    table, bad = read(path)
    assert 0 < table.num_rows < 2000
    assert len(bad) == 1 and "unreadable" in bad[0]["reason"] and bad[0]["source_record"] == table.num_rows + 1
