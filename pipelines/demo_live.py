"""The demo's live loop (`reckon demo --live`, what `make demo` runs): after the simulated
days, the vendors come alive as mock APIs on 127.0.0.1, seeded from the workspace
(simulator/vendor_api), and the loop closes:

1. the world moves on at a vendor: a refund still pending settles;
2. verify: the open findings' objects are re-read through the APIs, then re-audited;
3. execute: an operator approves the plan's low-risk calls (`approvals/demo-<audit>.jsonl`)
   and `reckon execute --apply` carries out the plan against the APIs;
4. the vendors' state is exported as new landing files, and the workspace audited again.

Each step prints what it changed. Everything is dated in the simulated world's time (the
mock vendors' clock), as the simulated days are.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from executor import execute
from executor.plan import load_plan
from pipelines.verify import report as verify_report
from pipelines.verify import verify_and_audit
from reckon import database
from reckon.workspace import Workspace
from simulator.vendor_api import VendorServer, export_landing, from_workspace

TOKEN_ENV = "RECKON_DEMO_VENDOR_TOKEN"  # the mock vendors take any token; real keys stay unused
OPERATOR = "ops.demo"


def audit_line(ws: Workspace, label: str) -> str:
    """One line on the workspace's latest audit: its findings and what became of them."""
    with database.connect_read_copy(ws) as con:
        audit_id, findings, as_of = con.execute(
            "SELECT audit_id, findings, as_of FROM audits WHERE audit_id = (SELECT audit_id FROM audit_context)"
        ).fetchone()
        # Resolved counts only what this audit resolved (a finding closed by an earlier
        # decision is reported again while it holds, unchanged).
        counts = dict(con.execute(
            "SELECT coalesce(status || ' ' || resolution, status), count(*) FROM lifecycle_events "
            "WHERE audit_id = ? AND (status <> 'resolved' OR changed) GROUP BY ALL",
            [audit_id]).fetchall())  # fmt: skip
    resolved = {k.split(" ")[1]: n for k, n in counts.items() if k.startswith("resolved ")}
    return (f"{label} audit {audit_id} as of {as_of:%Y-%m-%d %H:%M} UTC: {findings} findings; "
            f"new {counts.get('new', 0)} · ongoing {counts.get('ongoing', 0)} · regressed {counts.get('regressed', 0)} · "
            f"resolved {sum(resolved.values())}"
            + (f" ({', '.join(f'{k} {n}' for k, n in sorted(resolved.items()))})" if resolved else ""))  # fmt: skip


def live_loop(root: Path, final_audit: Callable[[], int]) -> int:
    """Run the loop on an audited demo workspace; `final_audit` audits it the last time."""
    os.environ.setdefault(TOKEN_ENV, "demo")
    with from_workspace(root, hard_timeout=900) as server:
        _point_apis_at(root, server)
        ws = Workspace.open(root)
        server.advance(3600)
        settled = _settle_a_pending_refund(ws, server)
        print(f"live  vendors   mock APIs on {server.url}, {server.now:%Y-%m-%d %H:%M} UTC"
              + (f"; refund {settled} settled since the audit" if settled else ""))  # fmt: skip
        result, audited = verify_and_audit(ws)
        with _indented(skip="ongoing "):  # what verify changed, not every finding it re-read
            verify_report(ws, result, audited)
        print(audit_line(ws, "live  verify  "))
        plan = ws.exports / f"repair-plan-{_latest_audit(ws)}.jsonl"
        approved = _approve(ws, plan, server.now)
        server.advance(600)
        out = io.StringIO()
        report = execute(ws, plan, apply=True, out=out, clock=lambda: server.now)
        applied = Counter(o.action["pattern"] for o in report.outcomes if o.verdict == "applied")
        verdicts = ", ".join(f"{v} {n}" for v, n in sorted(report.counts().items()))
        print(f"live  execute   {OPERATOR} approved {approved} low-risk calls; {plan.name}: {verdicts}"
              + (f" (applied: {', '.join(f'{p} {n}' for p, n in sorted(applied.items()))})" if applied else ""))  # fmt: skip
        print(
            f"                vendor effects {sum(server.effects.values())}, ledger {ws.root / 'executor' / 'ledger.jsonl'}"
        )
        server.advance(600)
        _stamp(ws.root / "landing" / "executor", server.now)
        files = export_landing(server, ws.root, "live", at=server.now)
    print(
        f"live  export    {len(files)} new landing files (the vendors' state), feedback events in landing/executor/"
    )
    code = final_audit()
    if code == 0:
        print(audit_line(Workspace.open(root), "live  re-audit"))
    return code


def _point_apis_at(root: Path, server: VendorServer) -> None:
    """Give every system of the demo's reckon.yaml an `api` on the mock vendors (a line
    under the system's name, so that the file keeps its comments)."""
    path = root / "reckon.yaml"
    names = Workspace.open(root).config.systems
    api = f'    api: {{base_url: "{server.url}", credentials_env: {TOKEN_ENV}, rate_per_second: 1000, burst: 1000}}\n'
    text, n = re.subn(rf"^  ({'|'.join(map(re.escape, names))}):\n", lambda m: m.group(0) + api,
                      path.read_text(encoding="utf-8"), flags=re.MULTILINE)  # fmt: skip
    if n != len(names):
        raise ValueError(f"{path}: found {n} of the {len(names)} systems to give an api")
    path.write_text(text, encoding="utf-8")


def _settle_a_pending_refund(ws: Workspace, server: VendorServer) -> str | None:
    """A refund the plan waits on (`wait_and_verify`) succeeds at Stripe, with no repair."""
    plan = ws.exports / f"repair-plan-{_latest_audit(ws)}.jsonl"
    for action in load_plan(plan):
        refund = server.state.refunds.get(action["target_external_id"] or "")
        if action["pattern"] == "wait_and_verify" and refund and refund["status"] == "pending":
            server.edit("stripe", refund["id"], {"status": "succeeded"})
            return refund["id"]
    return None


def _approve(ws: Workspace, plan: Path, at: datetime) -> int:
    """The operator approves every low-risk call of the plan (forward completions, compensations)."""
    chosen = [a for a in load_plan(plan)
              if a["requires_approval"] and a["touches_external_system"] and a["duplicate_risk"] == "low"]  # fmt: skip
    folder = ws.root / "approvals"
    folder.mkdir(exist_ok=True)
    lines = [json.dumps({"action_id": a["action_id"], "approved_by": OPERATOR, "note": "demo: low duplicate risk",
                         "approved_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}) for a in chosen]  # fmt: skip
    (folder / f"demo-{plan.stem.removeprefix('repair-plan-')}.jsonl").write_text(
        "".join(f"{x}\n" for x in lines)
    )
    return len(chosen)


def _latest_audit(ws: Workspace) -> str:
    with database.connect_read_copy(ws) as con:
        return con.execute("SELECT audit_id FROM audit_context").fetchone()[0]


def _stamp(folder: Path, at: datetime) -> None:
    """The feedback files dated when the simulated executor wrote them (their export time)."""
    for path in folder.glob("*.jsonl"):
        os.utime(path, (at.timestamp(), at.timestamp()))


@contextlib.contextmanager
def _indented(skip: str) -> Iterator[None]:
    """What the block prints, indented under the loop's lines, but its lines starting `skip`."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    for line in buffer.getvalue().splitlines():
        if line and not line.lstrip().startswith(skip):
            print(f"                {line}")
