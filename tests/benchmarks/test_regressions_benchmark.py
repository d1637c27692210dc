"""`python -m benchmarks.regressions` runs its closed loops on `decide` and prints its table: a stable
job per seed and one per slow-down factor, each counted (small: two seeds, one noise, one factor)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_regressions_benchmark_prints_its_table_and_raw_loops(tmp_path: Path) -> None:
    raw = tmp_path / "raw.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.regressions", "--seeds", "2", "--noise", "0.15",
                           "--factors", "1.5", "--workers", "1", "--raw", str(raw)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("0.15")]
    assert [row[1] for row in rows] == ["stable", "x1.5"], done.stdout
    loops = json.loads(raw.read_text())
    assert len(loops) == 4  # two seeds, stable and x1.5


def test_a_set_override_reaches_the_module_that_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--set CUSUM_GUARD_Z=0` turns off the sequential test's mean-shift check, which `models.drift`
    reads (`models.changes` re-exports it): set on `models.changes` alone, the loops kept the check."""
    from benchmarks import regressions
    from models import changes, drift, refusals
    from tests.models.test_models_changes_drift import KNOWN, SHORT_FAST_BASELINE, _runs

    for module in (changes, drift, refusals):  # `_one` sets them for its worker process; put back after
        for name in ("CUSUM_GUARD_Z", "REGRESSION_RATIO", "LAUNCH_REFUSALS"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, getattr(module, name))
    regressions._one((None, 0, 0.15, {"CUSUM_GUARD_Z": 0.0, "REGRESSION_RATIO": 1.2, "LAUNCH_REFUSALS": 4}))
    assert changes.REGRESSION_RATIO == drift.REGRESSION_RATIO == 1.2  # read by the rule and the sum
    assert changes.LAUNCH_REFUSALS == refusals.LAUNCH_REFUSALS == 4  # in a reason, and the streak's bar
    # With the check off, the sum alone rebases this job (tests/models/test_models_changes_drift.py).
    scr = changes.screen(_runs(SHORT_FAST_BASELINE[:17]), KNOWN, 0.05, 1.0)
    assert scr.change_kind == changes.RUNTIME_REGRESSION, scr
