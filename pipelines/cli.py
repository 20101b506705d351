"""`reckon`, the command line on top of everything: audit a workspace (the Dagster job,
in-process), write its report, generate demo data, execute a repair plan, run the rule
fixtures.

Exit codes: 0 done; 1 the audit failed (an unexpected error, a required source with no
landing file), a rule fixture failed, or an executed action failed or has an unknown
outcome; 2 bad usage, a missing workspace folder, an invalid reckon.yaml or plan, an unknown
audit id; 3 another audit (or executor) held the lock past the timeout; 4 a blocking check
stopped the audit before its repair plan (docs/cli.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from reckon import database
from reckon.config import ConfigError
from reckon.locking import DEFAULT_TIMEOUT
from reckon.workspace import DEFAULT_WORKSPACE, Workspace

if TYPE_CHECKING:
    import dagster as dg

DEMO_MARKER = ".reckon-demo"
DAGSTER_FOLDER = ".dagster"  # the workspace's own Dagster instance, unless $DAGSTER_HOME is set
# Reckon prints its own progress and failure lines; Dagster's console says only what is worse.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
OK, FAILED, BAD_INPUT, BUSY, BLOCKED = 0, 1, 2, 3, 4
# Errors raised inside the job, by class name (Dagster hands them back serialized).
EXIT_CODES = {"ConfigError": BAD_INPUT, "WorkspaceBusy": BUSY, "AuditBlocked": BLOCKED, "PlanError": BAD_INPUT,
              "MissingCredentials": BAD_INPUT}


class MissingWorkspace(LookupError):
    """The workspace folder does not exist."""


def open_workspace(root: Path) -> Workspace:
    if not root.is_dir():
        raise MissingWorkspace(f"workspace folder {root} does not exist (pass --workspace, or create one with "
                               "`reckon simulate --workspace DIR`)")
    return Workspace.open(root)


@contextlib.contextmanager
def progress(quiet: bool) -> Iterator[None]:
    """One stderr line per audit step while inside, unless `quiet`."""
    from pipelines.steps import add_hook, progress_hook

    undo = (lambda: None) if quiet else add_hook(progress_hook())
    try:
        yield
    finally:
        undo()


def dagster_instance(ws: Workspace) -> dg.DagsterInstance:
    """The instance that keeps the CLI's audit runs: $DAGSTER_HOME's when set, else the
    workspace's own in `<workspace>/.dagster`, which `dagster dev` shows with
    DAGSTER_HOME=<workspace>/.dagster."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    home = ws.root / DAGSTER_FOLDER
    home.mkdir(exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():  # else Dagster prints its telemetry notice amid the audit's output
        settings.write_text("# The Dagster instance of this workspace's audits (`reckon audit`); see docs/cli.md.\n"
                            "telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


def _job_error(result: dg.ExecuteInProcessResult) -> tuple[int, str]:
    """The exit code and message of a failed run: the blocking checks that stopped it, else
    the first error raised in our code (a step's, or a resource's such as the lock's)."""
    import dagster as dg

    from reckon.input_gate import BLOCKED_ADVICE

    blocked = [e.description or f"{e.asset_key.to_user_string()}: check {e.check_name} failed"
               for e in result.get_asset_check_evaluations()
               if e.blocking and not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    if blocked:
        return BLOCKED, f"{'; '.join(blocked)}. {BLOCKED_ADVICE}"
    error = next((e.step_failure_data.error for e in result.all_events if e.is_step_failure), None)
    if error is None:
        error = next((e.event_specific_data.error for e in result.all_events
                      if e.event_type == dg.DagsterEventType.RUN_FAILURE and e.event_specific_data.error), None)
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    if not chain:
        return FAILED, "the Dagster run failed"
    known = next((e for e in chain if e.cls_name in EXIT_CODES), None)
    if known:
        return EXIT_CODES[known.cls_name], known.message.split(": ", 1)[-1].strip()
    return FAILED, chain[-1].to_string().strip()


def audit(root: Path, quiet: bool = False, lock_timeout: float = DEFAULT_TIMEOUT) -> int:
    """Run the Dagster audit job in-process, recorded in the workspace's Dagster instance
    (or $DAGSTER_HOME's), then print the summary. With `policies.buckets` > 1: the audit in
    buckets' runs, one after another, every bucket's pass in this process."""
    from pipelines.buckets import audit_runs
    from pipelines.definitions import AUDIT_JOB, build_definitions
    from pipelines.steps import audit_steps
    from reports.summary import summary_text

    ws = open_workspace(root)  # validate reckon.yaml before starting Dagster
    started = time.perf_counter()
    defs = build_definitions(str(ws.root), lock_timeout)
    buckets = ws.config.policies.buckets
    runs = audit_runs(audit_steps(ws.config, buckets), buckets) if buckets > 1 else [(AUDIT_JOB, None)]
    with dagster_instance(ws) as instance, progress(quiet):
        for job, partition in runs:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, run_config=QUIET_LOGS, raise_on_error=False, partition_key=partition)
            if not result.success:
                break
    if not result.success:
        code, detail = _job_error(result)
        print(f"reckon: audit {'stopped' if code == BLOCKED else 'failed'}: {detail}", file=sys.stderr)
        return code
    with database.connect_read_copy(ws) as con:
        audit_id, findings, actions, quarantined, as_of = con.execute(
            "SELECT audit_id, findings, repair_actions, quarantined, as_of FROM audits "
            "WHERE audit_id = (SELECT audit_id FROM audit_context)"
        ).fetchone()
        print(f"# reckon audit {audit_id} (as of {as_of:%Y-%m-%d %H:%M:%S} UTC)\n")
        print(summary_text(con))
    print(f"\n{findings} findings, {actions} repair actions, {quarantined} quarantined records "
          f"({time.perf_counter() - started:.1f} s)")
    print("\nOutputs:")
    print(f"  analyst database  {ws.database}")
    print(f"  repair plan       {ws.exports / f'repair-plan-{audit_id}.jsonl'} (+ .parquet)")
    print(f"  report            {ws.exports / f'report-{audit_id}.html'} (personal data masked)")
    print(f"  snapshots         {ws.snapshots}")
    print(f"  analyst copy      {ws.root / database.READ_COPY} (open it while audits run)")
    return 0


def report(root: Path, audit_id: str | None, unmask: bool) -> int:
    from reports.html import write_report

    path = write_report(open_workspace(root), audit_id=audit_id, unmask=unmask)
    print(f"report written to {path}" + (" (UNMASKED: personal data visible)" if unmask else ""))
    return 0


def simulate(root: Path, runs: int, seed: int) -> int:
    from simulator import simulate as generate

    result = generate(root, runs=runs, seed=seed)
    (root / DEMO_MARKER).write_text("generated by `reckon simulate`; `reckon demo` may replace it\n")
    print(f"simulated {runs} runs (seed {seed}) into {root}; labels: {result.labels_path}")
    return 0


def demo(root: Path, runs: int, seed: int, days: int = 3, quiet: bool = False, live: bool = False) -> int:
    """Generate a fresh demo workspace and audit it once per simulated day: day 1 is the
    simulation; each later day a small executor applies part of the previous plan and the
    world moves on (`simulator.timeline`). With `live`, then the loop against mock vendor
    APIs: verify, execute the approved part of the plan, audit again (pipelines/demo_live.py).
    Every audit but the last runs in-process (`run_audit`, the job's steps without the
    orchestrator), the last one by the Dagster job. Prints one lifecycle line per audit and
    the full summary of the last one."""
    import io

    from pipelines.demo_live import audit_line, live_loop
    from pipelines.runner import run_audit
    from simulator.timeline import advance, timeline_path

    if days < 1:
        print(f"reckon: --days must be at least 1, got {days}", file=sys.stderr)
        return 2
    if root.exists() and any(root.iterdir()):
        if not (root / DEMO_MARKER).exists():
            print(f"reckon: {root} holds data that `reckon demo` did not make; choose another --workspace",
                  file=sys.stderr)
            return 2
        shutil.rmtree(root)
    simulate(root, runs, seed)
    report = io.StringIO()

    def final_audit() -> int:
        with contextlib.redirect_stdout(report):
            return audit(root, quiet)

    for day in range(1, days + 1):
        if day > 1:
            print(advance(root, day, seed).summary())
        if day < days or live:
            with progress(quiet):
                run_audit(Workspace.open(root))
        elif code := final_audit():
            print(report.getvalue(), end="")
            return code
        print(audit_line(Workspace.open(root), f"day {day}"))
    if days > 1:
        print(f"expected lifecycle facts: {timeline_path(root)}")
    if live and (code := live_loop(root, final_audit)):
        print(report.getvalue(), end="")
        return code
    print()
    print(report.getvalue(), end="")
    return 0


def execute(root: Path, plan: Path, apply: bool, only: str | None, limit: int | None,
            lock_timeout: float) -> int:  # fmt: skip
    """Dry-run (or `--apply`) a repair plan: one line per action, then the counts."""
    from executor import execute as run_plan

    if limit is not None and limit < 0:
        print(f"reckon: --limit must be 0 or more, got {limit}", file=sys.stderr)
        return BAD_INPUT
    report = run_plan(open_workspace(root), plan, apply=apply, only=only, limit=limit, lock_timeout=lock_timeout)
    counts = ", ".join(f"{verdict} {n}" for verdict, n in sorted(report.counts().items()))
    print(f"{'applied' if apply else 'dry run (nothing done; --apply acts)'}: {len(report.outcomes)} actions"
          + (f": {counts}" if counts else ""))
    return FAILED if report.failed else OK


def verify(root: Path, finding_id: str | None, run_id: str | None, quiet: bool, lock_timeout: float) -> int:
    """Re-read the open findings' objects live, store them, re-audit (pipelines/verify.py)."""
    from pipelines.verify import report, verify_and_audit

    ws = open_workspace(root)
    with progress(quiet):
        result, audited = verify_and_audit(ws, finding_id, run_id, lock_timeout=lock_timeout)
    return report(ws, result, audited)


def rules_test() -> int:
    from reckon.rule_cases import run_all

    results = run_all()
    for r in results:
        mark = "ok  " if r.passed else "FAIL"
        print(f"{mark} {r.rule}: {r.case}")
        if not r.passed:
            print(f"       expected {r.expected}\n       got      {r.actual}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reckon", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, helptext: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=helptext, description=helptext, formatter_class=DefaultsShown)
        p.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE, help="the workspace folder")
        return p

    quiet = "no progress lines on stderr (one per audit step: rows, elapsed time, ingest rate)"
    p = command("audit", "audit a workspace of exports (runs the Dagster job in-process)")
    p.add_argument("--quiet", action="store_true", help=quiet)
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="how long to wait for another audit of the workspace to finish (then exit code 3)")
    for name, helptext in (("simulate", "write a labelled demo workspace"),
                           ("demo", "simulate, then audit it over several simulated days")):
        p = command(name, helptext)
        p.add_argument("--runs", type=int, default=120, help="workflow runs to simulate")
        p.add_argument("--seed", type=int, default=7, help="random seed (the same seed gives the same data)")
    sub.choices["demo"].add_argument("--days", type=int, default=3, help="simulated days, one audit each")
    sub.choices["demo"].add_argument("--quiet", action="store_true", help=quiet)
    sub.choices["demo"].add_argument("--live", action="store_true",
                                     help="then verify and execute the plan against mock vendor APIs on 127.0.0.1, "
                                          "and audit again")
    p = command("report", "write the HTML report of an audit")
    p.add_argument("--audit", dest="audit_id", default=None, help="the audit's id (default: the newest audit)")
    p.add_argument("--unmask", action="store_true", help="show personal data (emails, names) unmasked")
    p = command("execute", "dry-run a repair plan (what it would do and why); --apply carries it out")
    p.add_argument("--plan", type=Path, required=True, help="the plan file (exports/repair-plan-<audit_id>.jsonl)")
    p.add_argument("--apply", action="store_true", help="act (otherwise nothing is written or sent)")
    p.add_argument("--only", metavar="PATTERN", help="only actions whose pattern or mismatch type matches this glob")
    p.add_argument("--limit", type=int, metavar="N", help="at most N actions (after --only)")
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="how long to wait for another executor on the workspace (then exit code 3)")
    p = command("verify", "re-read the open findings' objects through the vendors' APIs, then re-audit")
    p.add_argument("--finding", dest="finding_id", default=None, help="only this finding (default: every open one)")
    p.add_argument("--run", dest="run_id", default=None, help="only this run's findings (default: every run)")
    p.add_argument("--quiet", action="store_true", help=quiet)
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="how long to wait for an audit of the workspace to finish (then exit code 3)")
    rules = sub.add_parser("rules", help="rule tools").add_subparsers(dest="rules_command", required=True)
    rules.add_parser("test", help="run every rule's given/expect fixtures")
    args = parser.parse_args(argv)
    try:
        if args.command == "audit":
            return audit(args.workspace, args.quiet, args.lock_timeout)
        if args.command == "simulate":
            return simulate(args.workspace, args.runs, args.seed)
        if args.command == "report":
            return report(args.workspace, args.audit_id, args.unmask)
        if args.command == "demo":
            return demo(args.workspace, args.runs, args.seed, args.days, args.quiet, args.live)
        if args.command == "execute":
            return execute(args.workspace, args.plan, args.apply, args.only, args.limit, args.lock_timeout)
        if args.command == "verify":
            return verify(args.workspace, args.finding_id, args.run_id, args.quiet, args.lock_timeout)
        return rules_test()
    except ConfigError as exc:
        print(f"reckon: invalid configuration: {exc}", file=sys.stderr)
        return BAD_INPUT
    except LookupError as exc:  # no such workspace, audit, or no audit yet
        print(f"reckon: {exc}", file=sys.stderr)
        return BAD_INPUT
    except Exception as exc:  # the demo's in-process audits raise what the job reports
        if type(exc).__name__ not in EXIT_CODES:
            raise
        print(f"reckon: {exc}", file=sys.stderr)
        return EXIT_CODES[type(exc).__name__]


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help says it in words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if "(default:" in (action.help or "") else super()._get_help_string(action)


def _version() -> str:
    try:
        return version("reckon")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
