"""Vendor exports are untrusted: hostile files never crash an audit, bad records are
quarantined with a reason, good records beside them are audited, and values that look
like spreadsheet formulas never reach an operator's spreadsheet as formulas."""

from __future__ import annotations

import csv
import io
import json
import os
import random
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.runner import run_audit
from reckon import database
from reckon.workspace import Workspace
from reports.masking import EMAIL, Masker, mask_email, mask_text
from reports.operator_csv import (
    COLUMNS,
    FORMULA_PREFIXES,
    export_operator_queue_csv,
    neutralize,
    written_cell,
    written_column,
)
from simulator import simulate
from tests.deadline import within

RUNS, SEED = 20, 11
DEEP = 20_000  # levels of nesting: far past Python's recursion limit
BIG_INT = "9" * 400
HUGE = 50 * 1024 * 1024  # characters
HYPERLINK = '=HYPERLINK("http://evil.example","x")'
CMD = "+cmd|' /C calc'!A0"
SUM = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
RUN_NUL = "run_hostile_b\x00x"


def refund(refund_id: str, marker: str | None = None, **fields) -> dict:
    """A Stripe refund; with `marker`, it carries the agent's correlation key (so an
    unmatched one is an orphan effect that reaches the findings and the plan)."""
    record = {"object": "refund", "id": refund_id, "status": "succeeded", "amount": 100, "currency": "usd",
              "charge": f"ch_{refund_id}", "created": 1795606173, "metadata": {}}
    if marker:
        record["metadata"]["reckon_intent_id"] = marker
    record.update(fields)
    return record


def page(*records) -> bytes:
    return json.dumps({"object": "list", "data": list(records)}).encode()


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def event(event_id: str, kind: str, run_id: str, workflow: str, at: str, **fields) -> dict:
    return {"event_id": event_id, "type": kind, "run_id": run_id, "workflow": workflow, "ts": at, **fields}


@dataclass
class Case:
    name: str
    files: dict[str, bytes]  # path under landing/ -> content
    # (file, words that must all appear in one of its quarantine reasons)
    quarantined: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)  # SQL that must return a true value


CASES = [
    Case(
        "JSON nested 20,000 levels deep in a JSON Lines event",
        {"events/deep.jsonl": jsonl(event("ev_hostile_ok", "run.started", "run_hostile_ok", "refund_order",
                                          "2026-11-20T10:00:00Z", status="running"))
         + b'{"event_id":"ev_deep","x":' + deep(DEEP).encode() + b"}\n"},
        quarantined=[("events/deep.jsonl", ("malformed json", "recursion"))],
        audited=["SELECT count(*) = 1 FROM events WHERE event_id = 'ev_hostile_ok'"],
    ),
    Case(
        "JSON nested 20,000 levels deep inside a Stripe refund page",
        {"stripe/deep.json": b'{"object":"list","data":[' + json.dumps(refund("re_deep_ok")).encode()
         + b',{"object":"refund","id":"re_deep","status":"succeeded","metadata":{"x":'
         + deep(DEEP).encode() + b"}}]}"},
        quarantined=[("stripe/deep.json", ("malformed json",))],
    ),
    Case(
        "JSON nested 500 levels deep (under the limit) in Stripe metadata",
        {"stripe/deep500.json": page(refund("re_deep500", "int_hostile_deep500", metadata={
            "reckon_intent_id": "int_hostile_deep500", "x": json.loads(deep(500))}))},
        audited=["SELECT count(*) = 1 FROM findings WHERE subject_id = 'stripe:re_deep500'"],
    ),
    Case(
        "400-digit integers as data (Stripe amount and metadata, HubSpot property)",
        {"stripe/big.json": page(refund("re_big", "int_hostile_big", amount=int(BIG_INT),
                                        metadata={"reckon_intent_id": "int_hostile_big", "n": -int(BIG_INT)})),
         "hubspot/big.json": json.dumps({"results": [{
             "id": "990400", "archived": False, "createdAt": "2026-06-14T23:29:32Z",
             "updatedAt": "2026-06-14T23:29:32Z",
             "properties": {"email": "big@example.com", "score": int(BIG_INT)}}]}).encode()},
        audited=[f"SELECT fields LIKE '%{BIG_INT}%' FROM observed WHERE external_id = 're_big'",
                 f"SELECT fields LIKE '%{BIG_INT}%' FROM observed WHERE external_id = '990400'",
                 "SELECT count(*) = 1 FROM findings WHERE subject_id = 'stripe:re_big'"],
    ),
    Case(
        "400-digit integers where a number has a range (event attempt, Stripe created)",
        {"events/big.jsonl": jsonl(event("ev_big", "action.attempted", "run_big", "refund_order",
                                         "2026-11-20T10:00:00Z", intent_id="int_big", attempt=int(BIG_INT))),
         "stripe/big-created.json": page(refund("re_big_created", created=int(BIG_INT)))},
        quarantined=[("events/big.jsonl", ("attempt",)), ("stripe/big-created.json", ("created",))],
    ),
    Case(
        "5,000-digit integers (past Python's integer conversion limit)",
        {"events/huge-int.jsonl": b'{"event_id":"ev_x","attempt":' + b"9" * 5000 + b"}\n",
         "stripe/huge-int.json": b'{"data":[{"object":"refund","id":"re_x","status":"succeeded","amount":'
         + b"9" * 5000 + b"}]}"},
        quarantined=[("events/huge-int.jsonl", ("digits",)), ("stripe/huge-int.json", ("digits",))],
    ),
    Case(
        "non-finite numbers (NaN, Infinity, 1e400) in vendor JSON",
        {"stripe/nan.json": b'{"data":[{"object":"refund","id":"re_nan","status":"succeeded","created":1795606173,'
         b'"amount":5,"metadata":{"reckon_intent_id":"int_hostile_nan","x":NaN,"y":1e400,"z":-Infinity}}]}'},
        # kept out of every JSON column, so no exported plan line holds a non-standard token
        audited=["SELECT count(*) = 0 FROM observed WHERE fields SIMILAR TO '.*(NaN|Infinity).*'"],
    ),
    Case(
        "a 50 MB string in a good record and in a bad one",
        {"stripe/huge.json": page(refund("re_huge", "int_hostile_huge", reason="r" * HUGE)),
         "events/huge.jsonl": jsonl({"event_id": "ev_huge", "type": "run.started", "ts": "2026-11-20T10:00:00Z",
                                     "workflow": "refund_order", "description": "d" * HUGE})},
        quarantined=[("events/huge.jsonl", ("run_id",))],
        audited=[f"SELECT length(fields) > {HUGE} FROM observed WHERE external_id = 're_huge'",
                 "SELECT max(length(excerpt)) <= 200 FROM quarantine"],
    ),
    Case(
        "NUL characters as \\u0000 escapes in ids, text and keys",
        {"stripe/nul.json": page(refund("re_nul\u0000x", "int_hostile_nul", reason="a\u0000b",
                                        metadata={"reckon_intent_id": "int_hostile_nul", "k\u0000": "v\u0000"})),
         "events/nul.jsonl": jsonl(event("ev_nul\u0000", "run.started", "run_nul\u0000", "refund_order",
                                         "2026-11-20T10:00:00Z", description="a\u0000b"))},
        audited=["SELECT count(*) = 1 FROM observed WHERE external_id = 're_nul' || chr(0) || 'x'",
                 "SELECT count(*) = 1 FROM events WHERE event_id = 'ev_nul' || chr(0)",
                 "SELECT count(*) = 1 FROM findings WHERE subject_id = 'stripe:re_nul' || chr(0) || 'x'"],
    ),
    Case(
        "raw NUL bytes in JSON Lines and in a JSON document",
        {"events/nul-raw.jsonl": b'{"event_id":"e\x00","type":"run.started"}\n\x00\x00\x00\x00\n',
         "stripe/nul-raw.json": b'{"data":[{"object":"refund","id":"re_\x00x","status":"succeeded"}]}'},
        quarantined=[("events/nul-raw.jsonl", ("control character",)), ("events/nul-raw.jsonl", ("malformed json",)),
                     ("stripe/nul-raw.json", ("control character",))],
    ),
    Case(
        "empty files",
        {"stripe/empty.json": b"", "hubspot/empty.json": b"", "sendgrid/empty.json": b"",
         "events/empty.jsonl": b""},
        quarantined=[("stripe/empty.json", ("malformed json",)), ("hubspot/empty.json", ("malformed json",)),
                     ("sendgrid/empty.json", ("malformed json",))],
    ),
    Case(
        "binary files named .json and .jsonl.gz",
        {"stripe/binary.json": bytes(range(256)) * 64, "hubspot/binary.json": os.urandom(4096),
         "events/binary.jsonl.gz": bytes(range(256)) * 64},
        quarantined=[("stripe/binary.json", ("utf-8",)), ("hubspot/binary.json", ("",)),
                     ("events/binary.jsonl.gz", ("unreadable",))],
    ),
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The simulated workspace audited without hostile files: its findings and row counts."""
    sim = simulate(tmp_path_factory.mktemp("baseline") / "ws", runs=RUNS, seed=SEED)
    ws = Workspace.open(sim.workspace)
    run_audit(ws)
    findings = set(query(ws, "SELECT finding_id, mismatch_type FROM findings"))
    counts = query(ws, "SELECT (SELECT count(*) FROM raw_events), (SELECT count(*) FROM raw_observed)")[0]
    return findings, counts


def hostile_workspace(root: Path, files: dict[str, bytes]) -> Workspace:
    """The simulated workspace plus `files` (dated at the simulated export time)."""
    sim = simulate(root, runs=RUNS, seed=SEED)
    stamp = sim.export_time.timestamp()
    for name, content in files.items():
        path = root / "landing" / name
        path.write_bytes(content)
        os.utime(path, (stamp, stamp))
    return Workspace.open(root)


def query(ws: Workspace, sql: str) -> list[tuple]:
    """`sql` in an analyst's own session: the raw views read the files docs/outputs.md says
    to set from `audit_files`."""
    with duckdb.connect(str(ws.database), read_only=True) as con:
        for view in ("raw_events", "raw_observed"):
            con.execute(f"""SET VARIABLE {view} = (
                SELECT list(parse_dirpath(d.path) || '/' || f.path ORDER BY f.path)
                FROM audit_files f, duckdb_databases() d
                WHERE d.database_name = current_database() AND f.view = ?)""", [view])
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_files_are_quarantined_and_the_rest_is_audited(tmp_path, baseline, case):
    ws = hostile_workspace(tmp_path / "ws", case.files)
    audit = run_audit(ws)  # completes: nothing raises
    assert audit["findings"] > 0

    rejected = query(ws, "SELECT source_file, lower(reason), excerpt FROM quarantine")
    for name, words in case.quarantined:
        reasons = [r for f, r, _ in rejected if f == f"landing/{name}"]
        assert any(all(w in r for w in words) for r in reasons), f"{name}: {words} not in {reasons}"
    assert all(e is None or len(e) <= 200 for *_, e in rejected)
    for sql in case.audited:
        assert query(ws, sql) == [(True,)], sql

    # every good record of the simulated exports is still read and audited
    findings, (events, observed) = baseline
    hostile = "(" + ", ".join(f"'landing/{n}'" for n in case.files) + ")"
    assert query(ws, f"SELECT count(*) FROM raw_events WHERE source_file NOT IN {hostile}") == [(events,)]
    assert query(ws, f"SELECT count(*) FROM raw_observed WHERE source_file NOT IN {hostile}") == [(observed,)]
    assert findings <= set(query(ws, "SELECT finding_id, mismatch_type FROM findings"))

    # the exported plan is standard JSON, line by line (no NaN/Infinity tokens)
    plan = ws.exports / f"repair-plan-{audit['audit_id']}.jsonl"
    for line in plan.read_text(encoding="utf-8").splitlines():
        json.loads(line, parse_constant=_reject_constant)


def _reject_constant(token: str):
    raise ValueError(f"non-standard JSON token {token}")


# --- formulas: in findings and the plan as data, never as a spreadsheet formula --------


def formula_files(export_time) -> dict[str, bytes]:
    """Runs, a contact, a bounce and an orphan refund whose values are formulas."""
    t = (export_time - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (export_time - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        # a run whose id is a formula, stuck after a lost refund attempt
        event("ev_h1", "run.started", HYPERLINK, "refund_order", t, status="running"),
        event("ev_h2", "intent.declared", HYPERLINK, "refund_order", t, intent_id="int_hostile_refund",
              step="issue_refund", action="stripe.refund.create", system="stripe",
              idempotency_key="idem_hostile_refund", expected={"amount": 100, "charge": "ch_hostile"},
              description=SUM),
        event("ev_h3", "action.attempted", HYPERLINK, "refund_order", t, intent_id="int_hostile_refund",
              attempt=1, idempotency_key="idem_hostile_refund"),
        event("ev_h4", "action.timed_out", HYPERLINK, "refund_order", t, intent_id="int_hostile_refund",
              error={"kind": "timeout", "message": CMD}),
        # an intent whose id is a formula, attempted and never seen, in a run whose id has a NUL
        event("ev_h5", "run.started", RUN_NUL, "onboard_customer", t, status="running"),
        event("ev_h6", "intent.declared", RUN_NUL, "onboard_customer", t, intent_id=SUM,
              step="create_contact", action="hubspot.contact.create", system="hubspot",
              expected={"email": "eve.hostile@example.com", "firstname": "Eve"}),
        event("ev_h7", "action.attempted", RUN_NUL, "onboard_customer", t, intent_id=SUM, attempt=1),
        # a contact written with the wrong values: they are formulas
        event("ev_h8", "run.started", "run_hostile_c", "onboard_customer", t, status="running"),
        event("ev_h9", "intent.declared", "run_hostile_c", "onboard_customer", t, intent_id="int_hostile_contact",
              step="create_contact", action="hubspot.contact.create", system="hubspot",
              idempotency_key="idem_hostile_contact",
              expected={"email": "mallory.hostile@example.com", "firstname": "Mallory", "lastname": "Smith"}),
        event("ev_h10", "action.attempted", "run_hostile_c", "onboard_customer", t,
              intent_id="int_hostile_contact", attempt=1),
        event("ev_h11", "action.succeeded", "run_hostile_c", "onboard_customer", t,
              intent_id="int_hostile_contact", receipt={"external_id": "990001"}),
        # an email that bounced with a formula as its reason
        event("ev_h12", "intent.declared", "run_hostile_c", "onboard_customer", t, intent_id="int_hostile_mail",
              step="send_welcome", action="sendgrid.message.send", system="sendgrid",
              expected={"email": "mallory.hostile@example.com", "category": "welcome"}),
        event("ev_h13", "action.attempted", "run_hostile_c", "onboard_customer", t,
              intent_id="int_hostile_mail", attempt=1),
        event("ev_h14", "action.succeeded", "run_hostile_c", "onboard_customer", t,
              intent_id="int_hostile_mail", receipt={"external_id": "msgHostile1"}),
    ]
    contact = {
        "id": "990001", "archived": False, "createdAt": later, "updatedAt": later,
        "properties": {"email": "mallory.hostile@example.com", "firstname": HYPERLINK, "lastname": CMD,
                       "jobtitle": MINUS, "reckon_intent_id": "int_hostile_contact", "note": "a\u0000b"},
        "propertiesWithHistory": {"firstname": [{"value": HYPERLINK, "timestamp": later,
                                                 "sourceType": "INTEGRATION", "sourceId": "reckon-agent"}]},
    }
    stamp = int((export_time - timedelta(hours=5)).timestamp())
    bounce = [
        {"email": "mallory.hostile@example.com", "event": "processed", "timestamp": stamp,
         "sg_event_id": "sg_h1", "sg_message_id": "msgHostile1.filter", "category": "welcome",
         "reckon_intent_id": "int_hostile_mail", "note": SUM},
        {"email": "mallory.hostile@example.com", "event": "bounce", "timestamp": stamp + 60,
         "sg_event_id": "sg_h2", "sg_message_id": "msgHostile1.filter", "category": "welcome",
         "reason": MINUS, "status": "5.1.1", "reckon_intent_id": "int_hostile_mail", "note": SUM},
    ]
    orphan = refund("re_hostile_orphan", reason=HYPERLINK,
                    metadata={"reckon_intent_id": "int_hostile_orphan", "note": SUM, "memo": CMD})
    return {
        "events/hostile.jsonl": jsonl(*events),
        "hubspot/hostile.json": json.dumps({"results": [contact]}).encode(),
        "sendgrid/hostile.json": json.dumps(bounce).encode(),
        "stripe/hostile.json": page(orphan),
    }


@pytest.fixture(scope="module")
def formula_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("formulas") / "ws"
    export_time = simulate(root, runs=RUNS, seed=SEED).export_time
    ws = hostile_workspace(root, formula_files(export_time))
    audit = run_audit(ws)
    return ws, audit


def test_formula_values_are_audited_as_data(formula_workspace):
    ws, audit = formula_workspace
    subjects = {s for (s,) in query(ws, "SELECT subject_id FROM findings")}
    assert {HYPERLINK, SUM, "int_hostile_contact", "int_hostile_mail", "stripe:re_hostile_orphan"} <= subjects
    plan = (ws.exports / f"repair-plan-{audit['audit_id']}.jsonl").read_text(encoding="utf-8")
    actions = [json.loads(line) for line in plan.splitlines()]
    text = json.dumps(actions)
    for value in (HYPERLINK, CMD, SUM, MINUS):
        assert json.dumps(value)[1:-1] in text  # kept verbatim in the plan: it is data there


def test_operator_csv_neutralizes_formulas(formula_workspace):
    ws, audit = formula_workspace
    (ws.exports / ".operator-queue-stale.csv.999.tmp").write_text("half")
    with database.connect(ws) as con:
        path = export_operator_queue_csv(con, ws.exports)
    assert path == ws.exports / f"operator-queue-{audit['audit_id']}.csv"
    assert not list(ws.exports.glob(".operator-queue-*"))  # stale temp files are gone

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    text = raw.decode("utf-8-sig")
    assert "\x00" not in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert header[:10] == ["finding_id", "mismatch_type", "subject_id", "workflow", "system", "pattern",
                           "duplicate_risk", "explanation", "recommended_next_action", "field_diff"]
    assert body and all(len(r) == len(header) for r in body)
    # no cell can start a formula
    assert not [c for r in rows for c in r if c.startswith(FORMULA_PREFIXES)]
    cells = {c for r in body for c in r}
    assert "'" + HYPERLINK in cells and "'" + SUM in cells  # the run id and the intent id
    assert "run_hostile_b\\0x" in cells  # a NUL, shown as \0
    # the raw text, as a spreadsheet reads it: the formula is quoted, its quotes doubled
    assert "'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")" in text
    assert '\n=' not in text.replace("\r\n", "\n") and ',=' not in text and ',"=' not in text
    for prefix in ("+", "-", "@"):
        assert f",{prefix}" not in text and f',"{prefix}' not in text
    by_subject = {r[2]: dict(zip(header, r, strict=True)) for r in body}
    drift = by_subject["int_hostile_contact"]["field_diff"]
    assert drift.startswith("[") and '"observed": "=***"' in drift  # a name, masked; inside JSON
    # personal data is masked by default
    assert "mallory.hostile@example.com" not in text and "Mallory" not in text

    with database.connect(ws) as con:
        unmasked = export_operator_queue_csv(con, ws.exports, unmask=True).read_text(encoding="utf-8-sig")
    assert "Mallory" in unmasked and "HYPERLINK" in unmasked
    assert not [c for r in csv.reader(io.StringIO(unmasked, newline="")) for c in r
                if c.startswith(FORMULA_PREFIXES)]


@pytest.mark.parametrize("value", [
    "=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", HYPERLINK, CMD, SUM, MINUS,
])
def test_neutralize_quotes_every_formula_prefix(value):
    assert neutralize(value) == "'" + value


def test_neutralize_leaves_text_and_bounds_cells():
    assert neutralize("int_123") == "int_123"
    assert neutralize("a=b") == "a=b"
    assert neutralize("a\x00b") == "a\\0b"
    long = neutralize("=" + "x" * 100_000)
    assert long.startswith("'=") and len(long) <= 32_001 and long.endswith("[truncated]")


def _fuzzed_cell(rng: random.Random) -> str | None:
    parts = ["int_1", "a=b", "Priya", " ", "\x00", "@", "mallory@example.com", "x@y", "é", "\n", '"', ",",
             *FORMULA_PREFIXES, '[{"field": "firstname", "intended": "Priya", "observed": "=Mallory"}]', "{", "]"]
    if rng.random() < 0.1:
        return None
    text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 6)))
    return text + "x" * 32_000 if rng.random() < 0.02 else text


@pytest.mark.parametrize("mask", [Masker(), Masker(unmask=True), Masker(names=["Priya"])],
                         ids=["masked", "unmasked", "names"])
def test_the_queue_columns_equal_their_cells_one_by_one(mask):
    """The export picks out, at C speed, the cells it may write as they are; every other
    goes through `written_cell`. Fuzzed cells (emails, NULs, formula prefixes, JSON, long text,
    NULL) come out exactly as `written_cell` makes each one."""
    rng = random.Random(7)
    values = [_fuzzed_cell(rng) for _ in range(3_000)]
    for column in COLUMNS:
        assert written_column(column, pa.array(values, pa.string()), mask) == [
            "" if v is None else written_cell(column, v, mask) for v in values]


def test_emails_are_masked_as_the_plain_pattern_masks_them():
    """The linear search finds exactly the matches `EMAIL.sub` finds, on fuzzed text dense
    in local-part characters, `@`, dots and matches that touch."""
    rng = random.Random(11)
    alphabet = ["a", "Z", "0", ".", "_", "%", "+", "-", "@", " ", ",", "é", "b.co", "x@y.io"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert mask_text(text) == EMAIL.sub(lambda m: mask_email(m.group(0)), text), text


@pytest.mark.parametrize(("cell", "masked"), [
    ("x@y " + "a" * 200_000, None),  # a long run after an address with one label: no email
    ("a" * 200_000 + "@", None),  # a long run whose `@` has no domain
    ("@" + "a" * 200_000, None),  # a domain of one label
    ("a@b.co_" * 30_000, mask_email("a@b.co") + mask_email("_a@b.co") * 29_999 + "_"),  # matches that touch
], ids=["run", "no-domain", "one-label", "touching"])
def test_a_hostile_cell_is_masked_in_linear_time(cell, masked):
    """The plain pattern tries every position of the run: 0.98 s at 32,000 characters, four
    times that at twice the length; these runs are 200,000 long."""
    with within(5):
        assert mask_text(cell) == (cell if masked is None else masked)
