"""A project's tuning settings as the decision core (`models.decide`) reads them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """A project's tuning settings (see PRODUCT.md) plus the optimizer's risk attitude."""

    sla_s: float | None
    learning_budget: int = 3
    p_target: float = 0.9
    auto_apply: bool = True
    explore_horizon: float = 100.0  # future runs over which a discovered saving pays back
    # An SLA miss costs this many runs of the recommended configuration. It prices the risk of an
    # exploratory run: at 10 a run that meets the SLA with P=0.4 must be expected to save >= 6% a
    # run over explore_horizon, one with P=0.25 >= 7.5%, while a near-certain one needs little.
    miss_penalty: float = 10.0
    p_learn: float = 0.6  # see miss_badly
    # An exploratory run (optimizing) must meet the SLA with at least this P: a floor under the
    # priced risk. 0.4 with miss_penalty 3 cut off every run below P=0.4 however much it could
    # save, and charged little for a miss above it; 0.25 with 10 spends about the same misses on
    # the runs that can save most (tuning benchmark: P@6/P@10 +0.015/+0.014, misses +0.01).
    p_explore: float = 0.25
    # False: P(the configuration's typical runtime <= SLA) >= p_target (uncertainty about the
    # configuration). True: P(one run <= SLA) >= p_target, which also charges run-to-run noise.
    sla_per_run: bool = False
    miss_badly: float = 1.25  # a designed learning run must have P(runtime <= miss_badly x SLA) >= p_learn
    # An exploratory run must be expected to save at least this share of the recommendation's cost
    # per run. Without an SLA nothing else stops exploring, and on a noisy job the knowledge gradient
    # stays at 0.5-1% for many runs: the job would change clusters every night to chase savings
    # below its run-to-run noise. On the tuning benchmark, 1% left P@6 and misses unchanged.
    min_saving: float = 0.01
    # The candidates' prices' currency, named in reasons ("": amounts shown bare).
    currency: str = ""
    # What reasons call ``sla_s``: "working SLA" while the owner's is out of reach (`_working_sla`),
    # so a reason never reads as if the owner's SLA were met.
    sla_name: str = "SLA"
    # True: once the SLA is out of reach on the job's own evidence (`_sla_unlikely`), the plan aims at
    # a working SLA near the fastest measured runtime and searches for the cheapest that meets it.
    # False: the fastest measured configuration runs every run (P near 0), for an owner who would rather
    # pay for the fastest than have Trimtab settle for a near miss.
    working_sla: bool = True
