"""A fast, vectorized workspace generator for the benchmark.

`generate(root, intents, days)` writes a workspace of exactly `intents` intents whose
landing files have the shapes, correlation keys and ids of the labelled simulator
(`simulator/`): the workflow log as JSON Lines, Stripe refund list pages, SendGrid
Event Webhook batches (JSON arrays, custom args top-level), HubSpot CRM v3 contact pages
with `propertiesWithHistory`, Zendesk incremental ticket export pages. It copies
`simulator/reckon.yaml` as the workspace's `reckon.yaml`.

Everything is computed in DuckDB SQL from `range()` with hash-based pseudo-random
choices (no Python loop over records) and written with `COPY`: JSON text is assembled
in SQL and written verbatim, one document per page file. The same arguments give the
same files.

The mix follows the simulator's workflows (refund_order, onboard_customer,
qualify_lead), one observed object per intent, ~4 workflow-log events per intent, a
`fault_share` of runs with one of a handful of faults (receipt missing, attempt lost,
duplicate refund, refund failed, bounced email, field drift, worker died before any
trace, a declared step that never ran), redelivered webhooks and log lines, and
background objects no intent claims (Dashboard refunds, newsletters).

With `days > 1` the runs are spread over `days` days and each day gets its own files
(`landing/events/day-XX-part-YYY.jsonl`, `landing/stripe/day-XX-page-YYY.json`, ...),
holding that day's log and the objects changed that day, with file mtimes set to that
day's export time (23:00 UTC). An audit after day k is simulated by exposing only the
files of days <= k. `first_day` numbers the days (ids stay unique across calls with
non-overlapping day ranges), so a later day can be generated on its own.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from simulator.ids import FIRST_NAMES, LAST_NAMES
from simulator.runs import CONFIG_PATH, catalog
from simulator.world import NEW_TITLES, OLD_TITLES

BASE_DAY = datetime(2026, 10, 1, tzinfo=UTC)  # 00:00 UTC of day 1
RUN_HOURS = 20  # a day's runs start between 00:00 and 20:00
EXPORT_HOUR = 23  # every export of a day is taken at 23:00
PAGE_OBJECTS = 75_000  # objects (or webhook events) per vendor page file
PART_EVENTS = 2_000_000  # workflow-log lines per JSON Lines file (about)
LOG_REPEAT_EVERY = 40  # ~2.5% of log lines written twice (at-least-once delivery)
WEBHOOK_REDELIVER_EVERY = 20  # ~5% of SendGrid events delivered twice
OWNERS = 50  # sales owners that qualify_lead notifies

WORKFLOW_SHARE = (("refund_order", 0.45), ("onboard_customer", 0.25), ("qualify_lead", 0.30))

# Faults per workflow (scenario names; the simulator's recipe in brackets).
FAULTS = {
    "refund_order": ("receipt_missing", "attempt_lost", "duplicate", "refund_failed", "bounce"),
    "qualify_lead": ("field_drift", "no_trace"),
    "onboard_customer": ("silent_welcome", "skipped_step"),  # 3 steps / 2 steps
}

# Event templates of one step: (type, attempt, key, seconds after the step starts,
# receipt object (1: the first effect, 2: the retry's), error).
OK = (("action.attempted", 1, "orig", 0, 0, None), ("action.succeeded", 1, "orig", 3, 1, None))
TIMEOUT = (("action.attempted", 1, "orig", 0, 0, None), ("action.timed_out", 1, "orig", 30, 0, "timeout"))
RETRY = (("action.attempted", 2, "retry", 60, 0, None), ("action.succeeded", 2, "retry", 63, 2, None))
ATTEMPT_ONLY = (("action.attempted", 1, "orig", 0, 0, None),)
NOTHING = ()

# (workflow, scenario) -> (run's final status or None, {step: (events, effect)}).
# Effects: ok, none, failed (refund failed), bounce, dup (two refunds), partial (one
# field of four reached HubSpot), untouched (the customer's ticket stays open).
SCENARIOS: dict[tuple[str, str], tuple[str | None, dict[str, tuple[tuple, str]]]] = {
    ("refund_order", "clean"): ("completed", {
        "issue_refund": (OK, "ok"), "notify_customer": (OK, "ok"), "resolve_ticket": (OK, "ok")}),
    # [F9] timed out, the refund exists, the run asks for reconciliation.
    ("refund_order", "receipt_missing"): ("needs_reconciliation", {
        "issue_refund": (TIMEOUT, "ok"), "notify_customer": (OK, "ok"), "resolve_ticket": (OK, "ok")}),
    # [F14] timed out hours ago, nothing in Stripe, the run failed.
    ("refund_order", "attempt_lost"): ("failed", {
        "issue_refund": (TIMEOUT, "none"), "notify_customer": (NOTHING, "none"),
        "resolve_ticket": (NOTHING, "untouched")}),
    # [F1] the retry after a timeout used a new idempotency key: two refunds.
    ("refund_order", "duplicate"): ("completed", {
        "issue_refund": (TIMEOUT + RETRY, "dup"), "notify_customer": (OK, "ok"),
        "resolve_ticket": (OK, "ok")}),
    # [F4] the refund failed after the call succeeded.
    ("refund_order", "refund_failed"): ("completed", {
        "issue_refund": (OK, "failed"), "notify_customer": (OK, "ok"), "resolve_ticket": (OK, "ok")}),
    # [F5] the confirmation email bounced.
    ("refund_order", "bounce"): ("completed", {
        "issue_refund": (OK, "ok"), "notify_customer": (OK, "bounce"), "resolve_ticket": (OK, "ok")}),
    ("onboard_customer", "clean"): ("completed", {
        "create_contact": (OK, "ok"), "open_ticket": (OK, "ok"), "send_welcome": (OK, "ok")}),
    # [F8] the worker died after sending the welcome email, before its receipt.
    ("onboard_customer", "silent_welcome"): (None, {
        "create_contact": (OK, "ok"), "open_ticket": (OK, "ok"), "send_welcome": (ATTEMPT_ONLY, "ok")}),
    # [F15] the declared open_ticket never ran, yet the run completed.
    ("onboard_customer", "skipped_step"): ("completed", {
        "create_contact": (OK, "ok"), "open_ticket": (NOTHING, "none"), "send_welcome": (OK, "ok")}),
    ("qualify_lead", "clean"): ("completed", {"update_contact": (OK, "ok"), "notify_owner": (OK, "ok")}),
    # [F12] partial write: only hs_lead_status reached HubSpot.
    ("qualify_lead", "field_drift"): ("completed", {
        "update_contact": (OK, "partial"), "notify_owner": (OK, "ok")}),
    # [F10] the worker died mid-call leaving no trace; HubSpot shows the write.
    ("qualify_lead", "no_trace"): (None, {"update_contact": (NOTHING, "ok"), "notify_owner": (NOTHING, "none")}),
}  # fmt: skip

DESCRIPTIONS = {
    "issue_refund": "'refund order ' || order_no || ' in full'",
    "notify_customer": "'email the refund confirmation for order ' || order_no",
    "resolve_ticket": "'mark ticket ' || number || ' solved'",
    "create_contact": "'create the CRM contact for ' || email",
    "open_ticket": "'open the onboarding ticket'",
    "send_welcome": "'send the welcome email'",
    "update_contact": "'qualify lead ' || email || ' and assign owner ' || owner_id",
    "notify_owner": "'tell owner ' || owner_id || ' about the new lead'",
}

# Id namespaces: a 48-bit input kind<<45 | day offset<<38 | index, mapped bijectively.
KIND_INTENT, KIND_IDEM, KIND_IDEM_RETRY, KIND_REFUND, KIND_REFUND_RETRY, KIND_MESSAGE, KIND_NUMBER, KIND_BACKGROUND = range(8)


@dataclass
class GenerateResult:
    root: Path
    intents: int
    runs: int
    days: int
    first_day: int
    seconds: float
    cpu_seconds: float = 0.0  # user + system of the generating process (all DuckDB threads)
    scenarios: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # landing records per source
    bytes: dict[str, int] = field(default_factory=dict)  # landing bytes per source
    files: dict[str, list[str]] = field(default_factory=dict)  # day -> files (relative)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per generator phase

    def to_json(self) -> dict:
        out = asdict(self)
        out["root"] = str(self.root)
        return out


# What an audit must find, per (workflow:scenario) run count: the simulator's labels for
# the same recipes (TAXONOMY.md's rules and precedence applied by hand).
EXPECTED_FINDINGS: dict[str, tuple[str, ...]] = {
    "intent:duplicate_effect": ("refund_order:duplicate",),
    "intent:effect_failed": ("refund_order:refund_failed", "refund_order:bounce"),
    "intent:receipt_missing": ("refund_order:receipt_missing", "onboard_customer:silent_welcome",
                               "qualify_lead:no_trace"),
    "intent:attempt_lost": ("refund_order:attempt_lost",),
    "intent:field_drift": ("qualify_lead:field_drift",),
    "intent:missing_step": ("onboard_customer:skipped_step", "qualify_lead:no_trace"),
    "run:false_completion": ("refund_order:duplicate", "refund_order:refund_failed", "refund_order:bounce",
                             "qualify_lead:field_drift", "onboard_customer:skipped_step"),
    "run:stale_run_status": ("refund_order:receipt_missing", "onboard_customer:silent_welcome"),
    "run:stuck_run": ("qualify_lead:no_trace",),
}


def expected_findings(scenarios: dict[str, int]) -> dict[str, int]:
    """`subject_kind:mismatch_type` -> count an audit of the generated workspace must report."""
    out = {kind: sum(scenarios.get(s, 0) for s in sources) for kind, sources in EXPECTED_FINDINGS.items()}
    return {kind: n for kind, n in out.items() if n}


SOURCE_DIRS = {"workflow_log": "events", "stripe_refunds": "stripe", "sendgrid_events": "sendgrid",
               "hubspot_contacts": "hubspot", "zendesk_tickets": "zendesk"}  # fmt: skip


def export_time(day: int) -> datetime:
    return BASE_DAY + timedelta(days=day - 1, hours=EXPORT_HOUR)


def generate(
    root: Path,
    intents: int,
    days: int = 1,
    seed: int = 0,
    fault_share: float = 0.05,
    *,
    first_day: int = 1,
    page_objects: int = PAGE_OBJECTS,
    part_events: int = PART_EVENTS,
    memory_limit: str = "6GB",
    threads: int = 2,
) -> GenerateResult:
    """Write a workspace of exactly `intents` intents over `days` days into `root`."""
    if intents < 2:
        raise ValueError(f"intents must be >= 2, got {intents}")
    if days < 1 or first_day < 1 or first_day + days - 1 > 127:
        raise ValueError("days must be >= 1 and the last day <= 127")
    if not 0 <= fault_share <= 1:
        raise ValueError("fault_share must be within [0, 1]")
    started, cpu = time.perf_counter(), _cpu()
    root = Path(root).resolve()
    landing = root / "landing"
    for folder in SOURCE_DIRS.values():
        (landing / folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG_PATH, root / "reckon.yaml")
    scratch = root.parent / f".{root.name}.gen"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    con = duckdb.connect()  # in memory; spills to `scratch` beyond memory_limit
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET temp_directory = '{scratch / 'tmp'}'")
        gen = _Generator(con, root, intents, days, seed, fault_share, first_day, page_objects, part_events)
        result = gen.run()
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = _cpu() - cpu
    (root.parent / f"{root.name}.bench.json").write_text(json.dumps(result.to_json(), indent=2, sort_keys=True))
    return result


class _Generator:
    def __init__(self, con, root, intents, days, seed, fault_share, first_day, page_objects, part_events):
        self.con = con
        self.root = root
        self.n = intents
        self.days = days
        self.seed = seed
        self.fault_share = fault_share
        self.first_day = first_day
        self.page_objects = page_objects
        self.part_events = part_events
        self.result = GenerateResult(root, intents, 0, days, first_day, 0.0)

    def sql(self, text: str) -> None:
        self.con.execute(text).fetchall()

    def rows(self, text: str) -> list[tuple]:
        return self.con.execute(text).fetchall()

    # --- plan ------------------------------------------------------------------

    def macros(self) -> None:
        s = int(self.seed) & 0x7FFFFFFF
        mix48 = (s * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) % (1 << 48)
        mix40 = mix48 % (1 << 40)
        first = ", ".join(f"'{n}'" for n in FIRST_NAMES)
        last = ", ".join(f"'{n}'" for n in LAST_NAMES)
        self.sql(f"""
            CREATE MACRO u(a, b) AS (hash(a, b, {s}) % 1000003) / 1000003.0;
            CREATE MACRO ui(a, b, lo, hi) AS (lo + hash(a, b, {s}) % (hi - lo + 1))::BIGINT;
            CREATE MACRO hx(a, b) AS printf('%016x', hash(a, b, {s}));
            -- bijective mixers of 48 and 40 bits (xor-shift, multiply by an odd constant): unique ids
            -- that look random
            -- (x * c) mod 2^48 (or 2^40) in BIGINT, from 24-bit (20-bit) halves: no HUGEINT
            CREATE MACRO xs(x, s) AS xor(x, x >> s);
            CREATE MACRO mul48(x, c) AS (((x & 16777215) * (c & 16777215))
                + (((((x >> 24) * (c & 16777215)) + ((x & 16777215) * (c >> 24))) & 16777215) << 24))
                & 281474976710655;
            CREATE MACRO mul40(x, c) AS (((x & 1048575) * (c & 1048575))
                + (((((x >> 20) * (c & 1048575)) + ((x & 1048575) * (c >> 20))) & 1048575) << 20))
                & 1099511627775;
            CREATE MACRO bij48(x) AS
                xs(mul48(xs(mul48(xs(xor(x::BIGINT, {mix48}), 24), 194865941141611), 21), 82454361924563), 24);
            CREATE MACRO bij40(x) AS
                xs(mul40(xs(mul40(xs(xor(x::BIGINT, {mix40}), 20), 762939453125), 17), 345678901233), 20);
            CREATE MACRO idx(kind, i) AS ((kind::BIGINT << 45) | ({self.first_day - 1}::BIGINT << 38) | i::BIGINT);
            CREATE MACRO hex48(kind, i) AS printf('%012x', bij48(idx(kind, i)));
            CREATE MACRO iso(e) AS strftime(to_timestamp(e), '%Y-%m-%dT%H:%M:%SZ');
            CREATE MACRO js(v) AS to_json(v)::VARCHAR;
            CREATE TABLE first_names AS SELECT [{first}] AS l;
            CREATE TABLE last_names AS SELECT [{last}] AS l;
        """)

    def plan(self) -> None:
        """Runs, their workflows and sizes (2 or 3 steps), exactly `self.n` intents."""
        n = self.n
        estimate = math.ceil(n / 2.575 * 1.03) + 16
        (w_refund, s_refund), (w_onboard, s_onboard), _ = WORKFLOW_SHARE
        self.sql(f"""
            CREATE TABLE plan AS
            SELECT r, wf, size, sum(size) OVER (ORDER BY r ROWS UNBOUNDED PRECEDING) AS cum
            FROM (
                SELECT r,
                    CASE WHEN u(r, 1) < {s_refund} THEN '{w_refund}'
                         WHEN u(r, 1) < {s_refund + s_onboard} THEN '{w_onboard}'
                         ELSE 'qualify_lead' END AS wf,
                    CASE WHEN u(r, 1) < {s_refund} THEN 3
                         WHEN u(r, 1) < {s_refund + s_onboard} THEN (CASE WHEN u(r, 2) < 0.5 THEN 3 ELSE 2 END)
                         ELSE 2 END AS size
                FROM range({estimate}) t(r)
            )
        """)
        kept, cum = self.rows(f"SELECT count(*), coalesce(max(cum), 0) FROM plan WHERE cum <= {n - 4}")[0]
        rest = n - cum
        tail = {2: [2], 3: [3], 4: [2, 2], 5: [3, 2], 6: [3, 3]}[rest]
        rows, total = [], cum
        for k, size in enumerate(tail):
            total += size
            rows.append({"r": kept + k, "wf": "refund_order" if size == 3 else "qualify_lead",
                         "size": size, "cum": total})  # fmt: skip
        self._register("tail_runs", rows, pa.schema([("r", pa.int64()), ("wf", pa.string()),
                                                     ("size", pa.int32()), ("cum", pa.int64())]))
        runs = kept + len(tail)
        self.result.runs = runs
        self.runs = runs
        base = int(BASE_DAY.timestamp())
        faults = " ".join(
            f"WHEN wf = '{wf}' THEN "
            + ("CASE WHEN size = 3 THEN 'silent_welcome' ELSE 'skipped_step' END" if wf == "onboard_customer"
               else f"list_element({list(names)}, 1 + (hash(r, 4, {self.seed}) % {len(names)})::INT)")
            for wf, names in FAULTS.items()
        )
        owners = ", ".join(f"'{5500 + k}'" for k in range(OWNERS))
        new_titles = ", ".join(f"'{t}'" for t in NEW_TITLES)
        old_titles = ", ".join(f"'{t}'" for t in OLD_TITLES)
        self.sql(f"""
            CREATE TABLE runs AS
            WITH p AS (
                SELECT r, wf, size, cum FROM plan WHERE r < {kept}
                UNION ALL SELECT r, wf, size, cum FROM tail_runs
            ),
            d AS (
                SELECT *, (r * {self.days}) // {runs} AS day_idx,
                    (r * {self.days}) / {runs} - (r * {self.days}) // {runs} AS frac
                FROM p
            )
            SELECT
                r, wf, size, cum - size AS i0,
                {self.first_day} + day_idx AS day,
                CASE WHEN r >= {kept} OR u(r, 3) >= {self.fault_share} THEN 'clean'
                     ELSE (CASE {faults} END) END AS scen,
                {base} + ({self.first_day - 1} + day_idx) * 86400
                    + floor(frac * {RUN_HOURS * 3600})::BIGINT + ui(r, 5, 0, 30) AS start,
                printf('%010x', bij40(({self.first_day - 1}::BIGINT << 33) | r)) AS run_hex,
                list_element((SELECT l FROM first_names), 1 + (hash(r, 6, {self.seed}) % 25)::INT) AS first,
                list_element((SELECT l FROM last_names), 1 + (hash(r, 7, {self.seed}) % 25)::INT) AS last,
                ui(r, 8, 500, 25000) AS amount,
                list_element([{owners}], 1 + (hash(r, 9, {self.seed}) % {OWNERS})::INT) AS owner_id,
                list_element([{new_titles}], 1 + (hash(r, 10, {self.seed}) % 5)::INT) AS title,
                list_element([{old_titles}], 1 + (hash(r, 11, {self.seed}) % 5)::INT) AS old_title,
                list_element(['lead', 'marketingqualifiedlead'], 1 + (hash(r, 12, {self.seed}) % 2)::INT) AS old_stage,
                list_element(['NEW', 'OPEN'], 1 + (hash(r, 13, {self.seed}) % 2)::INT) AS old_status,
                list_element(['5550', '5552', '5553'], 1 + (hash(r, 14, {self.seed}) % 3)::INT) AS old_owner,
                ui(r, 15, 600, 172800) AS ticket_age,
                ui(r, 16, 30 * 86400, 400 * 86400) AS lead_age,
                u(r, 17) < 1.0 / 15 AS bg_refund,
                u(r, 18) < 1.0 / 10 AS bg_message
            FROM d
            ORDER BY r
        """)
        self.sql("""
            CREATE TABLE run_facts AS
            SELECT *, 'run_' || run_hex AS run_id,
                lower(first) || '.' || lower(last) || '.' || run_hex || '@example.com' AS email,
                upper(first[1]) || first[2:] AS firstname, upper(last[1]) || last[2:] AS lastname,
                (bij40(r) % 900000 + 100000)::VARCHAR || run_hex[1:4] AS order_no,
                'ch_' || run_hex || hx(r, 19)[1:14] AS charge,
                'owner.' || owner_id || '@example.com' AS owner_email
            FROM runs ORDER BY r
        """)
        self.sql("DROP TABLE plan; DROP TABLE runs")

    def intents(self) -> None:
        steps, effects, templates, ends = [], [], [], []
        for wf, wf_steps in catalog().items():
            for k, (step, action) in enumerate(wf_steps.items()):
                steps.append({"wf": wf, "k": k, "step": step, "action": action})
        for (wf, scen), (end, per_step) in SCENARIOS.items():
            ends.append({"wf": wf, "scen": scen, "end_status": end})
            for step, (events, effect) in per_step.items():
                effects.append({"wf": wf, "scen": scen, "step": step, "effect": effect})
                for seq, (kind, attempt, key, dt, receipt, error) in enumerate(events):
                    templates.append({"wf": wf, "scen": scen, "step": step, "seq": seq, "type": kind,
                                      "attempt": attempt, "key": key, "dt": dt, "receipt": receipt,
                                      "error": error})  # fmt: skip
        s = pa.string()
        self._register("steps", steps, pa.schema([("wf", s), ("k", pa.int32()), ("step", s), ("action", s)]))
        self._register("effects", effects, pa.schema([("wf", s), ("scen", s), ("step", s), ("effect", s)]))
        self._register("ends", ends, pa.schema([("wf", s), ("scen", s), ("end_status", s)]))
        self._register("templates", templates, pa.schema([
            ("wf", s), ("scen", s), ("step", s), ("seq", pa.int32()), ("type", s), ("attempt", pa.int32()),
            ("key", s), ("dt", pa.int32()), ("receipt", pa.int32()), ("error", s)]))
        descriptions = " ".join(f"WHEN '{step}' THEN {expr}" for step, expr in DESCRIPTIONS.items())
        self.sql(f"""
            CREATE TABLE intents AS
            WITH base AS (
                SELECT f.*, st.k, st.step, st.action, split_part(st.action, '.', 1) AS system,
                    f.i0 + st.k AS i, e.effect,
                    f.start + 10 + st.k * 90 AS step_at,
                    bij48(idx({KIND_NUMBER}, f.i0 + st.k)) AS number
                FROM run_facts f
                JOIN steps st ON st.wf = f.wf AND st.k < f.size
                JOIN effects e ON e.wf = f.wf AND e.scen = f.scen AND e.step = st.step
            ),
            ids AS (
                SELECT *,
                    'int_' || hex48({KIND_INTENT}, i) AS intent_id,
                    'idem_' || hex48({KIND_IDEM}, i) AS idem,
                    'idem_' || hex48({KIND_IDEM_RETRY}, i) AS idem2,
                    're_' || hex48({KIND_REFUND}, i) || hx(i, 20)[1:12] AS refund1,
                    're_' || hex48({KIND_REFUND_RETRY}, i) || hx(i, 21)[1:12] AS refund2,
                    hex48({KIND_MESSAGE}, i) || hx(i, 22)[1:10] AS message_id
                FROM base
            )
            SELECT *,
                CASE system
                    WHEN 'stripe' THEN refund1 WHEN 'sendgrid' THEN message_id
                    ELSE number::VARCHAR END AS ext1,
                CASE step
                    WHEN 'issue_refund' THEN json_object('charge', charge, 'amount', amount, 'currency', 'usd')
                    WHEN 'notify_customer' THEN json_object('email', email, 'category', 'refund_confirmation')
                    WHEN 'resolve_ticket' THEN json_object('status', 'solved')
                    WHEN 'create_contact' THEN json_object('email', email, 'firstname', firstname,
                        'lastname', lastname, 'lifecyclestage', 'customer')
                    WHEN 'open_ticket' THEN json_object('subject', 'Onboarding: ' || firstname || ' ' || lastname,
                        'priority', 'normal')
                    WHEN 'send_welcome' THEN json_object('email', email, 'category', 'welcome')
                    WHEN 'update_contact' THEN json_object('lifecyclestage', 'salesqualifiedlead',
                        'hs_lead_status', 'IN_PROGRESS', 'hubspot_owner_id', owner_id, 'jobtitle', title)
                    WHEN 'notify_owner' THEN json_object('email', owner_email, 'category', 'lead_assigned')
                END::VARCHAR AS expected,
                CASE step WHEN 'resolve_ticket' THEN 'ticket' WHEN 'update_contact' THEN 'contact' END AS target_type,
                CASE step WHEN 'resolve_ticket' THEN number::VARCHAR WHEN 'update_contact' THEN number::VARCHAR END
                    AS target_key,
                CASE step {descriptions} END AS description
            FROM ids
            ORDER BY i
        """)
        counts = self.rows("SELECT wf || ':' || scen, count(DISTINCT r) FROM intents GROUP BY ALL ORDER BY 1")
        self.result.scenarios = {k: int(v) for k, v in counts}
        assert self.rows("SELECT count(*) FROM intents")[0][0] == self.n

    # --- the workflow log ----------------------------------------------------

    def events(self) -> None:
        runs_per_part = max(1, self.part_events // 10)
        self.sql(f"""
            CREATE TABLE log_parts AS
            SELECT day, (r - min(r) OVER (PARTITION BY day)) // {runs_per_part} AS part, r
            FROM run_facts
        """)
        parts = self.rows("SELECT day, part, min(r), max(r) FROM log_parts GROUP BY day, part ORDER BY day, part")
        self.sql("DROP TABLE log_parts")
        rows = 0
        for day, part, lo, hi in parts:
            path = self.root / "landing" / "events" / f"day-{day:02d}-part-{part + 1:03d}.jsonl"
            rows += self._copy_lines(self._events_sql(lo, hi, day), path, day, "workflow_log")
        self.result.rows["workflow_log"] = rows  # log lines, repeated and malformed ones included

    def _events_sql(self, lo: int, hi: int, day: int) -> str:
        """The log lines of runs lo..hi, sorted by time, some repeated, one truncated line."""
        bad_at = int((BASE_DAY + timedelta(days=day - 1, hours=1)).timestamp())
        return f"""
            WITH it AS (SELECT * FROM intents WHERE r BETWEEN {lo} AND {hi}),
            fr AS (SELECT * FROM run_facts WHERE r BETWEEN {lo} AND {hi}),
            ev AS (
                -- intent.declared, all steps at the run's start
                SELECT printf('ev_0%s%03x', hex48({KIND_INTENT}, i), 0) AS event_id,
                    start + 1 + k AS ts, 'intent.declared' AS type, run_id, wf, intent_id, step, action,
                    system, idem AS key, NULL::INT AS attempt, expected, target_type, target_key,
                    description, NULL::VARCHAR AS receipt, NULL::VARCHAR AS error, NULL::VARCHAR AS status,
                    NULL::VARCHAR AS actor, i AS h
                FROM it
                UNION ALL
                SELECT printf('ev_0%s%03x', hex48({KIND_INTENT}, it.i), 1 + t.seq),
                    it.step_at + t.dt, t.type, it.run_id, it.wf, it.intent_id, it.step, it.action, it.system,
                    CASE t.key WHEN 'retry' THEN it.idem2 ELSE it.idem END, t.attempt,
                    NULL, NULL, NULL, NULL,
                    CASE t.receipt WHEN 1 THEN it.ext1 WHEN 2 THEN it.refund2 END,
                    t.error, NULL, NULL, it.i * 16 + 1 + t.seq
                FROM it JOIN templates t ON t.wf = it.wf AND t.scen = it.scen AND t.step = it.step
                UNION ALL
                SELECT printf('ev_1%s%05x', run_hex, 0), start, 'run.started', run_id, wf, NULL, NULL, NULL,
                    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'running', 'agent', r * 16 + 7
                FROM fr
                UNION ALL
                SELECT printf('ev_1%s%05x', fr.run_hex, 1), fr.start + 10 + fr.size * 90 + 10,
                    'run.' || e.end_status, fr.run_id, fr.wf, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                    NULL, NULL, NULL, NULL, e.end_status, NULL, fr.r * 16 + 8
                FROM fr JOIN ends e ON e.wf = fr.wf AND e.scen = fr.scen
                WHERE e.end_status IS NOT NULL
            ),
            lines AS (
                SELECT ts AS sort_ts, event_id, concat(
                    '{{"event_id":"', event_id, '","ts":"', iso(ts), '","type":"', type,
                    '","run_id":"', run_id, '","workflow":"', wf, '"',
                    ',"intent_id":"' || intent_id || '"', ',"step":"' || step || '"',
                    ',"action":"' || action || '"', ',"system":"' || system || '"',
                    ',"idempotency_key":"' || key || '"', ',"attempt":' || attempt,
                    ',"expected":' || expected,
                    ',"target":{{"object_type":"' || target_type || '","key":"' || target_key || '"}}',
                    ',"description":' || js(description),
                    ',"receipt":{{"external_id":"' || receipt || '"}}',
                    CASE error WHEN 'timeout' THEN ',"error":{{"kind":"timeout","message":"no response within 30s"}}' END,
                    ',"status":"' || status || '"', ',"actor":"' || actor || '"', '}}') AS line, h
                FROM ev
            )
            SELECT line FROM (
                SELECT sort_ts, event_id, line FROM lines
                UNION ALL
                -- at-least-once delivery: a few lines written again a little later
                SELECT sort_ts + ui(h, 30, 1, 30), event_id, line FROM lines
                WHERE hash(h, 31, {self.seed}) % {LOG_REPEAT_EVERY} = 0
                UNION ALL
                -- a line cut short by a crashed writer
                SELECT {bad_at}, 'ev_', '{{"event_id":"ev_ffffffffffffffff","ts":"{iso_text(bad_at)}","type":"run.st'
            )
            ORDER BY sort_ts, event_id
        """

    # --- observed systems ------------------------------------------------------

    def stripe(self) -> None:
        self.sql(f"""
            CREATE TABLE stripe_objects AS
            WITH refunds AS (
                SELECT day, refund1 AS id, charge, amount, step_at + 2 AS created, intent_id, idem AS key,
                    CASE effect WHEN 'failed' THEN 'failed' ELSE 'succeeded' END AS status, i AS h
                FROM intents WHERE step = 'issue_refund' AND effect IN ('ok', 'failed', 'dup')
                UNION ALL
                SELECT day, refund2, charge, amount, step_at + 62, intent_id, idem2, 'succeeded', i + 1099511627776
                FROM intents WHERE step = 'issue_refund' AND effect = 'dup'
                UNION ALL
                -- refunds made by hand in the Dashboard: no marker
                SELECT day, 're_' || hex48({KIND_BACKGROUND}, 2 * r) || hx(r, 23)[1:12],
                    'ch_' || hx(r, 24) || hx(r, 25)[1:8], ui(r, 26, 500, 25000),
                    start + ui(r, 27, 0, 3000), NULL, NULL, 'succeeded', r + 2199023255552
                FROM run_facts WHERE bg_refund
            )
            SELECT day, created AS sort_key, concat(
                '{{"id":"', id, '","object":"refund","amount":', amount, ',"currency":"usd","created":', created,
                ',"charge":"', charge, '","payment_intent":"pi_', hx(h, 28), hx(h, 29)[1:8],
                '","balance_transaction":"txn_', hx(h, 32), hx(h, 33)[1:8], '","metadata":{{',
                '"reckon_idempotency_key":"' || key || '","reckon_intent_id":"' || intent_id || '"',
                '}},"reason":"requested_by_customer","status":"', status, '","failure_reason":',
                CASE status WHEN 'failed' THEN '"insufficient_funds"' ELSE 'null' END,
                ',"receipt_number":null,"destination_details":{{"type":"card","card":{{"type":"refund"}}}}}}'
            ) AS line
            FROM refunds
        """)
        # Newest first, like the Refunds list.
        self._pages("stripe_objects", "stripe_refunds", "stripe", "page", "sort_key DESC, line",
                    '{"object":"list","data":[', '],"has_more":false,"url":"/v1/refunds"}')

    def sendgrid(self) -> None:
        self.sql(f"""
            CREATE TABLE sendgrid_objects AS
            WITH messages AS (
                SELECT day, message_id AS x, step_at + 2 AS sent,
                    CASE step WHEN 'notify_owner' THEN owner_email ELSE email END AS email,
                    CASE step WHEN 'notify_customer' THEN 'refund_confirmation' WHEN 'send_welcome' THEN 'welcome'
                        ELSE 'lead_assigned' END AS category,
                    intent_id, effect, i AS h
                FROM intents WHERE system = 'sendgrid' AND effect IN ('ok', 'bounce')
                UNION ALL
                -- newsletters: not the agent's
                SELECT day, hex48({KIND_BACKGROUND}, 2 * r + 1) || hx(r, 34)[1:10], start + ui(r, 35, 0, 3000),
                    'reader.' || run_hex || '@example.com', 'newsletter', NULL, 'ok', r + 2199023255552
                FROM run_facts WHERE bg_message
            ),
            timed AS (
                SELECT *, sent + 1 AS processed_at, sent + 1 + ui(h, 36, 1, 30) AS delivered_at,
                    sent + 1 + ui(h, 37, 2, 90) AS bounced_at, u(h, 38) < 0.3 AS opened,
                    x || '.filterdrecv-' || hx(h, 39)[1:6] || '-' || hx(h, 40)[1:10] || '-' || hx(h, 41)[1:5]
                        || '-1-' || upper(hx(h, 42)[1:8]) || '-' || ui(h, 43, 1, 40) || '.0' AS sg_message_id,
                    '<' || x || '@ismtpd0' || lpad(ui(h, 44, 1, 199)::VARCHAR, 3, '0') || 'p1mdw1.sendgrid.net>'
                        AS smtp_id
                FROM messages
            ),
            events AS (
                SELECT *, processed_at AS ev_at, 'processed' AS event, '' AS extra, 0 AS n FROM timed
                UNION ALL
                SELECT *, delivered_at, 'delivered', ',"response":"250 2.0.0 OK"', 1 FROM timed WHERE effect = 'ok'
                UNION ALL
                SELECT *, bounced_at, 'bounce',
                    ',"reason":"550 5.1.1 unknown user","status":"5.1.1","type":"bounce"', 2
                FROM timed WHERE effect = 'bounce'
                UNION ALL
                SELECT *, delivered_at + ui(h, 45, 120, 7200), 'open', ',"useragent":"Mozilla/5.0","ip":"192.0.2.10"', 3
                FROM timed WHERE effect = 'ok' AND opened
            ),
            lines AS (
                SELECT day, ev_at, concat(
                    '{{', '"reckon_intent_id":"' || intent_id || '",', '"email":"', email, '","timestamp":', ev_at,
                    ',"event":"', event, '","sg_event_id":"', x[1:12], printf('%02d', n),
                    hx(h, 46 + n)[1:8], '","sg_message_id":"', sg_message_id, '","smtp-id":"', smtp_id,
                    '","category":"', category, '"', extra, '}}') AS line, h, n
                FROM events
            )
            SELECT day, ev_at AS sort_key, line FROM lines
            UNION ALL
            -- webhook retries: the same event again, later
            SELECT day, ev_at + 600, line FROM lines WHERE hash(h, n, 50, {self.seed}) % {WEBHOOK_REDELIVER_EVERY} = 0
        """)
        self._pages("sendgrid_objects", "sendgrid_events", "sendgrid", "batch", "sort_key, line", "[", "]")

    def hubspot(self) -> None:
        agent = '"sourceType":"INTEGRATION","sourceId":"reckon-agent","sourceLabel":"reckon-agent"'
        imported = '"sourceType":"IMPORT","sourceId":"import-1","sourceLabel":"contacts-import.csv"'

        def entry(value: str, at: str, source: str) -> str:
            return f"""'{{"value":' || js({value}) || ',"timestamp":"' || iso({at}) || '",{source}}}'"""

        def history(name: str, value: str, old: str, agent_writes: str) -> str:
            """One property's history, newest first: the agent's write (if any), the import."""
            return (f"""'"{name}":[' || CASE WHEN {agent_writes} THEN {entry(value, 'written', agent)} || ','
                ELSE '' END || {entry(old, 'created', imported)} || ']'""")

        self.sql(f"""
            CREATE TABLE hubspot_objects AS
            WITH contacts AS (
                -- onboard_customer: the contact the agent created
                SELECT day, number AS id, step_at + 2 AS created, step_at + 2 AS written, intent_id,
                    email, firstname, lastname, 'customer' AS stage, NULL AS status, NULL AS owner, NULL AS jobtitle,
                    NULL AS old_stage, NULL AS old_status, NULL AS old_owner, NULL AS old_title, 'create' AS kind
                FROM intents WHERE step = 'create_contact' AND effect = 'ok'
                UNION ALL
                -- qualify_lead: an imported lead the agent updated (all four fields, or one)
                SELECT day, number, start - lead_age, step_at + 2, intent_id, email, firstname, lastname,
                    CASE effect WHEN 'partial' THEN old_stage ELSE 'salesqualifiedlead' END,
                    'IN_PROGRESS',
                    CASE effect WHEN 'partial' THEN old_owner ELSE owner_id END,
                    CASE effect WHEN 'partial' THEN old_title ELSE title END,
                    old_stage, old_status, old_owner, old_title,
                    CASE effect WHEN 'partial' THEN 'partial' ELSE 'update' END
                FROM intents WHERE step = 'update_contact' AND effect IN ('ok', 'partial')
            )
            SELECT day, id AS sort_key, concat(
                '{{"id":"', id, '","properties":{{',
                '"email":"', email, '","firstname":"', firstname, '","lastname":"', lastname,
                '","lifecyclestage":"', stage, '"',
                ',"hs_lead_status":"' || status || '"', ',"hubspot_owner_id":"' || owner || '"',
                ',"jobtitle":' || js(jobtitle),
                ',"createdate":"', iso(created), '","lastmodifieddate":"', iso(written),
                '","hs_object_id":"', id, '","reckon_intent_id":"', intent_id, '"}}',
                ',"propertiesWithHistory":{{',
                CASE kind WHEN 'create' THEN
                    '"email":[' || {entry('email', 'written', agent)} || '],"firstname":['
                    || {entry('firstname', 'written', agent)} || '],"lastname":['
                    || {entry('lastname', 'written', agent)} || '],"lifecyclestage":['
                    || {entry('stage', 'written', agent)} || ']'
                ELSE
                    '"email":[' || {entry('email', 'created', imported)} || '],"firstname":['
                    || {entry('firstname', 'created', imported)} || '],"lastname":['
                    || {entry('lastname', 'created', imported)} || '],'
                    || {history('lifecyclestage', 'stage', 'old_stage', "kind = 'update'")} || ','
                    || {history('hs_lead_status', 'status', 'old_status', 'true')} || ','
                    || {history('hubspot_owner_id', 'owner', 'old_owner', "kind = 'update'")} || ','
                    || {history('jobtitle', 'jobtitle', 'old_title', "kind = 'update'")}
                END,
                '}},"createdAt":"', iso(created), '","updatedAt":"', iso(written), '","archived":false}}'
            ) AS line
            FROM contacts
        """)
        self._pages("hubspot_objects", "hubspot_contacts", "hubspot", "page", "sort_key", '{"results":[',
                    None)

    def zendesk(self) -> None:
        api = "https://example.zendesk.com/api/v2"
        self.sql(f"""
            CREATE TABLE zendesk_objects AS
            WITH tickets AS (
                -- refund_order: the customer's own ticket (from the web form), solved by the agent
                SELECT day, number AS id, 'order-' || order_no AS external_id,
                    CASE effect WHEN 'ok' THEN 'solved' ELSE 'open' END AS status,
                    list_element(['normal', 'normal', 'high'], 1 + (hash(i, 60, {self.seed}) % 3)::INT) AS priority,
                    'question' AS type, 'Refund for order ' || order_no AS subject,
                    CASE effect WHEN 'ok' THEN ['refund_request', intent_id] ELSE ['refund_request'] END AS tags,
                    'web' AS channel, 360000000000 + hash(i, 61, {self.seed}) % 9999999999 AS requester_id,
                    NULL::BIGINT AS submitter_id,
                    CASE WHEN u(i, 62) < 0.5 THEN 900000000042 END AS assignee_id,
                    start - ticket_age AS created,
                    CASE effect WHEN 'ok' THEN step_at + 2 ELSE start - ticket_age END AS updated
                FROM intents WHERE step = 'resolve_ticket'
                UNION ALL
                -- onboard_customer: the ticket the agent opened
                SELECT day, number, intent_id, 'open', 'normal', 'task',
                    'Onboarding: ' || firstname || ' ' || lastname, ['onboarding', intent_id], 'api',
                    360000000000 + hash(i, 61, {self.seed}) % 9999999999, 900000000001, NULL,
                    step_at + 2, step_at + 2
                FROM intents WHERE step = 'open_ticket' AND effect = 'ok'
            )
            SELECT day, updated AS sort_key, concat(
                '{{"id":', id, ',"url":"{api}/tickets/', id, '.json","external_id":"', external_id,
                '","status":"', status, '","priority":"', priority, '","type":"', type,
                '","subject":', js(subject), ',"tags":', js(tags),
                ',"custom_fields":[],"via":{{"channel":"', channel, '"}},"requester_id":', requester_id,
                ',"submitter_id":', coalesce(submitter_id, requester_id), ',"assignee_id":', coalesce(assignee_id::VARCHAR, 'null'),
                ',"created_at":"', iso(created), '","updated_at":"', iso(updated), '"}}'
            ) AS line
            FROM tickets
        """)
        self._pages("zendesk_objects", "zendesk_tickets", "zendesk", "page", "sort_key, line", '{"tickets":[',
                    None)

    # --- writing -----------------------------------------------------------------

    def _pages(self, table: str, source: str, folder: str, word: str, order: str, head: str,
               tail: str | None) -> None:
        """One JSON document per page of `page_objects` records, per day."""
        self.sql(f"""
            CREATE TABLE {table}_paged AS
            SELECT day, (pos - 1) // {self.page_objects} AS page, (pos - 1) % {self.page_objects} AS pos, line
            FROM (SELECT day, line, row_number() OVER (PARTITION BY day ORDER BY {order}) AS pos FROM {table})
            ORDER BY day, page, pos
        """)
        self.sql(f"DROP TABLE {table}")
        pages = self.rows(f"SELECT day, page, count(*) FROM {table}_paged GROUP BY day, page ORDER BY day, page")
        last = {}
        for day, page, _ in pages:
            last[day] = max(last.get(day, 0), page)
        rows = 0
        for day, page, count in pages:
            path = self.root / "landing" / folder / f"day-{day:02d}-{word}-{page + 1:03d}.json"
            closing = tail if tail is not None else self._page_tail(folder, day, page, last[day])
            sql = f"""
                SELECT line FROM (
                    SELECT -1 AS pos, {_lit(head)} AS line
                    UNION ALL
                    SELECT pos, CASE WHEN pos = 0 THEN line ELSE ',' || line END
                    FROM {table}_paged WHERE day = {day} AND page = {page}
                    UNION ALL
                    SELECT {self.page_objects}, {_lit(closing)}
                ) ORDER BY pos
            """
            self._copy_lines(sql, path, day, source)
            rows += count
        self.sql(f"DROP TABLE {table}_paged")
        self.result.rows[source] = rows

    def _page_tail(self, folder: str, day: int, page: int, last: int) -> str:
        more = page < last
        if folder == "hubspot":
            if not more:
                return "]}"
            after = f"{day:02d}{page + 1:06d}"
            link = f"https://api.hubapi.com/crm/v3/objects/contacts?after={after}"
            return f'],"paging":{{"next":{{"after":"{after}","link":"{link}"}}}}}}'
        cursor = f"{day:02d}.{page + 1:06d}"
        url = f"https://example.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor={cursor}"
        return f'],"after_cursor":"{cursor}","after_url":"{url}","end_of_stream":{"false" if more else "true"}}}'

    def _copy_lines(self, sql: str, path: Path, day: int, source: str) -> int:
        """Write the single VARCHAR column of `sql` verbatim, one value per line."""
        written = self.rows(
            f"COPY ({sql}) TO '{path}' (FORMAT csv, HEADER false, DELIMITER '\x1f', QUOTE '\x1e', "
            "ESCAPE '\x1e')"
        )[0][0]
        stamp = export_time(day).timestamp()
        os.utime(path, (stamp, stamp))
        size = path.stat().st_size
        self.result.bytes[source] = self.result.bytes.get(source, 0) + size
        self.result.files.setdefault(f"{day:02d}", []).append(str(path.relative_to(self.root)))
        return int(written)

    def _register(self, name: str, rows: list[dict], schema: pa.Schema) -> None:
        self.con.register("_rows", pa.Table.from_pylist(rows, schema=schema))
        self.sql(f"CREATE TABLE {name} AS SELECT * FROM _rows")
        self.con.unregister("_rows")

    def run(self) -> GenerateResult:
        self.macros()
        for phase in (self.plan, self.intents, self.events, self.stripe, self.sendgrid, self.hubspot,
                      self.zendesk):
            started = time.perf_counter()
            phase()
            self.result.phases[phase.__name__] = round(time.perf_counter() - started, 3)
        return self.result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def iso_text(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
