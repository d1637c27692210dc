"""The driver for workers of another kind of hardware (`models.driver_kind`): the same rule over the
same runs, started from the current driver's counterpart of that kind, and a reason naming the
driver the cluster gets."""

from __future__ import annotations

from models.driver import DriverOption, DriverRun, choose_driver
from models.driver_kind import choose_driver_across, counterpart

X86 = [DriverOption("m5.xlarge", 4, 16, 0.35), DriverOption("m5.2xlarge", 8, 32, 0.70),
       DriverOption("r5.xlarge", 4, 32, 0.45), DriverOption("r5.2xlarge", 8, 64, 0.90)]
# Graviton: cheaper for the same size.
ARM = [DriverOption("c6g.xlarge", 4, 8, 0.22), DriverOption("m6g.xlarge", 4, 16, 0.28),
       DriverOption("r6g.xlarge", 4, 32, 0.36), DriverOption("c6g.2xlarge", 8, 16, 0.44),
       DriverOption("m6g.2xlarge", 8, 32, 0.56), DriverOption("r6g.2xlarge", 8, 64, 0.72)]
BY = {o.node_type: o for o in X86 + ARM}
GRAVITON = "arm64 (Graviton)"


def _ok(node: str, peak: float) -> DriverRun:
    return DriverRun(node, BY[node].memory_gib, ok=True, peak_heap_gib=peak, gc_share=0.01)


def test_the_counterpart_has_as_much_memory_and_as_many_cores_at_the_least_price() -> None:
    # r6g.xlarge has the memory for less, but half the cores: not a like-for-like driver.
    assert counterpart(ARM, BY["m5.2xlarge"]).node_type == "m6g.2xlarge"
    assert counterpart(ARM, BY["m5.xlarge"]).node_type == "m6g.xlarge"
    assert counterpart(ARM, DriverOption("r5.4xlarge", 16, 128, 1.8)).node_type == "r6g.2xlarge"  # the largest
    assert counterpart([], BY["m5.xlarge"]) is None
    assert choose_driver_across([], BY["m5.xlarge"], [], kind=GRAVITON) is None


def test_without_evidence_the_workers_kind_gets_the_counterpart_and_the_reason_names_it() -> None:
    choice = choose_driver_across(ARM, BY["m5.2xlarge"], [_ok("m5.2xlarge", 2.0)], kind=GRAVITON)
    assert choice is not None and choice.changed and choice.option.node_type == "m6g.2xlarge"
    assert choice.reason == ("driver m5.2xlarge -> m6g.2xlarge (32 GiB), its counterpart for the workers' arm64 "
                             "(Graviton): its heap was measured in 1 of the 2 runs needed to size it")


def test_evidence_sizes_the_other_kinds_driver_as_it_sizes_the_current_one() -> None:
    runs = [_ok("m5.2xlarge", 2.0)] * 3
    same_kind = choose_driver(X86, BY["m5.2xlarge"], runs)
    assert same_kind.option.node_type == "m5.xlarge"  # 32 -> 16 GiB, one step
    choice = choose_driver_across(ARM, BY["m5.2xlarge"], runs, kind=GRAVITON)
    assert choice is not None and choice.option.node_type == "m6g.xlarge"  # the same 16 GiB, 4 vCPUs
    assert choice.reason.startswith("driver m5.2xlarge -> m6g.xlarge (16 GiB), for the workers' arm64 (Graviton), "
                                    "sized from m6g.2xlarge, its counterpart there: its heap peaked at 2.0 GiB "
                                    "in 3 runs"), choice.reason
    # A bound the counterpart cannot hold grows it as it would the current driver.
    big = [_ok("m5.2xlarge", 13.0)] * 3  # 13 x 1.25 / 0.5 = 32.5 GiB: more than 32
    assert choose_driver(X86, BY["m5.2xlarge"], big).option.memory_gib == 64
    grown = choose_driver_across(ARM, BY["m5.2xlarge"], big, kind=GRAVITON)
    assert grown is not None and grown.option.node_type == "r6g.2xlarge" and "r6g.2xlarge (64 GiB)" in grown.reason


def test_after_a_driver_died_the_other_kinds_driver_is_doubled_from_the_one_that_died() -> None:
    died = DriverRun("m5.xlarge", 16, ok=False, driver_failed=True, out_of_memory=True, run_id=5)
    choice = choose_driver_across(ARM, BY["m5.xlarge"], [_ok("m5.xlarge", 3.0), died], kind=GRAVITON)
    assert choice is not None and choice.option.node_type == "r6g.xlarge"  # 32 GiB, as many cores
    assert "run 5 ran out of driver memory on m5.xlarge (16 GiB)" in choice.reason
    assert choice.reason.startswith("driver m5.xlarge -> r6g.xlarge (32 GiB), for the workers' arm64 (Graviton)")


def test_the_heap_the_job_sets_holds_on_the_other_kind_too() -> None:
    runs = [_ok("m5.2xlarge", 2.0)] * 3
    choice = choose_driver_across(ARM, BY["m5.2xlarge"], runs, kind=GRAVITON, heap_set_gib=24.0)
    assert choice is not None and choice.option.node_type == "m6g.2xlarge"  # 24 + 2 GiB: not 16 GiB
    assert "spark.driver.memory to 24 GiB" in choice.reason
    assert choice.reason.startswith("driver m5.2xlarge -> m6g.2xlarge (32 GiB), its counterpart for the workers'")
