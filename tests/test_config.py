"""reckon.yaml is validated on load, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reckon.config import ConfigError, load_config

DEMO = Path(__file__).resolve().parents[1] / "simulator" / "reckon.yaml"


def write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    mutate(data)
    (tmp_path / "reckon.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_demo_config_loads():
    cfg = load_config(DEMO.parent)
    assert {s.name for s in cfg.sources} >= {"workflow_log", "stripe_refunds"}
    assert cfg.workflows["refund_order"].steps[0].reversible
    assert cfg.systems["stripe"].settle_window.total_seconds() == 3600


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["sources"]["stripe_refunds"].update(connector="paypal"), "sources.stripe_refunds.connector: unknown connector 'paypal'"),
        (lambda d: d["sources"]["stripe_refunds"].pop("system"), "sources.stripe_refunds.system: required"),
        (lambda d: d["sources"]["stripe_refunds"].update(paths=["../elsewhere/*.json"]), "sources.stripe_refunds.paths[0]"),
        (lambda d: d["sources"]["stripe_refunds"].update(paths=["/etc/*.json"]), "must be a relative path inside the workspace"),
        (lambda d: d["systems"]["stripe"].update(settle_window="soon"), "systems.stripe.settle_window: 'soon' is not a duration"),
        (lambda d: d["systems"]["stripe"].update(colour="red"), "systems.stripe.colour: unknown key"),
        (lambda d: d["catalog"]["refund_order"]["steps"][0].update(action="stripe-refund"), "catalog.refund_order.steps[0].action"),
        (lambda d: d["catalog"]["refund_order"]["steps"][0].pop("compensation"), "names its compensation operation"),
        (lambda d: d["catalog"]["qualify_lead"]["steps"][0].update(action="salesforce.contact.update"), "system 'salesforce' is not declared"),
        (lambda d: d["policies"].update(quarantine_max_share=2), "policies.quarantine_max_share: must be between 0 and 1"),
        (lambda d: d["correlation"].update(key_pattern="(unclosed"), "correlation.key_pattern: invalid regular expression"),
        (lambda d: d["sources"]["stripe_refunds"].update(observed_at="yesterday"), "sources.stripe_refunds.observed_at"),
        (lambda d: d.update(version=2), "version: only version 1"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_config(write(tmp_path, mutate))


def test_missing_config_says_how_to_get_one(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path)
