"""reckon.yaml is validated on load, with errors that name the key: every value has a
type and a range, and no value (nor the file's bytes) can crash or hang an audit later."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from connectors import CONNECTORS
from connectors.base import SourceOptions
from pipelines.cli import main
from reckon.config import ConfigError, load_config
from reckon.snapshots import source_options
from reckon.workspace import Workspace
from tests.deadline import within

DEMO = Path(__file__).resolve().parents[1] / "simulator" / "reckon.yaml"


def write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    mutate(data)
    (tmp_path / "reckon.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def write_text(tmp_path: Path, old: str, new: str | bytes) -> Path:
    """The demo reckon.yaml with its first `old` replaced: for what a dict cannot spell
    (bytes that are not UTF-8, an unquoted timestamp, YAML tags and aliases)."""
    text = DEMO.read_bytes()
    assert old.encode() in text
    (tmp_path / "reckon.yaml").write_bytes(text.replace(old.encode(), new if isinstance(new, bytes) else new.encode(), 1))
    return tmp_path


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def rename(section: str, old: str, new: object) -> Callable[[dict], None]:
    return lambda d: d[section].update({new: d[section].pop(old)})


def test_demo_config_loads():
    cfg = load_config(DEMO.parent)
    assert {s.name for s in cfg.sources} >= {"workflow_log", "stripe_refunds"}
    assert cfg.workflows["refund_order"].steps[0].reversible
    assert cfg.systems["stripe"].settle_window.total_seconds() == 3600
    refined = {(p.mismatch_type, p.scope, p.name) for p in cfg.prevention}
    assert refined == {("receipt_missing", "workflow", "onboard_customer"), ("receipt_missing", "system", "zendesk"),
                       ("duplicate_effect", "workflow", "refund_order")}
    assert all(p.line and p.line == p.line.strip() for p in cfg.prevention)


def test_prevention_lines_are_optional(tmp_path):
    assert load_config(write(tmp_path, lambda d: d.pop("prevention"))).prevention == ()


STRIPE = "systems.stripe"
DUCK = "policies.duckdb"
BAD_VALUES = [  # (mutation of the demo config, the start of the message: the key path first)
    (lambda d: d["sources"]["stripe_refunds"].update(connector="paypal"), "sources.stripe_refunds.connector: unknown connector 'paypal'"),
    (lambda d: d["sources"]["stripe_refunds"].pop("system"), "sources.stripe_refunds.system: required"),
    (lambda d: d["sources"]["workflow_log"].update(system="nowhere"), "sources.workflow_log.system: 'nowhere' is not declared"),
    (lambda d: d["sources"]["stripe_refunds"].update(paths=["../elsewhere/*.json"]), "sources.stripe_refunds.paths[0]"),
    (lambda d: d["sources"]["stripe_refunds"].update(paths=["/etc/*.json"]), "sources.stripe_refunds.paths[0]: '/etc/*.json' must be a relative path"),
    (lambda d: d["sources"]["stripe_refunds"].update(paths=["landing/*/../../../etc/*.json"]), "sources.stripe_refunds.paths[0]: 'landing/*/../../../etc/*.json' must be a relative path"),
    (lambda d: d["sources"]["stripe_refunds"].update(paths=["landing/stri\0pe/*.json"]), "sources.stripe_refunds.paths[0]: contains the control character"),
    (lambda d: d["sources"]["stripe_refunds"].update(paths=[]), "sources.stripe_refunds.paths: expected at least 1"),
    (lambda d: d["sources"]["stripe_refunds"].update(observed_at="yesterday"), "sources.stripe_refunds.observed_at"),
    (lambda d: d["sources"]["stripe_refunds"].update(observed_at="9999-12-31T23:59:59-23:59"), "sources.stripe_refunds.observed_at: '9999-12-31T23:59:59-23:59' is out of range"),
    (lambda d: d["sources"]["stripe_refunds"].update(observed_at="1900-01-01T00:00:00Z"), "sources.stripe_refunds.observed_at: '1900-01-01T00:00:00Z' is out of range"),
    (lambda d: d["sources"]["stripe_refunds"].update(options={"a": deep(40)}), "sources.stripe_refunds.options.a[0]"),
    (lambda d: d["sources"]["stripe_refunds"].update(options={"page_size": 2**70}), "sources.stripe_refunds.options.page_size: integer out of range"),
    (lambda d: d["systems"]["hubspot"].update(agent_actors=["x" * 10_001]), "systems.hubspot.agent_actors[0]: text of 10001 characters"),
    # names: text that is safe as a folder name (snapshots/source=<name>/)
    (lambda d: d["sources"]["stripe_refunds"].update(optional="yes"), "sources.stripe_refunds.optional: expected bool, got str"),
    (lambda d: d["systems"]["hubspot"].update(natural_key_unique=1), "systems.hubspot.natural_key_unique: expected bool, got int"),
    (lambda d: d["policies"].update(incremental=None), "policies.incremental: expected bool, got NoneType"),
    (lambda d: d["policies"].update(buckets=0), "policies.buckets: 0 is out of range (1 to 4096)"),
    (lambda d: d["policies"].update(buckets=4097), "policies.buckets: 4097 is out of range"),
    (lambda d: d["policies"].update(buckets=2.0), "policies.buckets: expected int, got float"),
    (lambda d: d["policies"].update(buckets=True), "policies.buckets: expected int, got bool"),
    (lambda d: d["policies"].update(buckets=4), "policies.buckets: an audit in buckets is a full audit: set policies.incremental to false"),
    (rename("sources", "stripe_refunds", 123), "sources.123: '123' must be lowercase letters"),
    (rename("sources", "stripe_refunds", "../evil"), "sources.../evil: '../evil' must be lowercase letters"),
    (rename("sources", "stripe_refunds", "stripe\n"), "sources.stripe\n: 'stripe\n' must be lowercase letters"),
    (rename("sources", "stripe_refunds", "s" * 65), f"sources.{'s' * 65}: "),
    (rename("systems", "zendesk", 7), "systems.7: '7' must be lowercase letters"),
    (rename("systems", "zendesk", "Zen Desk"), "systems.Zen Desk: 'Zen Desk' must be lowercase letters"),
    (rename("catalog", "qualify_lead", 42), "catalog.42: a workflow name is text"),
    (lambda d: d["systems"]["stripe"].update(object_type="Refund Object"), f"{STRIPE}.object_type: 'Refund Object' must be lowercase"),
    (lambda d: d["systems"]["stripe"].update(colour="red"), f"{STRIPE}.colour: unknown key"),
    (lambda d: d["systems"]["stripe"].update(id_form="upper"), f"{STRIPE}.id_form: 'upper' is not one of"),
    # durations: 0 (completion_window: 1s) to 3650 days
    (lambda d: d["systems"]["stripe"].update(settle_window="soon"), f"{STRIPE}.settle_window: 'soon' is not a duration"),
    (lambda d: d["systems"]["stripe"].update(settle_window="99999999999d"), f"{STRIPE}.settle_window: '99999999999d' is out of range"),
    (lambda d: d["systems"]["stripe"].update(settle_window=-3600), f"{STRIPE}.settle_window: '-3600' is out of range"),
    (lambda d: d["systems"]["stripe"].update(settle_window=10**30), f"{STRIPE}.settle_window: integer out of range"),
    (lambda d: d["systems"]["stripe"].update(settle_window=True), f"{STRIPE}.settle_window: expected str/int, got bool"),
    (lambda d: d["systems"]["stripe"].update(idempotency_ttl="-1h"), f"{STRIPE}.idempotency_ttl: '-1h' is not a duration"),
    (lambda d: d["systems"]["stripe"].update(natural_key_window="900000000d"), f"{STRIPE}.natural_key_window: '900000000d' is out of range"),
    (lambda d: d["catalog"]["refund_order"].update(completion_window="1e20"), "catalog.refund_order.completion_window: '1e20' is not a duration"),
    (lambda d: d["catalog"]["refund_order"].update(completion_window=1e20), "catalog.refund_order.completion_window: expected str/int, got float"),
    (lambda d: d["catalog"]["refund_order"].update(completion_window=0), "catalog.refund_order.completion_window: '0' is out of range (1s to 3650d)"),
    # the catalog
    (lambda d: d["catalog"]["refund_order"]["steps"][0].update(action="stripe-refund"), "catalog.refund_order.steps[0].action"),
    (lambda d: d["catalog"]["refund_order"]["steps"][0].pop("compensation"), "catalog.refund_order.steps[0].compensation: a reversible step names its compensation operation"),
    (lambda d: d["catalog"]["refund_order"]["steps"][0].update(compensation="undo it"), "catalog.refund_order.steps[0].compensation: 'undo it' is not system.object.verb"),
    (lambda d: d["catalog"]["refund_order"]["steps"][1].update(step="issue_refund"), "catalog.refund_order.steps[1].step: 'issue_refund' is already a step"),
    (lambda d: d["catalog"]["qualify_lead"]["steps"][0].update(action="salesforce.contact.update"), "catalog.qualify_lead.steps[0].action: system 'salesforce' is not declared"),
    # policies
    (lambda d: d["policies"].update(quarantine_max_share=2), "policies.quarantine_max_share: 2 is out of range (0 to 1)"),
    (lambda d: d["policies"].update(quarantine_max_share=float("nan")), "policies.quarantine_max_share: nan is not a finite number"),
    (lambda d: d["policies"].update(minutes_per_operator_task=-1), "policies.minutes_per_operator_task: -1 is out of range"),
    (lambda d: d["policies"].update(repeated_drift_audits=1e23), "policies.repeated_drift_audits: expected int, got float"),
    (lambda d: d["policies"].update(repeated_drift_audits=0), "policies.repeated_drift_audits: 0 is out of range (1 to 1000)"),
    (lambda d: d["policies"].update(approval_required=["everything"]), "policies.approval_required[0]: 'everything' is not one of"),
    (lambda d: d["policies"]["duckdb"].update(memory_limit="lots"), f"{DUCK}.memory_limit: 'lots' is not a size"),
    (lambda d: d["policies"]["duckdb"].update(memory_limit="4GB; SET x=1"), f"{DUCK}.memory_limit: '4GB; SET x=1' is not a size"),
    (lambda d: d["policies"]["duckdb"].update(memory_limit="1KB"), f"{DUCK}.memory_limit: '1KB' is out of range"),
    (lambda d: d["policies"]["duckdb"].update(memory_limit="99999TiB"), f"{DUCK}.memory_limit: '99999TiB' is out of range"),
    (lambda d: d["policies"]["duckdb"].update(memory_limit=4), f"{DUCK}.memory_limit: expected str, got int"),
    (lambda d: d["policies"]["duckdb"].update(max_temp_directory_size="80%"), f"{DUCK}.max_temp_directory_size: '80%' is not a size"),
    (lambda d: d["policies"]["duckdb"].update(threads=0), f"{DUCK}.threads: 0 is out of range (1 to 256)"),
    (lambda d: d["policies"]["duckdb"].update(threads=-3), f"{DUCK}.threads: -3 is out of range (1 to 256)"),
    (lambda d: d["policies"]["duckdb"].update(threads=100_000), f"{DUCK}.threads: 100000 is out of range"),
    (lambda d: d["policies"]["duckdb"].update(threads="2"), f"{DUCK}.threads: expected int, got str"),
    # the correlation key pattern: RE2 syntax
    (lambda d: d["correlation"].update(key_pattern="(unclosed"), "correlation.key_pattern: invalid regular expression"),
    (lambda d: d["correlation"].update(key_pattern=r"(int)_\1"), "correlation.key_pattern: invalid regular expression (RE2 syntax): invalid escape sequence"),
    (lambda d: d["correlation"].update(key_pattern="int_(?=x)"), "correlation.key_pattern: invalid regular expression (RE2 syntax)"),
    (lambda d: d["correlation"].update(key_pattern=""), "correlation.key_pattern: expected 1 to 1000 characters"),
    (lambda d: d["correlation"].update(flags="i"), "correlation.flags: unknown key"),
    (lambda d: d.update(version=2), "version: only version 1"),
    # prevention lines: a known type, refined for a declared workflow or system, with text
    (lambda d: d.update(prevention=["store receipts"]), "prevention: expected dict, got list"),
    (lambda d: d["prevention"].update(lost_receipt={}), "prevention.lost_receipt: 'lost_receipt' is not a mismatch type"),
    (lambda d: d["prevention"]["receipt_missing"].update(runs={}), "prevention.receipt_missing.runs: unknown key"),
    (lambda d: d["prevention"]["receipt_missing"]["workflows"].update(billing="x"),
     "prevention.receipt_missing.workflows.billing: 'billing' is not declared under catalog"),
    (lambda d: d["prevention"]["receipt_missing"]["systems"].update(paypal="x"),
     "prevention.receipt_missing.systems.paypal: 'paypal' is not declared under systems"),
    (lambda d: d["prevention"]["receipt_missing"]["systems"].update(zendesk="  "),
     "prevention.receipt_missing.systems.zendesk: expected a non-empty prevention line"),
    (lambda d: d["prevention"]["duplicate_effect"]["workflows"].update(refund_order=7),
     "prevention.duplicate_effect.workflows.refund_order: expected str, got int"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_VALUES)
def test_invalid_config_names_the_key(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        load_config(write(tmp_path, mutate))


NESTED = "[" * 5_000 + "]" * 5_000
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6))
# The demo config's line of Stripe's object type: the UTF-8 error names it.
OBJECT_TYPE_LINE = DEMO.read_text().splitlines().index("    object_type: refund") + 1
BAD_TEXT = [  # (text to replace, its replacement, the start of the message or a pattern; {root}: the workspace)
    ("object_type: refund", b"object_type: r\xe9fund", f"systems.stripe.object_type: not valid UTF-8 (line {OBJECT_TYPE_LINE}:"),
    ("object_type: refund", 'object_type: "r\\ud800"', "systems.stripe.object_type: contains the control character or lone surrogate"),
    ("    system: stripe\n", "    system: stripe\n    observed_at: 9999-12-31T23:59:59-23:59\n",
     "sources.stripe_refunds.observed_at: '9999-12-31T23:59:59-23:59' is out of range"),
    ("    system: stripe\n", "    system: stripe\n    options: !!set {a}\n", "sources.stripe_refunds.options: expected text"),
    ("    system: stripe\n", "    system: stripe\n    options: {x: !!binary aGk=}\n", "sources.stripe_refunds.options.x: expected text"),
    ("    system: stripe\n", "    system: stripe\n    options: {x: !!timestamp 2024-01-01}\n", "sources.stripe_refunds.options.x: expected text"),
    # the file, for what YAML itself cannot build; the value reached past the limit, for a billion laughs
    ("    system: stripe\n", f"    system: stripe\n    options: {{x: {NESTED}}}\n", "{root}/reckon.yaml: not valid YAML: RecursionError"),
    # (the path to the value past the limit depends on how many values the demo config holds)
    ("version: 1\n", "version: 1\n" + LAUGHS, re.compile(r"g(\[[0-9]\]){7}: more than 100000 values in reckon\.yaml")),
    # found by tests/fuzz/test_fuzz_config.py: tags PyYAML cannot build crash inside it
    ("catalog:", "!!timestamp catalog:", "{root}/reckon.yaml: not valid YAML: AttributeError"),
    ("compensate_orphans: false", "compensate_orphans: !!bool maybe", "{root}/reckon.yaml: not valid YAML: KeyError"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_TEXT)
def test_invalid_text_names_the_key(tmp_path, old, new, message):
    pattern = message.pattern if isinstance(message, re.Pattern) else re.escape(message.format(root=tmp_path))
    with pytest.raises(ConfigError, match="^" + pattern):
        load_config(write_text(tmp_path, old, new))


@pytest.mark.parametrize("value", ["4GB", "4 GB", "1.5gb", "512MiB", "64MB", "2TiB"])
def test_every_size_the_grammar_accepts_is_one_duckdb_takes(tmp_path, value):
    import duckdb

    cfg = load_config(write(tmp_path, lambda d: d["policies"]["duckdb"].update(memory_limit=value, max_temp_directory_size=value)))
    duckdb.connect(config={"memory_limit": cfg.policies.memory_limit,
                           "max_temp_directory_size": cfg.policies.max_temp_directory_size}).close()


def test_durations_in_range_load(tmp_path):
    def mutate(d):
        d["systems"]["stripe"].update(settle_window=0, natural_key_window="3650d", idempotency_ttl="1.5 h")
        d["sources"]["stripe_refunds"]["observed_at"] = "2026-11-30T08:00:00Z"

    cfg = load_config(write(tmp_path, mutate))
    assert cfg.systems["stripe"].idempotency_ttl.total_seconds() == 5400
    assert cfg.systems["stripe"].natural_key_window.days == 3650



def test_a_pathological_key_pattern_runs_in_linear_time(tmp_path):
    """`(a+)+$` backtracks exponentially in Python's `re`: a 34-character value that almost
    matches did not finish in 90 s. The connectors get the pattern from the config, and it
    is matched by RE2."""
    cfg = write(tmp_path, lambda d: d["correlation"].update(key_pattern="(a+)+$"))
    ws = Workspace.open(cfg)
    source = next(s for s in ws.config.sources if s.name == "stripe_refunds")
    reader = CONNECTORS[source.connector](source_options(ws, source))
    start = time.perf_counter()
    with within(5):
        assert reader.markers(["a" * 33 + "!", "a" * 34, "int_1"]) == ["a" * 34]
    assert time.perf_counter() - start < 0.5


def test_invalid_configuration_exits_2_naming_the_key(tmp_path, capsys):
    ws = write_text(tmp_path, "threads: 2", "threads: 0")
    assert main(["audit", "--workspace", str(ws)]) == 2
    assert "policies.duckdb.threads: 0 is out of range" in capsys.readouterr().err


def test_missing_config_says_how_to_get_one(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path)


def test_the_s3_inventory_key_pattern_runs_in_linear_time():
    """`options.correlation_key_from_key` (a connector option, also from reckon.yaml) too."""
    reader = CONNECTORS["s3_inventory"](SourceOptions(source="s3", options={"correlation_key_from_key": "(a+)+$"}))
    with within(5):
        slow = reader.object_row({"Bucket": "b", "Key": "a" * 33 + "!"}, datetime.now(UTC))
    assert slow["correlation_keys"] == []
    assert reader.object_row({"Bucket": "b", "Key": "a" * 34}, datetime.now(UTC))["correlation_keys"] == ["a" * 34]


def test_a_value_with_a_lone_surrogate_is_no_marker(tmp_path):
    """RE2 reads UTF-8: a JSON value holding half a surrogate pair is matched as its bytes."""
    ws = Workspace.open(write(tmp_path, lambda d: None))
    source = next(s for s in ws.config.sources if s.name == "stripe_refunds")
    reader = CONNECTORS[source.connector](source_options(ws, source))
    assert reader.markers(["int_\ud800", "int_1"]) == ["int_1"]
