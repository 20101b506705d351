"""`reckon verify`: a simulated, audited workspace; mock vendors seeded from it; one object
changes on the vendor's side; the live read stores a snapshot observed at the vendor's
`Date`, and the re-audit resolves the finding it healed while the others keep their ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from connectors.live.transport import VENDORS
from pipelines import cli
from pipelines.runner import run_audit
from pipelines.verify import verify_and_audit
from reckon.config import ConfigError, load_config
from reckon.snapshots import list_snapshots
from reckon.workspace import Workspace
from simulator import simulate
from simulator.vendor_api import export_landing, from_workspace
from tests.test_vendor_api import FakeClock

DEMO = Path(__file__).resolve().parents[1] / "simulator" / "reckon.yaml"
SECRETS = {"STRIPE_API_KEY": "sk_test_7Hx2SECRETstripe", "SENDGRID_API_KEY": "SG.SECRETsendgrid.9q",
           "HUBSPOT_ACCESS_TOKEN": "pat-na1-SECREThubspot-44", "ZENDESK_OAUTH_TOKEN": "zd-SECRET-zendesk-81"}  # fmt: skip
TOKENS = {"stripe": SECRETS["STRIPE_API_KEY"], "sendgrid": SECRETS["SENDGRID_API_KEY"],
          "hubspot": SECRETS["HUBSPOT_ACCESS_TOKEN"], "zendesk": SECRETS["ZENDESK_OAUTH_TOKEN"]}  # fmt: skip


@pytest.fixture
def live(tmp_path, monkeypatch):
    """(workspace, server): a simulated workspace after one audit, its vendors on loopback,
    and reckon.yaml pointing every system's API at them."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "ws"
    simulate(root, runs=60, seed=7)
    run_audit(Workspace.open(root))
    with from_workspace(root, credentials=TOKENS, hard_timeout=240) as server:
        config = yaml.safe_load((root / "reckon.yaml").read_text())
        for name, system in config["systems"].items():
            env = next(k for k, v in SECRETS.items() if v == TOKENS[name])
            system["api"] = {
                "base_url": server.url,
                "credentials_env": env,
                "rate_per_second": 1000,
                "burst": 1000,
            }
        (root / "reckon.yaml").write_text(yaml.safe_dump(config))
        yield Workspace.open(root), server


def query(ws: Workspace, sql: str, params: list | None = None) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(ws.root / "reckon-read.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def open_findings(ws: Workspace) -> set[str]:
    return {row[0] for row in query(ws, "SELECT finding_id FROM open_findings")}


def pending_refund(ws: Workspace) -> tuple[str, str, str, str]:
    """(finding, intent, run, refund) of an unknown outcome whose refund Stripe shows pending."""
    rows = query(ws, "SELECT f.finding_id, f.subject_id, f.run_id, s.external_id FROM open_findings f "
                     "JOIN intent_state s ON s.intent_id = f.subject_id "
                     "WHERE f.mismatch_type = 'unknown_outcome' AND s.raw_status = 'pending' ORDER BY 1")  # fmt: skip
    assert rows, "the simulation has a pending refund (scenario F13)"
    return rows[0]


def test_a_refund_that_succeeded_resolves_its_finding(live):
    ws, server = live
    finding, intent, run, refund = pending_refund(ws)
    before = open_findings(ws)
    server.advance(300)
    server.edit("stripe", refund, {"status": "succeeded"})

    result, audit = verify_and_audit(ws, clock=FakeClock())

    stripe = result.systems["stripe"]
    snap = stripe.snapshot
    assert snap.origin == "live" and snap.source == "stripe_refunds"
    assert snap.observed_at == server.now.isoformat()  # the vendor's Date, not the wall clock
    manifest = json.loads((snap.folder / "_manifest.json").read_text())
    assert manifest["origin"] == "live" and manifest["files"][0]["path"].startswith(
        "live/stripe_refunds/"
    )
    assert query(
        ws,
        "SELECT origin, observed_at FROM cfg_snapshots WHERE snapshot_id = ?",
        [snap.snapshot_id],
    ) == [("live", server.now)]
    # A live read proves no absence: system freshness still comes from the exports.
    assert query(
        ws,
        "SELECT newest_observed_at < ? FROM system_freshness WHERE system = 'stripe'",
        [server.now],
    ) == [(True,)]
    assert query(
        ws,
        "SELECT raw_status, snapshot_id FROM observed WHERE system = 'stripe' AND external_id = ?",
        [refund],
    ) == [("succeeded", snap.snapshot_id)]
    # The finding it healed is resolved; the rest keep their ids.
    assert audit["as_of"] == server.now
    status = query(
        ws,
        "SELECT status, resolution FROM lifecycle_events WHERE audit_id = ? AND finding_id = ?",
        [audit["audit_id"], finding],
    )
    assert status and status[0][0] == "resolved"
    after = open_findings(ws)
    assert finding not in after
    others = {
        f
        for f in before
        if f != finding
        and query(ws, "SELECT run_id FROM findings_history WHERE finding_id = ? LIMIT 1", [f])[0][0]
        != run
    }
    assert others <= after
    # The refund now shows the agent's effect without a receipt.
    assert query(ws, "SELECT mismatch_type FROM findings WHERE subject_id = ?", [intent]) == [
        ("receipt_missing",)
    ]


def test_a_missing_hubspot_field_now_present(live):
    """A partial CRM write: the field the agent's write missed is now there (the agent's
    integration wrote it): the field drift is gone."""
    ws, server = live
    rows = query(ws, "SELECT f.finding_id, s.external_id, s.field_diff FROM open_findings f "
                     "JOIN intent_state s ON s.intent_id = f.subject_id "
                     "WHERE f.mismatch_type = 'field_drift' AND f.system = 'hubspot' ORDER BY 1")  # fmt: skip
    assert rows
    finding, contact, diff = rows[0]
    wanted = {d["system_field"] or d["field"]: d["intended"] for d in json.loads(diff)}
    properties = {name.removeprefix("properties."): value for name, value in wanted.items()}
    server.advance(120)
    server.edit(
        "hubspot",
        contact,
        {"properties": properties},
        by={"sourceType": "INTEGRATION", "sourceId": "reckon-agent"},
    )

    result, audit = verify_and_audit(ws, finding_id=finding, clock=FakeClock())

    assert set(result.systems) == {"hubspot"} and result.findings == [finding]
    assert (
        server.request_count(vendor="hubspot") == 1 and server.request_count() == 1
    )  # one read by id
    assert finding not in open_findings(ws)
    assert query(
        ws,
        "SELECT status FROM lifecycle_events WHERE audit_id = ? AND finding_id = ?",
        [audit["audit_id"], finding],
    ) == [("resolved",)]


def test_finding_and_run_restrict_the_reads(live):
    ws, server = live
    finding, _, run, refund = pending_refund(ws)
    verify_and_audit(ws, finding_id=finding, clock=FakeClock())
    by_finding = list(server.requests)
    assert [(r.vendor, r.method, r.path) for r in by_finding] == [
        ("stripe", "GET", f"/v1/refunds/{refund}")
    ]

    server.requests.clear()
    result, _ = verify_and_audit(ws, run_id=run, clock=FakeClock())
    # Every read names an object or a marker of the run's intents, and only its findings.
    keys = {k for row in query(ws, "SELECT external_id, receipt_external_id, target_key, intent_id, "
                                   "idempotency_key, last_attempt_key FROM intent_state WHERE run_id = ?", [run])
            for k in row if k}  # fmt: skip
    keys |= {k for (k,) in query(ws, "SELECT fields ->> 'sg_message_id' FROM observed WHERE list_contains(?, "
                                     "external_id)", [sorted(keys)]) if k}  # fmt: skip
    by_run = len(server.requests)
    assert by_run >= 1
    for request in server.requests:
        said = request.path + " " + " ".join(v for values in request.query.values() for v in values)
        assert any(k in said for k in keys), request
    run_findings = {
        f for (f,) in query(ws, "SELECT finding_id FROM findings_history WHERE run_id = ?", [run])
    }
    assert result.findings and set(result.findings) <= run_findings

    server.requests.clear()
    verify_and_audit(ws, clock=FakeClock())
    assert len(server.requests) > by_run


def test_the_server_exports_its_state_as_new_landing_files(live):
    """The mock's state back as files: the next ordinary audit sees the change (an export,
    not a live read: the system's freshness moves)."""
    ws, server = live
    finding, _, _, refund = pending_refund(ws)
    server.advance(600)
    server.edit("stripe", refund, {"status": "succeeded"})
    files = export_landing(server, ws.root, "api1")
    assert {f.parent.name for f in files} == set(VENDORS)
    assert all(f.stat().st_mtime == server.now.timestamp() for f in files)
    audit = run_audit(ws)
    assert audit["as_of"] == server.now
    assert query(
        ws, "SELECT raw_status FROM observed WHERE system = 'stripe' AND external_id = ?", [refund]
    ) == [("succeeded",)]
    assert query(ws, "SELECT newest_observed_at FROM system_freshness WHERE system = 'stripe'") == [
        (server.now,)
    ]
    assert finding not in open_findings(ws)


def test_the_same_responses_give_the_same_snapshots_and_audit(live):
    ws, _ = live
    first, audit = verify_and_audit(ws, clock=FakeClock())
    again, audit_again = verify_and_audit(ws, clock=FakeClock())
    assert [s.snapshot_id for s in again.snapshots] == [s.snapshot_id for s in first.snapshots]
    assert audit_again["audit_id"] == audit["audit_id"]
    assert sum(s.origin == "live" for s in list_snapshots(ws)) == len(VENDORS)


def test_the_cli_never_shows_or_stores_a_credential(live, capsys, caplog):
    ws, server = live
    _, _, _, refund = pending_refund(ws)
    server.edit("stripe", refund, {"status": "succeeded"})
    server.inject("status", vendor="sendgrid", status=503, times=1)
    server.inject("status", vendor="zendesk", status=429, retry_after=1)
    code = cli.main(["verify", "--workspace", str(ws.root), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"^stripe: \d+ reads, \d+ objects -> live snapshot snap_", out, re.MULTILINE)
    assert "resolved" in out
    texts = [out, err, caplog.text, *(repr(r) for r in server.requests)]
    assert not [name for name, secret in SECRETS.items() if any(secret in t for t in texts)]
    for path in ws.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [n for n, s in SECRETS.items() if s.encode() in data], path


def test_the_cli_names_an_unknown_finding_and_a_missing_credential(live, capsys, monkeypatch):
    ws, _ = live
    assert cli.main(["verify", "--workspace", str(ws.root), "--finding", "fnd_nope"]) == 2
    assert "no open finding fnd_nope" in capsys.readouterr().err
    monkeypatch.delenv("STRIPE_API_KEY")
    finding = pending_refund(ws)[0]
    assert cli.main(["verify", "--workspace", str(ws.root), "--finding", finding]) == 1
    assert "environment variable STRIPE_API_KEY is not set" in capsys.readouterr().err


# --- reckon.yaml: systems.<name>.api ----------------------------------------------------------


def write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    mutate(data)
    (tmp_path / "reckon.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_api_settings_load_with_the_vendor_of_the_systems_source(tmp_path):
    def mutate(d):
        d["systems"]["stripe"]["api"] = {"base_url": "https://api.stripe.com/", "credentials_env": "STRIPE_KEY",
                                         "timeout": "45s", "max_retries": 2}  # fmt: skip

    api = load_config(write(tmp_path, mutate)).systems["stripe"].api
    assert (api.vendor, api.base_url, api.credentials_env, api.timeout, api.max_retries) == (
        "stripe",
        "https://api.stripe.com",
        "STRIPE_KEY",
        45.0,
        2,
    )
    assert load_config(DEMO.parent).systems["zendesk"].api is None  # not reachable: verify skips it


API = "systems.stripe.api"
BAD_API = [
    ({"base_url": "https://user:pw@api.stripe.com", "credentials_env": "K"}, f"{API}.base_url: must not hold credentials"),
    ({"base_url": "ftp://api.stripe.com", "credentials_env": "K"}, f"{API}.base_url: 'ftp://api.stripe.com' is not an http(s) URL"),
    ({"base_url": "https://api.stripe.com?key=x", "credentials_env": "K"}, f"{API}.base_url: 'https://api.stripe.com?key=x' is not"),
    ({"base_url": "http://[::1", "credentials_env": "K"}, f"{API}.base_url: 'http://[::1' is not an http(s) URL"),
    ({"base_url": "http://x:99999", "credentials_env": "K"}, f"{API}.base_url: 'http://x:99999' is not an http(s) URL"),
    ({"base_url": "https://api.stripe.com"}, f"{API}.credentials_env: required key is missing"),
    ({"base_url": "https://x", "credentials_env": "sk_live_123 456"}, f"{API}.credentials_env: 'sk_live_123 456' is not an environment"),
    ({"base_url": "https://x", "credentials_env": "K", "rate_per_second": 0}, f"{API}.rate_per_second: 0 is out of range"),
    ({"base_url": "https://x", "credentials_env": "K", "burst": True}, f"{API}.burst: expected int, got bool"),
    ({"base_url": "https://x", "credentials_env": "K", "timeout": "1h"}, f"{API}.timeout: '1h' is out of range"),
    ({"base_url": "https://x", "credentials_env": "K", "max_retries": 11}, f"{API}.max_retries: 11 is out of range"),
    ({"base_url": "https://x", "credentials_env": "K", "vendor": "paypal"}, f"{API}.vendor: 'paypal' is not one of"),
    ({"base_url": "https://x", "credentials_env": "K", "token": "x"}, f"{API}.token: unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("api", "message"), BAD_API)
def test_invalid_api_settings_name_the_key(tmp_path, api, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        load_config(write(tmp_path, lambda d: d["systems"]["stripe"].update(api=api)))


def test_a_system_without_a_vendor_source_must_name_its_vendor(tmp_path):
    def mutate(d):  # two vendors' connectors export the system: which API is it?
        d["sources"]["stripe_mail"] = {
            "connector": "sendgrid",
            "system": "stripe",
            "paths": ["landing/x/*.json"],
        }
        d["systems"]["stripe"].update(
            id_form="verbatim", api={"base_url": "https://x", "credentials_env": "K"}
        )

    with pytest.raises(ConfigError, match=re.escape("systems.stripe.api.vendor: required")):
        load_config(write(tmp_path, mutate))
