"""Conventions the simulated runtime and vendors follow: one dimension each, so that tests
audit every combination against the same labels (the truth does not depend on them).

- `ids_on`: where the runtime writes an intent's idempotency key and target: on its
  declaration, on its action events (as most runtimes do: the key goes with each call),
  or on both;
- `receipts`: how it spells receipts and targets: as reckon's connectors read them
  (`canonical`), or as the vendor's API hands them out (`vendor`: SendGrid's full
  `sg_message_id` from the webhook, HubSpot and Zendesk ids as JSON numbers);
- `vocabulary`: whether `expected` names fields as the exports do (`vendor`) or in the
  workflow's own words (`workflow`: `to`, `template`, `status`, ...), mapped to the
  system's fields in reckon.yaml, plus one intended field no export shows;
- `actors`: whether HubSpot's export names who wrote last (`known`: propertiesWithHistory)
  or not (`unknown`), as Stripe and Zendesk never do;
- `log_order`: whether the workflow log's files hold the events in time order (`ordered`,
  a few neighbours swapped) or any event in any file (`shuffled`);
- `markers`: whether the agent writes its intent id into every object it touches (`all`)
  or only into those it creates (`creates`): an update is then found by its target alone.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, fields
from typing import Any

import yaml

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "ids_on": ("declaration", "attempt", "both"),
    "receipts": ("canonical", "vendor"),
    "vocabulary": ("vendor", "workflow"),
    "actors": ("known", "unknown"),
    "log_order": ("ordered", "shuffled"),
    "markers": ("all", "creates"),
}

# The workflow's own words for the systems' fields (`vocabulary: workflow`): intended field
# -> where reckon.yaml maps it (a raw-record path, `$state`, `$status`, `$fields.<name>`),
# as the system's export names it under `vendor`.
WORKFLOW_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    # system: {vendor field: (workflow field, mapping target)}
    "stripe": {"charge": ("charge_id", "charge"), "amount": ("amount_cents", "amount"),
               "currency": ("currency", "currency")},
    "sendgrid": {"email": ("to", "email"), "category": ("template", "category")},
    "hubspot": {"email": ("email_address", "properties.email"), "firstname": ("first_name", "properties.firstname"),
                "lastname": ("last_name", "$fields.lastname"), "lifecyclestage": ("stage", "properties.lifecyclestage"),
                "hs_lead_status": ("lead_status", "properties.hs_lead_status"),
                "hubspot_owner_id": ("owner", "properties.hubspot_owner_id"), "jobtitle": ("title", "properties.jobtitle")},
    "zendesk": {"status": ("state", "$status"), "subject": ("title", "subject"), "priority": ("urgency", "priority")},
}  # fmt: skip
# Intended fields a workflow adds in its own words: the outcome it wants, read through the
# system's status vocabulary, and a field no export shows (unverified, never a difference).
WORKFLOW_EXTRAS: dict[str, dict[str, Any]] = {
    "stripe": {"outcome": "refunded"},
    "sendgrid": {"status": "delivered", "locale": "en-US"},
}
EXTRA_MAPPINGS: dict[str, dict[str, Any]] = {
    "stripe": {"outcome": {"path": "$state", "values": {"refunded": "succeeded"}}},
    "sendgrid": {"status": "$state"},
}


@dataclass(frozen=True)
class Conventions:
    ids_on: str = "both"
    receipts: str = "canonical"
    vocabulary: str = "vendor"
    actors: str = "known"
    log_order: str = "ordered"
    markers: str = "all"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value not in DIMENSIONS[name]:
                raise ValueError(f"conventions.{name}: {value!r} is not one of {', '.join(DIMENSIONS[name])}")

    @classmethod
    def every(cls) -> list[Conventions]:
        """Every combination of the dimensions."""
        names = [f.name for f in fields(cls)]
        return [cls(**dict(zip(names, values, strict=True))) for values in itertools.product(*DIMENSIONS.values())]

    @property
    def label(self) -> str:
        return "-".join(asdict(self).values())

    @property
    def default(self) -> bool:
        return self == Conventions()

    def on_declaration(self) -> bool:
        return self.ids_on in ("declaration", "both")

    def on_actions(self) -> bool:
        return self.ids_on in ("attempt", "both")

    def marks_updates(self) -> bool:
        return self.markers == "all"

    def expected(self, system: str, values: dict[str, Any]) -> dict[str, Any]:
        """`expected` in this workflow's vocabulary."""
        if self.vocabulary == "vendor":
            return values
        names = WORKFLOW_FIELDS.get(system, {})
        return {names.get(k, (k,))[0]: v for k, v in values.items()} | WORKFLOW_EXTRAS.get(system, {})

    def id_value(self, system: str, external_id: str, sg_message_id: str | None = None) -> str | int:
        """A receipt or target as this runtime records it."""
        if self.receipts == "vendor":
            if system == "sendgrid" and sg_message_id:
                return sg_message_id
            if system in ("hubspot", "zendesk") and external_id.isdigit():
                return int(external_id)
        return external_id

    def config(self, text: str) -> str:
        """The demo reckon.yaml adapted to this workflow's vocabulary (unchanged for vendor)."""
        if self.vocabulary == "vendor":
            return text
        data = yaml.safe_load(text)
        for system, spec in data["systems"].items():
            names = WORKFLOW_FIELDS.get(system, {})
            mapping = {workflow: target for workflow, target in names.values()} | EXTRA_MAPPINGS.get(system, {})
            if mapping:
                spec["fields"] = mapping
            if "natural_key" in spec:
                spec["natural_key"] = [names.get(k, (k,))[0] for k in spec["natural_key"]]
        return yaml.safe_dump(data, sort_keys=False, width=100)
