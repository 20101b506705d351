"""The verdicts hold whatever conventions the runtime and vendors follow: every combination
of the simulator's dimensions (where ids live, receipt spellings, the workflow's own field
vocabulary, actors known or not, the log's order, markers on updates) audited against the
same ground truth, with precision and recall 1.0 for every mismatch type, and every
suspicious run's reasons and verdict as labelled."""

from __future__ import annotations

from collections import Counter

import pytest

from simulator import Conventions
from tests.conftest import simulate_and_audit

EVERY = Conventions.every()


def per_type(found: set[tuple], labels: set[tuple]) -> dict[str, tuple[float, float]]:
    """mismatch type -> (precision, recall)."""
    hits = Counter(t for *_, t in found & labels)
    said, due = Counter(t for *_, t in found), Counter(t for *_, t in labels)
    return {t: (hits[t] / said[t] if said[t] else 1.0, hits[t] / due[t] if due[t] else 1.0) for t in said | due}


@pytest.mark.parametrize("conventions", EVERY, ids=lambda c: c.label)
def test_every_type_exactly_under_every_convention(tmp_path, conventions):
    a = simulate_and_audit(tmp_path / "ws", runs=70, seed=100 + EVERY.index(conventions), conventions=conventions)
    found = set(a.query("SELECT subject_kind, subject_id, mismatch_type FROM findings"))
    labels = a.labels()
    scores = per_type(found, labels)
    assert len(scores) >= 14  # every fault is in a workspace of 70 runs
    wrong = {t: s for t, s in scores.items() if s != (1.0, 1.0)}
    assert not wrong, f"{conventions.label}: (precision, recall) {wrong}; missed {sorted(labels - found)}; " \
                      f"extra {sorted(found - labels)}"
    clean = sorted(s["run_id"] for s in a.scenarios() if s["clean"])
    assert a.query("SELECT count(*) FROM findings WHERE list_contains(?, run_id)", [clean]) == [(0,)]
    # Suspicious runs: every reason and verdict as labelled, whatever the conventions.
    suspicious = {(s["run_id"], tuple(s["suspicious"]), s["verdict"]) for s in a.scenarios() if s["suspicious"]}
    found = a.query("SELECT run_id, list_sort(reasons), verdict FROM suspicious_runs")
    assert {(run, tuple(reasons), verdict) for run, reasons, verdict in found} == suspicious


def test_the_dimensions_change_what_the_workspace_holds(tmp_path):
    """Each convention really changes the files (a dimension that changed nothing would test nothing)."""
    base = simulate_and_audit(tmp_path / "base", runs=70, seed=5)
    for name, value in [("ids_on", "attempt"), ("receipts", "vendor"), ("vocabulary", "workflow"),
                        ("actors", "unknown"), ("log_order", "shuffled"), ("markers", "creates")]:
        other = simulate_and_audit(tmp_path / name, runs=70, seed=5, conventions=Conventions(**{name: value}))
        files = [*sorted(other.ws.landing.rglob("*")), other.ws.root / "reckon.yaml"]
        differs = [p for p in files
                   if p.is_file() and p.read_bytes() != (base.ws.root / p.relative_to(other.ws.root)).read_bytes()]
        assert differs, name
        assert other.labels() == base.labels()  # the truth does not depend on the conventions
