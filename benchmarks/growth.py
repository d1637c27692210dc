"""What planning for the next run's forecast input (`models.growth`) buys a job whose data grows.

    python -m benchmarks.growth [--seeds 6] [--runs 12] [--sla-quantile 0.5] [--profile etl_join_aggregate]
        [--families c5d] [--scenarios x3-week,nightly-0.3pct,flat] [--jobs 2]

The world is the sandbox's simulator (`sandbox.sim.run.simulate_run`) running one workload profile
on the configurations the server would consider for a job imported on `benchmarks.agent_metrics`'s
``ANCHOR_SPEC`` (on demand, no spot losses). The profile's input grows 0.3% a day; each scenario
says which day's input run ``i`` reads (day 365 is a year after the profile's day 0):

- ``x3-week``: 52 days of growth per run, +17% a run, x3 in 7 runs (a nightly job whose table triples
  in a week);
- ``nightly-0.3pct``: one day per run, +0.3% a run (x3 a year);
- ``flat``: the same input every run.

Each run reaches `models.decide.decide` as the server sees it: runtime (cluster creation to
termination), outcome, the run's input size and its cluster setup time; the stage metrics are left
out (the replay is not what is measured here, and parsing every run's event log would triple the
time). The SLA is the ``--sla-quantile`` of the candidates' mean runtimes at the *last* run's input,
so a configuration meets it to the end, and Trimtab promises it for every run, as the product does. A search starts on a seeded random configuration (the user's
own), then follows decide for ``--runs`` runs; the two modes, forecast on (the product) and off
(planned for the latest run's input, as before), see the same start and the same luck: a run's
noise seed depends on the search seed and the run's index only, and is shared by both modes.

Per scenario and mode, means per search:
- ``opt misses``: runs chosen by an optimizing decision that exceeded the SLA or failed;
- ``misses``: every run Trimtab chose (learning too) that exceeded the SLA or failed;
- ``changes``: runs on another configuration than the run before;
- ``cost``: the runs' total cost (the candidates' all-in hourly price x runtime), and its ratio to the
  forecast-off mode's.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from typing import IO

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.agent_metrics import CONTEXT_ID, START_MS, candidate_space, spec_for
from models.decide import Settings, decide
from models.observation import Observation
from models.space import Candidate
from sandbox.sim.profiles import PROFILES
from sandbox.sim.run import simulate_run
from server.domain import ClusterConfig

# `models` re-exports the function `decide`, which hides the module of that name as an attribute.
_DECIDE = importlib.import_module("models.decide")
SLA_DRAWS = 5  # noise seeds averaged per candidate for the SLA
BASE_DAY = 365  # a year on, the Spark work dominates the run (see benchmarks/agent_metrics.py)
# Days of the profile's 0.3%/day growth per run: 52 days is +16.9% a run, x3 in 7 runs.
SCENARIOS: dict[str, int] = {"x3-week": 52, "nightly-0.3pct": 1, "flat": 0}
MODES = ("forecast", "latest")
MODE_LABELS = {"forecast": "forecast (on)", "latest": "latest (off)"}


@dataclass(frozen=True)
class Outcome:
    scenario: str
    mode: str
    seed: int
    opt_misses: int
    misses: int
    changes: int
    cost: float
    phases: tuple[str, ...]  # the phase of the decision that chose each run ("" for the first)


class World:
    """One profile's candidates and simulated runs (each simulated once per process, both modes share it)."""

    def __init__(self, profile: str, families: Sequence[str]) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown workload profile {profile!r}; known: {sorted(PROFILES)}")
        pairs = candidate_space(families)
        if not pairs:
            raise ValueError(f"no candidate configurations for families {list(families)}")
        self.profile = profile
        self.candidates: list[Candidate] = [c for c, _ in pairs]
        self.configs: dict[str, ClusterConfig] = {c.config_id: cfg for c, cfg in pairs}
        self._runs: dict[tuple[str, int, int], Observation] = {}

    def run(self, config_id: str, day: int, noise: int) -> Observation:
        key = (config_id, day, noise)
        if key not in self._runs:
            sim = simulate_run(spec_for(self.configs[config_id]), self.profile, seed=noise, day=day,
                               cluster_id=f"sim-{noise}", spark_context_id=CONTEXT_ID, start_time_ms=START_MS,
                               job_id=1, run_id=1 + noise, app_name=self.profile, spot_loss_prob=0.0,
                               eventlog=False)  # times, outcome and input only: no stage metrics
            self._runs[key] = Observation(
                config_id=config_id,
                runtime_s=(sim.end_time_ms - sim.start_time_ms) / 1000.0,
                ok=sim.result_state == "SUCCESS",
                input_gb=float(sim.summary["input_gb"]),
                setup_s=max(0, sim.running_ms - sim.start_time_ms) / 1000.0,
            )
        return self._runs[key]

    def sla(self, day: int, quantile: float) -> float:
        """The ``quantile`` of the candidates' mean runtimes on ``day``'s input (over `SLA_DRAWS` noise
        seeds). One draw each was not enough: the setup's spread is ~35 s a run, and seed 0's fast
        setups put the median SLA below nearly every configuration's mean, so every search missed it."""
        means = [np.mean([self.run(c.config_id, day, k).runtime_s for k in range(SLA_DRAWS)])
                 for c in self.candidates]
        return float(np.quantile(means, quantile))


def search(world: World, scenario: str, mode: str, seed: int, runs: int, sla_s: float) -> Outcome:
    """Follow decide for ``runs`` runs from a seeded start, with the forecast on or off (``mode``)."""
    step_days = SCENARIOS[scenario]
    base = zlib.crc32(f"growth/{world.profile}/{scenario}/{seed}".encode())
    cfg = world.candidates[int(np.random.default_rng(base).integers(len(world.candidates)))].config_id
    by_id = {c.config_id: c for c in world.candidates}
    # The product's promise (server.domain.ProjectSettings.sla_every_run): each run within the SLA.
    settings = Settings(sla_s=sla_s, sla_per_run=True)
    history: list[Observation] = []
    phases: list[str] = [""]
    opt_misses = misses = changes = 0
    cost = 0.0
    prev: str | None = None
    previous_phase: str | None = None
    saved = _DECIDE.FORECAST_INPUT
    _DECIDE.FORECAST_INPUT = mode == "forecast"
    try:
        for i in range(runs):
            # The same noise for run i whatever the mode: both see the same luck on the same configuration.
            obs = world.run(cfg, BASE_DAY + step_days * i, (base + i) % 1_000_003)
            history.append(Observation(**{**obs.__dict__, "recommendation_applied": i > 0}))
            cost += by_id[cfg].cost(obs.runtime_s)
            changes += prev is not None and cfg != prev
            missed = not obs.ok or obs.runtime_s > sla_s
            if i > 0:
                misses += missed
                opt_misses += missed and phases[i] == "optimizing"
            prev = cfg
            if i == runs - 1:
                break
            d = decide(world.candidates, history, settings, None, seed=seed + len(history),
                       previous_phase=previous_phase)
            previous_phase = d.phase
            phases.append(d.phase)
            cfg = d.candidate.config_id
    finally:
        _DECIDE.FORECAST_INPUT = saved
    return Outcome(scenario, mode, seed, opt_misses, misses, changes, cost, tuple(phases))


def _scenario_work(args: tuple[str, tuple[str, ...], str, int, int, float]) -> tuple[str, float, list[Outcome]]:
    profile, families, scenario, seeds, runs, quantile = args
    t0 = time.perf_counter()
    # One BLAS thread per process: scenarios run in parallel and decide's solves are small.
    with threadpool_limits(1):
        world = World(profile, families)
        sla_s = world.sla(BASE_DAY + SCENARIOS[scenario] * (runs - 1), quantile)
        out = [search(world, scenario, mode, seed, runs, sla_s) for seed in range(seeds) for mode in MODES]
    return scenario, time.perf_counter() - t0, out


def run_all(profile: str, families: Sequence[str], scenarios: Sequence[str], seeds: int, runs: int,
            quantile: float, jobs: int, progress: Callable[[str], None]) -> list[Outcome]:
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}")
    if runs < 2 or seeds < 1:
        raise ValueError(f"need at least 2 runs and 1 seed (got runs={runs}, seeds={seeds})")
    work = [(profile, tuple(families), s, seeds, runs, quantile) for s in scenarios]
    out: list[Outcome] = []
    if jobs <= 1 or len(work) == 1:
        results = map(_scenario_work, work)
    else:
        pool = get_context("fork").Pool(min(jobs, len(work)))
        results = pool.imap_unordered(_scenario_work, work)
    for name, secs, outcomes in results:
        progress(f"{name}: {secs:.0f} s")
        out.extend(outcomes)
    if jobs > 1 and len(work) > 1:
        pool.close()
        pool.join()
    return sorted(out, key=lambda o: (list(scenarios).index(o.scenario), o.seed, MODES.index(o.mode)))


def print_table(outcomes: Sequence[Outcome], out: IO[str]) -> None:
    """A row per scenario and mode: means per search."""
    seeds = len({o.seed for o in outcomes})
    runs = max((len(o.phases) for o in outcomes), default=0)
    print(f"\n== data growth: forecast on vs off ({seeds} seeds x {runs} runs per scenario; means per search)",
          file=out)
    print(f"{'scenario':<16} {'mode':<14} {'opt misses':>10} {'misses':>6} {'changes':>7} {'cost':>8} "
          f"{'cost/off':>8}", file=out)
    for scenario in dict.fromkeys(o.scenario for o in outcomes):
        off = [o.cost for o in outcomes if o.scenario == scenario and o.mode == "latest"]
        for mode in MODES:
            rows = [o for o in outcomes if o.scenario == scenario and o.mode == mode]
            if not rows:
                continue
            cost = float(np.mean([o.cost for o in rows]))
            ratio = cost / float(np.mean(off)) if off else float("nan")
            print(f"{scenario:<16} {MODE_LABELS[mode]:<14} {np.mean([o.opt_misses for o in rows]):10.2f} "
                  f"{np.mean([o.misses for o in rows]):6.2f} {np.mean([o.changes for o in rows]):7.2f} "
                  f"{cost:8.3f} {ratio:8.3f}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.growth", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--sla-quantile", type=float, default=0.5)
    ap.add_argument("--profile", default="etl_join_aggregate")
    ap.add_argument("--families", default="c5d", help="comma-separated instance families")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--jobs", type=int, default=2, help="scenarios simulated in parallel")
    args = ap.parse_args(argv)
    if not 0.0 < args.sla_quantile < 1.0:
        ap.error(f"--sla-quantile must be between 0 and 1 (got {args.sla_quantile})")
    families = [f for f in args.families.split(",") if f]
    scenarios = [s for s in args.scenarios.split(",") if s]
    try:
        outcomes = run_all(args.profile, families, scenarios, args.seeds, args.runs, args.sla_quantile, args.jobs,
                           lambda msg: print(msg, file=sys.stderr))
    except ValueError as e:
        print(f"benchmarks.growth: {e}", file=sys.stderr)
        return 2
    print_table(outcomes, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
