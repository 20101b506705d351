"""Hostile operator decision files (decisions/*.csv, *.jsonl): a line that is not a decision
is quarantined with its file, line and reason, and the audit completes; a CSV as Excel (or
reckon's own operator CSV) writes it, with a byte order mark, is read like any other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import QuarantineSink
from pipelines.runner import run_audit
from reckon import database
from reckon.decisions import SOURCE, load_decisions
from reckon.workspace import Workspace
from simulator import simulate

HEADER = "finding_id,decision,reason,operator,decided_at\n"
WHEN = "2026-11-20T12:00:00Z"


def decision(finding_id: str, reason: str = "checked by hand") -> dict[str, str]:
    return {"finding_id": finding_id, "decision": "ignore", "reason": reason, "operator": "ops-1", "decided_at": WHEN}


def hostile_files(first: str, second: str) -> dict[str, bytes]:
    """Each file: what an operator (or a broken tool) might write; `first` and `second`
    are finding ids the good lines decide."""
    good = json.dumps(decision(first)).encode()
    return {
        # 100,000 levels of nesting, then a good line: the parser's recursion limit is a bad record
        "deep.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n" + good + b"\n",
        # an integer past Python's 4,300-digit limit for int()
        "digits.jsonl": json.dumps(decision(first))[:-1].encode() + b', "n": 1' + b"0" * 5_000 + b"}\n",
        # half a surrogate pair, escaped: no Parquet or Arrow value can hold it
        "surrogate.jsonl": json.dumps(decision(first, "refund \ud800 ok")).encode() + b"\n",
        # Latin-1, not UTF-8: quarantined, never decoded into a replacement character and accepted
        "latin1.jsonl": json.dumps(decision(first, "caf\u00e9"), ensure_ascii=False).encode("latin-1") + b"\n",
        "latin1.csv": (HEADER + f"{first},ignore,caf\u00e9 closed,ops-1,{WHEN}\n").encode("latin-1"),
        # Excel's UTF-8 CSV: a byte order mark before the header
        "excel.csv": b"\xef\xbb\xbf" + f"{HEADER}{second},ignore,r\u00e9sum\u00e9 checked,ops-2,{WHEN}\r\n".encode(),
    }


EXPECTED_REJECTS = {  # file -> (line, the start of its reason)
    "deep.jsonl": (1, "malformed JSON: maximum recursion depth exceeded"),
    "digits.jsonl": (1, "malformed JSON: Exceeds the limit (4300 digits)"),
    "surrogate.jsonl": (1, "invalid unicode: lone surrogate in field 'reason'"),
    "latin1.jsonl": (1, "invalid UTF-8"),
    "latin1.csv": (2, "invalid UTF-8 in field 'reason'"),
}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """One simulated workspace, audited, then given the hostile decision files and audited again."""
    sim = simulate(tmp_path_factory.mktemp("decisions") / "ws", runs=20, seed=3)
    ws = Workspace.open(sim.workspace)
    run_audit(ws)
    with database.connect_read_copy(ws) as con:
        first, second = (r[0] for r in con.execute("SELECT finding_id FROM findings ORDER BY finding_id LIMIT 2").fetchall())
    folder = ws.root / "decisions"
    folder.mkdir()
    for name, content in hostile_files(first, second).items():
        (folder / name).write_bytes(content)
    run_audit(ws)
    with database.connect_read_copy(ws) as con:
        rejects = {r[0].removeprefix("decisions/"): r[1:] for r in con.execute(
            "SELECT source_file, source_record, reason FROM quarantine WHERE source = ?", [SOURCE]).fetchall()}
        accepted = con.execute("SELECT source_file, finding_id, reason FROM decisions ORDER BY source_file").fetchall()
    return first, second, rejects, accepted


@pytest.mark.parametrize("name", sorted(EXPECTED_REJECTS))
def test_a_hostile_decision_line_is_quarantined_with_its_reason(audited, name):
    _, _, rejects, _ = audited
    line, reason = EXPECTED_REJECTS[name]
    assert rejects[name][0] == line
    assert rejects[name][1].startswith(reason), rejects[name]


def test_good_decisions_beside_them_are_read(audited):
    first, second, rejects, accepted = audited
    assert set(rejects) == set(EXPECTED_REJECTS)  # nothing else, and the BOM CSV's row is not among them
    assert accepted == [("decisions/deep.jsonl", first, "checked by hand"),
                        ("decisions/excel.csv", second, "r\u00e9sum\u00e9 checked")]


def test_a_csv_field_past_the_csv_size_limit_is_one_bad_row(tmp_path):
    (tmp_path / "decisions").mkdir()
    (tmp_path / "decisions" / "big.csv").write_text(
        HEADER + f"fnd_1,ignore,{'x' * 200_000},ops-1,{WHEN}\nfnd_2,ignore,fine,ops-1,{WHEN}\n")
    sink = QuarantineSink(SOURCE)
    table = load_decisions(tmp_path, sink)
    assert table.column("finding_id").to_pylist() == ["fnd_2"]
    assert [(r["source_record"], r["reason"][:18]) for r in sink.rows] == [(2, "malformed CSV: fie")]


@pytest.mark.parametrize("value", [42, ["fnd_1"], {"id": "fnd_1"}, True])
def test_a_decision_field_that_is_not_text_is_a_bad_record(tmp_path, value):
    """Not silently turned into its Python text ("42", "['fnd_1']")."""
    (tmp_path / "decisions").mkdir()
    record = {**decision("fnd_1"), "operator": value}
    (tmp_path / "decisions" / "d.jsonl").write_text(json.dumps(record) + "\n")
    sink = QuarantineSink(SOURCE)
    assert load_decisions(tmp_path, sink).num_rows == 0
    assert sink.rows[0]["reason"].startswith("'operator' must be text")


def test_csv_records_are_numbered_by_their_first_line(tmp_path: Path):
    """Blank lines and a field spanning lines count: the quarantine names the line to fix."""
    (tmp_path / "decisions").mkdir()
    (tmp_path / "decisions" / "d.csv").write_text(
        HEADER + "\n" + f'fnd_1,ignore,"two\nlines",ops-1,{WHEN}\n' + f"fnd_2,ignore,,ops-1,{WHEN}\n"
        + f"fnd_3,ignore,a reason, with a comma,ops-1,{WHEN}\n")
    sink = QuarantineSink(SOURCE)
    assert load_decisions(tmp_path, sink).column("source_record").to_pylist() == [3]
    assert [(r["source_record"], r["reason"]) for r in sink.rows] == [
        (5, "'ignore' needs a 'reason'"), (6, "6 fields, more than the header's 5")]
