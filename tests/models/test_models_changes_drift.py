"""Slow regressions whose runs straddle the slow-run rule's bar (a lasting x1.3 at 15% noise) are
added up by the screen's sequential test (`models.drift._Cusum`); a short baseline that happened
to be fast is not read as one. Both histories are closed loops of `benchmarks/regressions.py`
(`decide` on the synthetic job, every-run SLA 960 s), runtimes rounded to the second."""

from __future__ import annotations

import pytest

from models import drift
from models.changes import RUNTIME_REGRESSION, screen
from models.observation import Observation
from tests.models.models_synth import grid

KNOWN = {c.config_id: c for c in grid()}


def _runs(runs: list[tuple[str, float]]) -> list[Observation]:
    return [Observation(config, runtime_s, True, input_gb=100.0) for config, runtime_s in runs]


# x1.3 from run 9 (index 8) at 20% noise (seed 24 at 20%): 12xc.2x, measured four times before,
# runs 1.83x, 1.20x, 1.45x, 1.80x, 1.72x, 1.31x and 2.15x of its baseline's geometric mean. The
# slow-run rule's bar is three of the job's sds (~1.8x): it opens a suspect twice and a run under the
# bar clears each. Before the sequential test this loop was never rebased (12 runs followed).
STRADDLING_X13 = [
    ("6xc.4x", 738), ("24xc.2x", 424), ("12xc.2x", 465), ("8xc.2x", 781), ("12xc.2x", 549),
    ("12xc.2x", 561), ("8xc.2x", 914), ("12xc.2x", 455),
    ("12xc.2x", 926), ("12xc.2x", 609), ("12xc.2x", 735), ("12xc.2x", 911), ("12xc.2x", 872),
    ("12xc.2x", 665), ("12xc.2x", 1087),
]

# No change at 15% noise (seed 3): 12xc.2x's three runs before the sum opens drew -0.38, -0.07 and
# -0.30 in log (a baseline 0.25 fast), its later runs near its true mean and quiet (the noise read
# as a median: 9%). Judged run by run against that baseline the CUSUM saw a steady 1.29x and rebased
# at run 17; ten runs sharing one 3-run baseline's error are not ten independent draws.
SHORT_FAST_BASELINE = [
    ("6xc.4x", 765), ("12xc.2x", 400), ("24xc.2x", 421), ("8xc.2x", 745), ("12xc.2x", 549),
    ("8xc.2x", 785), ("12xc.2x", 434), ("12xc.2x", 567), ("12xc.2x", 516), ("12xc.2x", 967),
    ("12xc.2x", 607), ("12xc.2x", 557), ("12xc.2x", 563), ("12xc.2x", 531), ("12xc.2x", 501),
    ("12xc.2x", 554), ("12xc.2x", 631), ("12xc.2x", 567), ("12xc.2x", 678), ("12xc.2x", 570),
    ("12xc.2x", 589), ("12xc.2x", 740), ("12xc.2x", 637), ("12xc.2x", 544),
]


def test_a_lasting_slow_down_that_straddles_the_bar_is_seen_from_its_first_run() -> None:
    history = _runs(STRADDLING_X13)
    # One run short the sum has not reached its bar (and the slow-run rule never fires here).
    assert screen(history[:-1], KNOWN, 0.05, 1.0).change_kind is None
    scr = screen(history, KNOWN, 0.05, 1.0)
    assert (scr.segment_start, scr.change_kind) == (8, RUNTIME_REGRESSION), scr
    assert "runtime regression from run #9 of the history" in (scr.change_reason or "")


def test_a_short_baseline_that_happened_to_be_fast_is_not_a_regression() -> None:
    history = _runs(SHORT_FAST_BASELINE)
    for n in range(1, len(history) + 1):
        assert screen(history[:n], KNOWN, 0.05, 1.0).change_kind is None, n


def test_without_the_baselines_error_the_short_fast_baseline_rebases(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the mean-shift check keeps away: the sum alone (its version of c2dbf9e) rebased this job.
    # Patched where `_Cusum._shift_stands` reads it (models.changes only re-exports it).
    monkeypatch.setattr(drift, "CUSUM_GUARD_Z", 0.0)
    scr = screen(_runs(SHORT_FAST_BASELINE[:17]), KNOWN, 0.05, 1.0)
    assert (scr.segment_start, scr.change_kind) == (7, RUNTIME_REGRESSION), scr
