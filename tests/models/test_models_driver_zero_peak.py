"""A driver heap peak of zero is a metric that was missing, not a driver that used nothing.

An event log whose samples lack ``JVMHeapMemory`` (or a writer that reads a missing metric as 0)
gave peaks of 0.0 GiB, which counted as measured runs: two of them bounded the next peak at 0 and
halved a 128 GiB driver whose use nobody had seen."""

from __future__ import annotations

import pytest

from models.driver import EVIDENCE_RUNS, DriverOption, DriverRun, choose_driver

OPTIONS = [DriverOption("m5.xlarge", 4, 16, 0.35), DriverOption("r5.2xlarge", 8, 64, 0.90),
           DriverOption("r5.4xlarge", 16, 128, 1.80)]
CURRENT = OPTIONS[-1]


def _run(peak: float | None) -> DriverRun:
    return DriverRun("r5.4xlarge", 128, ok=True, peak_heap_gib=peak, gc_share=0.01)


@pytest.mark.parametrize("peak", [0.0, -1.0])
def test_runs_whose_heap_peak_is_not_positive_are_no_evidence_to_shrink(peak: float) -> None:
    choice = choose_driver(OPTIONS, CURRENT, [_run(peak)] * 3)
    assert not choice.changed and choice.option == CURRENT
    assert f"measured in 0 of the {EVIDENCE_RUNS} runs" in choice.reason


def test_a_zero_peak_beside_a_real_one_leaves_one_measured_run() -> None:
    choice = choose_driver(OPTIONS, CURRENT, [_run(2.0), _run(0.0), _run(None)])
    assert not choice.changed and "measured in 1 of the" in choice.reason
    # Two real peaks are evidence, zeros among them or not: the rule sizes on them alone.
    sized = choose_driver(OPTIONS, CURRENT, [_run(2.0), _run(0.0), _run(2.0)])
    assert sized.changed and "its heap peaked at 2.0 GiB in 2 runs" in sized.reason
