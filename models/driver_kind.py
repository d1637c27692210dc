"""The driver for workers of another kind of hardware than the current driver (x86 and Graviton, say).

A cluster's driver and workers run on one CPU architecture (Databricks refuses "driver and worker
node types must have the same architecture"), so when the workers may move to another kind, the
driver moves with them. It is sized by the same rule (`models.driver.choose_driver`) and the same
runs, started from the current driver's counterpart of that kind (`counterpart`: the cheapest with
as much memory and as many vCPUs), as if the job ran on it: with no evidence the counterpart is
what it gets, and evidence shrinks or grows it from there as it would the current one. The reason
names the driver the cluster gets, from the one it has now.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from models.driver import DriverChoice, DriverOption, DriverRun, choose_driver


def counterpart(options: Sequence[DriverOption], current: DriverOption) -> DriverOption | None:
    """``current``'s counterpart among ``options`` (another kind of hardware): the cheapest with as much
    memory and as many vCPUs, else the cheapest with as much memory, else the largest; None without
    options."""
    big = [o for o in options if o.memory_gib >= current.memory_gib]
    same = [o for o in big if o.vcpus >= current.vcpus]
    return _cheapest(same) or _cheapest(big) or \
        max(options, key=lambda o: (o.memory_gib, -o.price_per_hour, o.node_type), default=None)


def choose_driver_across(options: Sequence[DriverOption], current: DriverOption, runs: Sequence[DriverRun], *,
                         kind: str, currency: str = "", turned_down: Collection[str] = (),
                         heap_set_gib: float = 0.0, heap_by_policy: bool = False) -> DriverChoice | None:
    """The driver for workers of ``kind`` (its words, for the reason) when ``current`` is of another:
    ``options`` are the drivers of ``kind``; the rest as `choose_driver`'s. Always a change (the kind
    is); None without options."""
    twin = counterpart(options, current)
    if twin is None:
        return None
    inner = choose_driver(options, twin, runs, currency=currency, turned_down=turned_down,
                          heap_set_gib=heap_set_gib, heap_by_policy=heap_by_policy)
    pick = inner.option
    # The rule's words say how it sized the driver from the counterpart ("driver T kept: ...", "driver
    # T -> P (16 GiB): ..."); the head names the move the cluster makes.
    rest = inner.reason.removeprefix(f"driver {twin.node_type} ")
    rest = rest.removeprefix("kept") if pick == twin else ": " + rest.partition("): ")[2]
    head = f"driver {current.node_type} -> {pick.node_type} ({pick.memory_gib:g} GiB)"
    where = f"its counterpart for the workers' {kind}" if pick == twin else \
        f"for the workers' {kind}, sized from {twin.node_type}, its counterpart there"
    return DriverChoice(pick, True, f"{head}, {where}{rest}", blocked=inner.blocked)


def _cheapest(options: Sequence[DriverOption]) -> DriverOption | None:
    return min(options, key=lambda o: (o.price_per_hour, o.memory_gib, o.node_type), default=None)
