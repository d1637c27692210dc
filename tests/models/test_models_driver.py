"""Driver sizing (`models.driver`): shrink on evidence one step at a time, grow after trouble."""

from __future__ import annotations

import dataclasses

import pytest

from models.driver import (
    EVIDENCE_RUNS,
    GC_ROOM,
    HEAP_SHARE,
    DriverOption,
    DriverRun,
    choose_driver,
    next_peak,
)

# AWS m5/c5/r5 sizes with made-up but ordered prices (per hour, one node): more memory costs more
# within a vCPU count, more vCPUs cost more.
OPTIONS = [
    DriverOption("c5.xlarge", 4, 8, 0.30), DriverOption("m5.xlarge", 4, 16, 0.35),
    DriverOption("r5.xlarge", 4, 32, 0.45), DriverOption("c5.2xlarge", 8, 16, 0.60),
    DriverOption("m5.2xlarge", 8, 32, 0.70), DriverOption("r5.2xlarge", 8, 64, 0.90),
    DriverOption("m5.4xlarge", 16, 64, 1.40), DriverOption("r5.4xlarge", 16, 128, 1.80),
    DriverOption("m5.large", 2, 8, 0.18),
]
BY = {o.node_type: o for o in OPTIONS}


def _ok(node: str, peak_gib: float, gc: float = 0.01) -> DriverRun:
    return DriverRun(node, BY[node].memory_gib, ok=True, peak_heap_gib=peak_gib, gc_share=gc)


def _settle(start: str, peak_gib: float, rounds: int = 6) -> list[str]:
    """Follow the rule run after run, the driver's use staying the same."""
    current, path, runs = BY[start], [start], []
    for _ in range(rounds):
        runs.append(_ok(current.node_type, peak_gib))
        choice = choose_driver(OPTIONS, current, runs)
        current = choice.option
        path.append(current.node_type)
    return path


def test_the_driver_is_kept_until_its_heap_was_measured_in_enough_runs() -> None:
    current = BY["r5.4xlarge"]
    runs = [DriverRun("r5.4xlarge", 128, ok=True)]  # no agent: no peaks
    runs += [_ok("r5.4xlarge", 2.0)] * (EVIDENCE_RUNS - 1)
    choice = choose_driver(OPTIONS, current, runs)
    assert not choice.changed and choice.option == current
    assert f"{EVIDENCE_RUNS - 1} of the {EVIDENCE_RUNS} runs" in choice.reason


def test_an_idle_driver_shrinks_at_most_by_half_per_step_to_the_cheapest_that_holds_its_peak() -> None:
    # 2 GiB peaks need 2 x 1.5 / 0.5 = 6 GiB of node memory; 4 vCPUs at least.
    path = _settle("r5.4xlarge", 2.0)
    # One measured run is not enough; then 128 -> 64 -> 32 -> 16 -> 8 GiB and there it stays.
    assert path == ["r5.4xlarge", "r5.4xlarge", "r5.2xlarge", "r5.xlarge", "m5.xlarge", "c5.xlarge",
                    "c5.xlarge"]  # c5.xlarge: 8 GiB >= 6 GiB, the cheapest with 4 vCPUs
    assert "m5.large" not in path  # 2 vCPUs: below the floor
    memory = [BY[p].memory_gib for p in path]
    assert all(b >= a / 2 for a, b in zip(memory, memory[1:], strict=False))
    choice = choose_driver(OPTIONS, BY["r5.4xlarge"], [_ok("r5.4xlarge", 2.0)] * 2)
    assert choice.changed and "peaked at 2.0 GiB in 2 runs" in choice.reason and "saves 0.90/h" in choice.reason


def test_steady_peaks_set_the_floor_and_varying_ones_widen_it() -> None:
    # Three runs at 7 GiB bound the next at 7 x 1.40 = 9.8 GiB: a heap of 9.8 x GC_ROOM in half a node
    # needs 24.5 GiB, so the cheapest driver with 32 GiB.
    steady = [_ok("r5.2xlarge", 7.0)] * 3
    assert next_peak([7.0] * 3, [0, 1, 2], 3) == pytest.approx(9.81, abs=0.01)
    choice = choose_driver(OPTIONS, BY["r5.2xlarge"], steady)
    assert choice.changed and choice.option.node_type == "r5.xlarge"  # 32 GiB, cheapest >= 24.5 GiB
    assert choice.option.memory_gib * HEAP_SHARE >= 9.8 * GC_ROOM
    assert "its heap peaked at 7.0 GiB in 3 runs, the next run's may reach 9.8 GiB (95% bound)" in choice.reason
    # A driver already at the cheapest that fits stays.
    assert not choose_driver(OPTIONS, BY["r5.xlarge"], steady).changed
    # The same largest peak among peaks that vary (3, 7, 3 GiB) says less of the next one: 64 GiB stays.
    varying = [_ok("r5.2xlarge", 3.0), _ok("r5.2xlarge", 7.0), _ok("r5.2xlarge", 3.0)]
    kept = choose_driver(OPTIONS, BY["r5.2xlarge"], varying)
    assert not kept.changed and "the next run's may reach 21 GiB" in kept.reason


def test_two_runs_are_thin_evidence_and_the_margin_narrows_as_runs_agree() -> None:
    # The review's hand setup: 2.2 and 2.1 GiB on a 16 GiB driver were enough to halve it to 8 GiB (a
    # 4 GiB heap); two runs bound the next at 4.7 GiB, which needs 11.7 GiB: the driver stays.
    runs = [_ok("m5.xlarge", 2.2), _ok("m5.xlarge", 2.13)]
    assert next_peak([2.2, 2.13], [0, 1], 2) == pytest.approx(4.69, abs=0.01)
    assert not choose_driver(OPTIONS, BY["m5.xlarge"], runs).changed
    # A third run that agrees narrows the bound to 3.05 GiB (7.6 GiB of node): then 8 GiB holds it.
    runs.append(_ok("m5.xlarge", 2.2))
    choice = choose_driver(OPTIONS, BY["m5.xlarge"], runs)
    assert choice.changed and choice.option.node_type == "c5.xlarge"
    # The bound only falls as agreeing runs add up, never below the largest peak seen.
    bounds = [next_peak([2.2] * n, list(range(n)), n) for n in range(1, 11)]
    assert all(a > b for a, b in zip(bounds, bounds[1:], strict=False)) and bounds[-1] > 2.2


def test_rising_peaks_are_extrapolated() -> None:
    # 20% more each run (the data grows): the trend bounds the next at 6.7 GiB, above what the same
    # peaks in another order bound it at (5.0 GiB), and a 16 GiB driver is not shrunk to 8 GiB.
    rising = [2.0, 2.4, 2.9, 3.5]
    assert next_peak(rising, [0, 1, 2, 3], 4) > next_peak([2.9, 2.0, 3.5, 2.4], [0, 1, 2, 3], 4) + 1.5
    assert next_peak(list(reversed(rising)), [0, 1, 2, 3], 4) == pytest.approx(next_peak([2.9, 2.0, 3.5, 2.4],
                                                                                      [0, 1, 2, 3], 4))
    runs = [_ok("r5.xlarge", p) for p in rising]
    choice = choose_driver(OPTIONS, BY["r5.xlarge"], runs)
    assert choice.option.memory_gib >= 16.7


def test_a_driver_that_died_is_doubled_and_never_used_again_within_the_window() -> None:
    runs = [_ok("m5.xlarge", 2.0), _ok("m5.xlarge", 2.5),
            DriverRun("m5.xlarge", 16, ok=False, driver_failed=True)]
    choice = choose_driver(OPTIONS, BY["m5.xlarge"], runs)
    assert choice.changed and choice.option.node_type == "r5.xlarge"  # cheapest with >= 32 GiB
    assert "died on m5.xlarge" in choice.reason
    # The bigger driver runs fine with small peaks: it does not go back to 16 GiB or less.
    runs += [_ok("r5.xlarge", 2.0), _ok("r5.xlarge", 2.0)]
    after = choose_driver(OPTIONS, BY["r5.xlarge"], runs)
    assert after.option.memory_gib > 16
    assert not after.changed


def test_driver_gc_pressure_grows_it_and_a_healthy_run_ends_the_pressure() -> None:
    runs = [_ok("m5.xlarge", 5.0), _ok("m5.xlarge", 5.2, gc=0.18)]
    choice = choose_driver(OPTIONS, BY["m5.xlarge"], runs)
    assert choice.changed and choice.option.memory_gib >= 32 and "18% of the last run in GC" in choice.reason
    runs.append(_ok("r5.xlarge", 5.0, gc=0.02))
    assert not choose_driver(OPTIONS, BY["r5.xlarge"], runs).changed


def test_no_larger_driver_allowed_keeps_the_current_one_and_says_why() -> None:
    small = [o for o in OPTIONS if o.memory_gib <= 16]
    runs = [DriverRun("m5.xlarge", 16, ok=False, driver_failed=True)]
    choice = choose_driver(small, BY["m5.xlarge"], runs)
    assert not choice.changed and "no larger driver is allowed" in choice.reason and choice.blocked
    assert not choose_driver(OPTIONS, BY["m5.xlarge"], runs).blocked  # a larger one exists: it grows


def test_a_current_driver_below_the_vcpu_floor_is_not_forced_up() -> None:
    runs = [_ok("m5.large", 0.5)] * 3
    choice = choose_driver(OPTIONS, BY["m5.large"], runs)
    assert not choice.changed and choice.option.node_type == "m5.large"


def test_a_run_whose_driver_died_is_explained_and_its_workers_are_not_avoided() -> None:
    from models.changes import screen
    from models.observation import Observation
    from models.space import Candidate

    known = {"a": Candidate("a", "m5.xlarge", 4, 16, 4, 1.0)}
    died = Observation("a", 300.0, ok=False, anomalies=("failure", "driver_lost"))
    plain = Observation("a", 300.0, ok=False, anomalies=("failure",))
    s = screen([died], known, 0.05, 1.0)
    assert s.failed_configs == frozenset() and s.learn == ()
    assert "the driver died" in s.explained["0:a"] and "workers are not blamed" in s.explained["0:a"]
    # A plain failure may be the configuration's own (e.g. out of memory): it is avoided.
    assert screen([plain], known, 0.05, 1.0).failed_configs == frozenset({"a"})


def test_memory_of_the_drivers_python_processes_must_fit_beside_the_heap() -> None:
    # A 1 GiB heap alone would fit a small driver; 6 GiB of Python (a toPandas) in two runs bounds the
    # next at 13 GiB, which with the node's own 2 GiB needs 30 GiB outside a half-heap node: 32 GiB.
    runs = [DriverRun("r5.2xlarge", 64, ok=True, peak_heap_gib=1.0, gc_share=0.01, peak_outside_gib=6.0)] * 2
    choice = choose_driver(OPTIONS, BY["r5.2xlarge"], runs)
    assert choice.changed and choice.option.node_type == "r5.xlarge"
    assert "its heap peaked at 1.0 GiB and its Python and other processes at 6.0 GiB in 2 runs" in choice.reason
    # Five runs of 2.5 GiB bound the next at 3.2 GiB: (2 + 3.2) / 0.5 = 10.3 GiB, a 16 GiB driver.
    lighter = [DriverRun("r5.xlarge", 32, ok=True, peak_heap_gib=1.0, gc_share=0.01, peak_outside_gib=2.5)] * 5
    assert choose_driver(OPTIONS, BY["r5.xlarge"], lighter).option.node_type == "m5.xlarge"


def test_a_node_too_small_for_the_os_and_the_python_beside_the_heap_is_never_chosen() -> None:
    # A tiny heap and Python: still 2 GiB for the OS, Databricks' services and the JVM's off-heap
    # outside a half-heap node, so no node under 4 GiB holds the driver, whatever it saves.
    six, tiny = DriverOption("c6.xlarge", 4, 6, 0.25), DriverOption("c6.large", 4, 3.5, 0.10)
    runs = [DriverRun("c6.xlarge", 6, ok=True, peak_heap_gib=0.3, gc_share=0.01)] * 10
    choice = choose_driver([six, tiny], six, runs)
    assert not choice.changed and "no cheaper driver holds that" in choice.reason
    assert choose_driver([six, dataclasses.replace(tiny, memory_gib=4.5)], six, runs).changed


def test_a_driver_out_of_memory_names_the_run_and_goes_back_at_least_to_the_last_driver_that_worked() -> None:
    # 64 GiB ran fine, then the job moved to an 8 GiB driver (a policy, a user) and died out of memory:
    # doubling (16 GiB) would try a size never seen to work; 64 GiB did.
    runs = [_ok("r5.2xlarge", 2.0), _ok("r5.2xlarge", 2.0),
            DriverRun("c5.xlarge", 8, ok=False, peak_heap_gib=3.9, driver_failed=True, out_of_memory=True,
                      run_id=22)]
    choice = choose_driver(OPTIONS, BY["c5.xlarge"], runs)
    assert choice.changed and choice.option.memory_gib >= 64
    assert choice.reason == "driver c5.xlarge -> r5.2xlarge (64 GiB): run 22 ran out of driver memory on c5.xlarge " \
                            "(8.0 GiB)"
    # A driver that died otherwise (unresponsive, lost) is named as such.
    lost = dataclasses.replace(runs[-1], out_of_memory=False)
    assert "run 22's driver died on c5.xlarge" in choose_driver(OPTIONS, BY["c5.xlarge"], [*runs[:2], lost]).reason


def test_peaks_before_a_driver_failure_are_not_evidence_to_shrink_after_it() -> None:
    # 16 GiB, quiet at 2 GiB; it died on 32 GiB (the job changed); back on 64 GiB one quiet run at 2 GiB
    # is all the evidence since: not enough to shrink, whatever the 2 GiB runs before said.
    runs = [_ok("r5.2xlarge", 2.0)] * 4 + [DriverRun("r5.xlarge", 32, ok=False, driver_failed=True,
                                                     out_of_memory=True, run_id=5), _ok("r5.2xlarge", 2.0)]
    choice = choose_driver(OPTIONS, BY["r5.2xlarge"], runs)
    assert not choice.changed and "measured in 1 of the 2 runs" in choice.reason


def test_reasons_name_the_currency_they_are_told() -> None:
    from models.money import money

    # A reason's amounts were bare ("saves 0.90/h", "cost 0.1273/run"): now in the prices' currency.
    assert money(0.9, "USD", ".2f") == "$0.90" and money(-0.5, "USD", ".2f") == "-$0.50"
    assert money(1.147, "EUR") == "1.147 EUR" and money(1.147, "") == "1.147"
    assert money(12345.6, "USD") == "$12,346" and money(float("nan"), "USD") == "unknown"
    assert money(-0.001, "USD", ".2f") == "$0.00"


def test_a_driver_below_its_own_bound_is_kept_until_a_run_comes_near_it_and_never_moved_sideways() -> None:
    # The review's hand setup, job 6: 7.2 and 7.4 GiB on a 32 GiB m5.2xlarge bound the next run at 16 GiB,
    # which needs 40 GiB of node: the current driver is below the rule's own bound, so a cheaper 32 GiB
    # r5.xlarge (half the cores) is no answer. Nor is a 64 GiB driver on two runs that never came near 32
    # GiB (7.4 GiB x 1.25 GC room of a half-node heap fits 32): it is kept, and says why.
    runs = [_ok("m5.2xlarge", 7.2), _ok("m5.2xlarge", 7.4)]
    choice = choose_driver(OPTIONS, BY["m5.2xlarge"], runs)
    assert not choice.changed and choice.option.node_type == "m5.2xlarge"
    assert choice.reason.startswith("driver m5.2xlarge kept: its heap peaked at 7.4 GiB in 2 runs")
    assert "no run came near it" in choice.reason
    # A run whose own peak leaves no room (13.1 GiB x 1.25 over a 16 GiB heap): the cheapest driver that
    # holds the bound, with the current driver's cores.
    runs = [_ok("m5.2xlarge", 12.9), _ok("m5.2xlarge", 13.0), _ok("m5.2xlarge", 13.1)]
    choice = choose_driver(OPTIONS, BY["m5.2xlarge"], runs)
    assert choice.changed and choice.option.memory_gib > 32 and choice.option.vcpus >= 8, choice.reason
    assert "more than its 32 GiB" in choice.reason and "vCPUs" not in choice.reason


def test_a_cheaper_driver_as_big_with_fewer_cores_is_not_taken() -> None:
    # The review's case a: ten runs peaking at 9 GiB hold on 32 GiB; a 32 GiB node with half the cores for
    # less is a price move, and a driver's cores are not the price's to decide.
    runs = [_ok("m5.2xlarge", 9.0) for _ in range(10)]
    choice = choose_driver(OPTIONS, BY["m5.2xlarge"], runs)
    assert not choice.changed and choice.option.node_type == "m5.2xlarge"
    assert choice.reason.startswith("driver m5.2xlarge kept: its heap peaked at 9.0 GiB in 10 runs")


def test_a_cheaper_driver_as_big_with_as_many_cores_is_taken() -> None:
    cheaper = DriverOption("m6g.2xlarge", 8, 32, 0.60)
    runs = [_ok("m5.2xlarge", 9.0) for _ in range(10)]
    choice = choose_driver([*OPTIONS, cheaper], BY["m5.2xlarge"], runs)
    assert choice.changed and choice.option == cheaper
    assert choice.reason == ("driver m5.2xlarge -> m6g.2xlarge (32 GiB): as much memory for less (its heap peaked "
                             "at 9.0 GiB in 10 runs, the next run's may reach 11 GiB); saves 0.10/h")


def test_a_cheaper_driver_as_big_that_cannot_hold_the_bound_is_not_taken() -> None:
    # The review's case a2: peaks of 14 GiB bound the next at 17 GiB, needing 42 GiB of node; no allowed
    # driver holds it, so the driver is kept and the reason says what it would need.
    cheaper = DriverOption("m6g.2xlarge", 8, 32, 0.60)
    options = [o for o in OPTIONS if o.memory_gib <= 32] + [cheaper]
    runs = [_ok("m5.2xlarge", 14.0) for _ in range(10)]
    choice = choose_driver(options, BY["m5.2xlarge"], runs)
    assert not choice.changed and choice.option.node_type == "m5.2xlarge"
    assert "needs 42 GiB of node and it has 32 GiB; no allowed driver holds that" in choice.reason


def test_a_shrink_to_fewer_cores_says_so() -> None:
    runs = [_ok("m5.2xlarge", 1.0) for _ in range(10)]
    choice = choose_driver(OPTIONS, BY["m5.2xlarge"], runs)
    assert choice.changed and choice.option.vcpus < 8
    assert "; 8 -> 4 vCPUs; saves" in choice.reason


def test_a_growth_after_trouble_keeps_the_drivers_cores_when_a_driver_with_as_many_holds_the_memory() -> None:
    fewer = DriverOption("x.xlarge", 4, 64, 0.80)
    runs = [_ok("m5.2xlarge", 9.0),
            DriverRun("m5.2xlarge", 32, ok=False, driver_failed=True, out_of_memory=True, run_id=7)]
    choice = choose_driver([*OPTIONS, fewer], BY["m5.2xlarge"], runs)
    assert choice.option.node_type == "r5.2xlarge"
    assert choice.reason == "driver m5.2xlarge -> r5.2xlarge (64 GiB): run 7 ran out of driver memory on m5.2xlarge (32 GiB)"
    # With only the 4-vCPU node big enough, it is taken and the reason says the cores go.
    choice = choose_driver([fewer, BY["m5.2xlarge"]], BY["m5.2xlarge"], runs)
    assert choice.option == fewer and choice.reason.endswith("; 8 -> 4 vCPUs")
