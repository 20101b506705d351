"""What the executor's tests share: a simulated, audited workspace copied per test, the mock
vendors seeded from it, approvals, and reading back the ledger and the feedback events."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from connectors.live import ApiSettings
from executor.plan import load_plan
from simulator.vendor_api import VendorServer, from_workspace

TOKEN_ENV = "RECKON_TEST_VENDOR_TOKEN"
VENDORS = ("stripe", "sendgrid", "hubspot", "zendesk")  # the simulated systems are named after them


class FakeClock:
    """Monotonic time that moves only when slept: a Retry-After is measured, not waited."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def copy_workspace(source: Path, target: Path) -> Path:
    """A fresh copy of an audited workspace (the labels beside it are not needed)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".reckon.lock"))
    return target


def plan_path(root: Path) -> Path:
    (path,) = sorted((root / "exports").glob("repair-plan-*.jsonl"))
    return path


def plan(root: Path) -> list[dict[str, Any]]:
    return load_plan(plan_path(root))


@contextmanager
def vendors(root: Path) -> Iterator[VendorServer]:
    """The mock vendors holding what the workspace's exports show, on 127.0.0.1."""
    with from_workspace(root, hard_timeout=120) as server:
        yield server


def api_settings(server: VendorServer, **options: Any) -> dict[str, ApiSettings]:
    settings = {"rate_per_second": 10_000.0, "burst": 10_000, **options}
    return {name: ApiSettings(name, server.url, TOKEN_ENV, **settings) for name in VENDORS}


def configure_apis(root: Path, server: VendorServer, max_retries: int = 2) -> None:
    """Point every system of the workspace's reckon.yaml at the mock vendors (`systems.<name>.api`)."""
    path = root / "reckon.yaml"
    config = yaml.safe_load(path.read_text())
    for name in VENDORS:
        config["systems"][name]["api"] = {"base_url": server.url, "credentials_env": TOKEN_ENV,
                                          "rate_per_second": 10_000, "burst": 10_000, "max_retries": max_retries,
                                          "timeout": 5}  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def approve(root: Path, actions: list[dict[str, Any]], name: str = "test.jsonl") -> None:
    folder = root / "approvals"
    folder.mkdir(exist_ok=True)
    lines = [{"action_id": a["action_id"], "approved_by": "ops.lead", "approved_at": "2026-12-01T09:00:00Z",
              "note": "test"} for a in actions]  # fmt: skip
    with (folder / name).open("a") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)


def ledger(root: Path) -> list[dict[str, Any]]:
    """The ledger's whole lines (a killed executor may have left half of one at the end)."""
    path = root / "executor" / "ledger.jsonl"
    whole = path.read_text().rpartition("\n")[0] if path.exists() else ""
    return [json.loads(line) for line in whole.splitlines()]


def states(root: Path) -> dict[str, str]:
    return {entry["action_id"]: entry["state"] for entry in ledger(root)}


def feedback(root: Path) -> list[dict[str, Any]]:
    """Every feedback event the executor wrote, in file order."""
    return [json.loads(line) for path in sorted((root / "landing" / "executor").glob("*.jsonl"))
            for line in path.read_text().splitlines()]  # fmt: skip


def writes(server: VendorServer) -> list[tuple[str, str, str]]:
    """(vendor, method, path) of every request that asks for a change (HubSpot's search is a POST)."""
    with server.lock:
        return [(r.vendor, r.method, r.path) for r in server.requests
                if r.method in ("POST", "PATCH", "PUT", "DELETE") and not r.path.endswith("/search")]  # fmt: skip
