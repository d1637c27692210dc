"""A job that sets ``spark.driver.memory`` in its spark_conf gets that heap whatever the node: the
driver never moves to a node that cannot hold it beside what is not heap (the JVM would be killed
once its heap fills, or not start), and the reason says when that setting is what holds it."""

from __future__ import annotations

from models.driver import NODE_RESERVED_GIB, DriverOption, DriverRun, choose_driver

OPTIONS = [
    DriverOption("c5.xlarge", 4, 8, 0.30), DriverOption("m5.xlarge", 4, 16, 0.35),
    DriverOption("r5.xlarge", 4, 32, 0.45), DriverOption("m5.2xlarge", 8, 32, 0.70),
    DriverOption("r5.2xlarge", 8, 64, 0.90), DriverOption("r5.4xlarge", 16, 128, 1.80),
]
BY = {o.node_type: o for o in OPTIONS}


def _ok(node: str, peak: float, outside: float = 0.0) -> DriverRun:
    return DriverRun(node, BY[node].memory_gib, ok=True, peak_heap_gib=peak, gc_share=0.01,
                     peak_outside_gib=outside)


def _settle(start: str, peak: float, heap_set: float, rounds: int = 6) -> list[str]:
    current, path, runs = BY[start], [start], []
    for _ in range(rounds):
        runs.append(_ok(current.node_type, peak))
        current = choose_driver(OPTIONS, current, runs, heap_set_gib=heap_set).option
        path.append(current.node_type)
    return path


def test_a_driver_never_shrinks_below_the_heap_the_job_sets_and_the_reserve() -> None:
    # 2 GiB peaks alone take a 128 GiB driver down to 8 GiB; with spark.driver.memory 24g the node
    # must keep 24 + 2 GiB: it stops at 32 GiB.
    assert _settle("r5.4xlarge", 2.0, 0.0)[-1] == "c5.xlarge"
    path = _settle("r5.4xlarge", 2.0, 24.0)
    assert path[-1] == "r5.xlarge" and all(BY[p].memory_gib >= 24.0 + NODE_RESERVED_GIB for p in path)


def test_the_reason_says_the_setting_holds_the_driver() -> None:
    runs = [_ok("r5.xlarge", 2.0)] * 3
    choice = choose_driver(OPTIONS, BY["r5.xlarge"], runs, heap_set_gib=24.0)
    assert choice.option.node_type == "r5.xlarge" and not choice.changed
    assert choice.noted  # the recommendation names it: the owner may lower the setting
    assert choice.reason.startswith("driver r5.xlarge kept: the job's spark_conf sets spark.driver.memory to "
                                    "24 GiB, which needs a node of 26 GiB"), choice.reason
    assert "its runs alone would take it to m5.xlarge (16 GiB): its heap peaked at 2.0 GiB" in choice.reason
    # A setting the node holds anyway changes nothing and is not named.
    unset = choose_driver(OPTIONS, BY["r5.xlarge"], runs)
    small = choose_driver(OPTIONS, BY["r5.xlarge"], runs, heap_set_gib=4.0)
    assert small == unset and not small.noted and "spark.driver.memory" not in small.reason


def test_a_shrink_stopped_short_by_the_setting_names_it() -> None:
    runs = [_ok("r5.2xlarge", 2.0)] * 3
    # The runs alone: 64 -> 32 GiB (one step, r5.xlarge); the setting (40 GiB) needs 42 GiB: no smaller
    # one, so it stays; and the cheaper 32 GiB r5.xlarge is named as what the runs wanted.
    choice = choose_driver(OPTIONS, BY["r5.2xlarge"], runs, heap_set_gib=40.0)
    assert choice.option.node_type == "r5.2xlarge" and not choice.changed and choice.noted
    assert "spark.driver.memory to 40 GiB, which needs a node of 42 GiB" in choice.reason
    assert "take it to r5.xlarge (32 GiB)" in choice.reason


def test_a_driver_grown_after_trouble_holds_the_setting_too() -> None:
    died = DriverRun("m5.xlarge", 16, ok=False, driver_failed=True, out_of_memory=True, run_id=7)
    free = choose_driver(OPTIONS, BY["m5.xlarge"], [died])
    assert free.option.node_type == "r5.xlarge"  # twice 16 GiB
    held = choose_driver(OPTIONS, BY["m5.xlarge"], [died], heap_set_gib=40.0)
    assert held.changed and held.option.node_type == "r5.2xlarge"
    assert held.reason.startswith("driver m5.xlarge -> r5.2xlarge (64 GiB): run 7 ran out of driver memory")
    assert held.reason.endswith("not r5.xlarge (32 GiB): the job's spark_conf sets spark.driver.memory to 40 GiB, "
                                "which needs a node of 42 GiB with the OS, Databricks' services and the Python "
                                "processes beside it")


def test_the_python_beside_the_set_heap_counts_in_what_the_node_must_hold() -> None:
    # 24 GiB of heap + 2 GiB reserve + the bound of 6 GiB of Python (> 32 GiB): 64 GiB stays.
    runs = [_ok("r5.2xlarge", 2.0, outside=6.0)] * 3
    assert choose_driver(OPTIONS, BY["r5.2xlarge"], runs).option.node_type == "r5.xlarge"
    held = choose_driver(OPTIONS, BY["r5.2xlarge"], runs, heap_set_gib=24.0)
    assert held.option.node_type == "r5.2xlarge" and held.noted
