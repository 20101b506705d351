"""On simulated workspaces every mismatch type is found exactly where it was injected."""

from __future__ import annotations

import pytest

from tests import contract

SEEDS = [1, 2, 3, 11]


def taxonomy_types() -> set[str]:
    """The mismatch types of docs/contract.md."""
    return set(contract.mismatch_types())


@pytest.mark.parametrize("seed", SEEDS)
def test_findings_match_labels_exactly(audited, seed):
    a = audited(seed)
    found = set(a.query("SELECT subject_kind, subject_id, mismatch_type FROM findings"))
    labels = a.labels()
    missed, extra = labels - found, found - labels
    assert not missed and not extra, f"missed {sorted(missed)}; extra {sorted(extra)}"
    precision = len(found & labels) / len(found)
    recall = len(found & labels) / len(labels)
    assert (precision, recall) == (1.0, 1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_runs_produce_no_findings(audited, seed):
    a = audited(seed)
    clean = {s["run_id"] for s in a.scenarios() if s["clean"]}
    assert len(clean) > 50
    dirty = a.query(
        "SELECT DISTINCT run_id FROM findings WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(clean)]
    )
    assert dirty == []


def test_every_taxonomy_type_is_found(audited):
    types = taxonomy_types()
    assert len(types) == 15
    found = {t for seed in SEEDS for (t,) in audited(seed).query("SELECT DISTINCT mismatch_type FROM findings")}
    assert found == types


def test_one_primary_finding_per_subject(audited):
    a = audited(1)
    dupes = a.query("SELECT subject_kind, subject_id FROM findings GROUP BY ALL HAVING count(*) > 1")
    assert dupes == []


def test_findings_carry_taxonomy_columns(audited):
    a = audited(1)
    cols = [r[0] for r in a.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'findings'")]
    required = ["finding_id", "audit_id", "subject_kind", "subject_id", "run_id", "workflow", "system",
                "mismatch_type", "repair_pattern", "rule_id", "severity", "intended", "recorded", "observed",
                "evidence", "detected_at", "first_seen_at", "status"]
    assert [c for c in required if c not in cols] == []
    # intended/recorded/observed/evidence are JSON objects for every finding
    bad = a.query("SELECT finding_id FROM findings WHERE NOT (json_valid(intended) AND json_valid(recorded) "
                  "AND json_valid(observed) AND json_valid(evidence) AND json_type(evidence) = 'OBJECT')")
    assert bad == []


def test_quarantine_is_counted_in_the_audit(audited):
    a = audited(1)
    # the simulator plants two malformed workflow-log lines; the rest is audited
    rows = a.query("SELECT source, source_file, source_record, reason FROM quarantine ORDER BY source_record")
    assert len(rows) == 2 and all(r[0] == "workflow_log" and r[2] > 0 and r[3] for r in rows)
    assert a.audit["quarantined"] == 2
    assert a.audit["intents"] > 200
