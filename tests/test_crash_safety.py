"""An audit killed with SIGKILL at any point leaves nothing partial visible, and its rerun
gives exactly what a clean run gives. See tests/crash/harness.py; `pytest -s` prints the
kill table."""

from __future__ import annotations

from tests.crash.harness import PHASES, Harness

SEED = 20261125


def test_audits_killed_at_random_points_rerun_to_the_clean_result(tmp_path):
    report = Harness(tmp_path, seed=SEED, runs=250).run(fresh=12, reused=10)
    print("\n" + report.table())

    assert not report.failures, "\n".join(report.failures)
    assert len(report.kills) >= 20
    counts = report.phase_counts()
    assert all(counts.get(phase) for phase in PHASES), f"phases not hit: {counts}"
    # after every kill on a fresh copy and after the sequence on one workspace
    assert report.reruns >= 10 and report.reruns_identical == report.reruns
