"""How much do the agent's stage metrics shorten the search, compared with runtime-only modelling?

    python -m benchmarks.agent_metrics [--seeds 10] [--budget 10] [--sla-quantiles 0.2,0.5,0.8]
        [--day 365] [--profiles a,b] [--families m5d,c5d] [--draws 3] [--jobs 2] [--cache DIR | --no-cache]
        [--without-setup]

Measured numbers and how to read them: docs/agent-metrics.md.

The world is the sandbox's simulator (`sandbox.sim.run.simulate_run`) running each workload profile
of `sandbox.sim.profiles` on the configurations the server would consider for a job imported on
``ANCHOR_SPEC`` (`server.plan.candidates.build_candidates`, on-demand, the catalog's AWS prices).
Every simulated run reaches the model the way a real one reaches the server: its Spark event log is
read by the agent's own parser (`server.backfill.parse.parse_application`), translated like an
ingested batch (`server.translate.batch_from_proto`); the run as the Jobs API and the cluster's events
report it goes through the collector's own path (`benchmarks.server_view`: `build_run`, which labels
an out-of-memory failure, a lost driver or node) and is turned into an `Observation` by
`server.plan.observe.observation`, with the run's time from cluster creation to termination (what
the Jobs API reports) and the part of it the cluster's setup took (the Jobs API's setup_duration;
``--without-setup`` hides it, as before the model learned it apart). The *runtime-only* twin of each
run is the observation the server builds for the same run when no agent data arrived: no stages, no
input size, no stage signature, and only the labels the Jobs API's words and the cluster's events give
(a java.lang.OutOfMemoryError in the run's state message is one).

Each configuration is simulated ``--draws`` times (noise seeds 0..draws-1, the same seeds for every
configuration); the mean runtime of those draws is the ground truth. For every profile, SLA
quantile (SLA = that quantile of the candidates' mean runtimes) and seed, a search starts from a
seeded random configuration (the user's current one), then `models.decide.decide` picks each next
run and the harness "runs" it by drawing one of that configuration's simulated runs, exactly as
`benchmarks.tuning` draws measured repetitions. Both modes see the same start and the same draws.

Scores per SLA tightness and mode:
- P@k: share of searches whose recommendation after k runs meets the SLA (mean runtime) and costs
  <= 1.10 x the cheapest configuration that meets it;
- runs→10%: median number of runs after which the recommendation is within 10% and stays there
  for the rest of the budget (``>budget`` when it is not within 10% at the end);
- misses: runs chosen by the tuner (steps >= 2) that exceeded the SLA or failed, per search;
- regret@k: median of cost(recommended)/cost(cheapest that meets the SLA) - 1 after k runs
  ("miss" when the median recommendation misses the SLA);
- ceiling: 1 when a within-10% configuration's mean runtime is far enough below the SLA that five
  runs on it could make a tuner holding the P >= 0.9 rule sure of it (`benchmarks.tuning`'s
  ceiling@6; the noise is the profile's median sd between draws), else 0; the share of profiles
  in the "all" rows. Where it is 0, P@6 stays low for any such tuner.

Simulated runs are cached on disk (keyed by the simulator's, parser's and planner's source), so a
second invocation only re-runs the searches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.dataset_format import Rep, Workload
from benchmarks.server_view import server_run
from benchmarks.tuning import confirmable, oracle_cost, sla_for
from models.decide import Settings, decide
from models.observation import Observation, StageObs
from models.space import Candidate
from sandbox.sim.eventlog_writer import DatabricksEventLogWriter
from sandbox.sim.profiles import PROFILES
from sandbox.sim.run import simulate_run
from server import translate
from server.backfill.ingest import batches_for
from server.backfill.parse import parse_application
from server.collect.build import AgentData
from server.costing.catalog import load_catalog
from server.domain import Application, ClusterConfig, Executor, ProjectSettings, Stage
from server.plan.candidates import Pricing, build_candidates
from server.plan.observe import observation
from server.spec import config_from_spec, merge_recommendation, recommendation_overlay

REPORT_STEPS = (1, 2, 3, 6, 10)
REGRET_STEPS = (1, 3)  # the replay's promise is a good first recommendation: how far off is it?
MODES = ("agent", "runtime")
MODE_LABELS = {"agent": "agent metrics", "runtime": "runtime-only"}
P_GOAL = 0.6  # the summary line: after how many runs each mode reaches this P
WITHIN = 0.10  # "within 10% of the cheapest configuration that meets the SLA"

# The job as imported: the over-provisioned on-demand cluster of the demo's SLA job, 8 workers.
ANCHOR_SPEC: dict[str, Any] = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5d.2xlarge",
    "driver_node_type_id": "m5d.2xlarge",
    "num_workers": 8,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1, "zone_id": "auto"},
}
PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
START_MS = 1_767_225_600_000  # 2026-01-01 UTC: a fixed clock, so the same draw is the same run
CONTEXT_ID = "4242424242424242424"
_CACHE_FORMAT = 3  # 2: observations carry the cluster's setup time; 3: the collector's labels
# The profiles' input a year after day 0 (x3 at their 0.3%/day growth). On day-0 inputs the Spark
# work is a minute or two and the run time (cluster creation to termination, what the Jobs API
# reports and the SLA is about) is mostly the 3-5 minutes of cluster start, whose run-to-run noise
# (sd ~40 s) is as large as the differences between configurations: no model can tell them apart
# in ten runs, with or without stage metrics. A year on, the Spark work dominates, as in the jobs
# worth tuning. ``--day 0`` runs the day-0 world.
DEFAULT_DAY = 365


# ------------------------------------------------------------------ the world


@dataclass(frozen=True)
class Draw:
    """One simulated run of one configuration, as the server sees it with and without the agent."""

    agent: Observation
    runtime_only: Observation

    def seen_by(self, mode: str) -> Observation:
        return self.agent if mode == "agent" else self.runtime_only


@dataclass
class Space:
    """One profile's decision space, its simulated runs and ground truth."""

    profile: str
    candidates: list[Candidate]
    draws: dict[str, list[Draw]]
    truth: Workload = field(init=False)

    def __post_init__(self) -> None:
        # The ground truth in `benchmarks.tuning`'s terms, so SLA and oracle are computed the same way.
        reps = {cfg: [Rep(d.agent.runtime_s, d.agent.ok, {}) for d in ds] for cfg, ds in self.draws.items()}
        self.truth = Workload("sandbox", self.profile, self.candidates, reps, None)


def candidate_space(families: Sequence[str] = ()) -> list[tuple[Candidate, ClusterConfig]]:
    """What the server's planner would consider for a job imported on ``ANCHOR_SPEC`` (on demand)."""
    anchor = config_from_spec(ANCHOR_SPEC)
    settings = ProjectSettings(spot_allowed=False, allowed_families=tuple(families))
    pairs = build_candidates(anchor, settings, load_catalog(), PRICING, anchor=anchor)
    return sorted(pairs, key=lambda p: p[0].config_id)


def spec_for(config: ClusterConfig) -> dict[str, Any]:
    """The cluster spec applying ``config`` writes (the same merge as `server.apply`)."""
    return merge_recommendation(ANCHOR_SPEC, recommendation_overlay(config, azure=False))


def simulate(profile: str, config: ClusterConfig, draw: int, day: int = 0) -> Draw:
    """Run ``profile`` on ``config`` (input of ``day``) with noise seed ``draw``, observed through the agent's path."""
    spec = spec_for(config)
    sim = simulate_run(spec, profile, seed=draw, day=day, cluster_id=f"sim-{draw}", spark_context_id=CONTEXT_ID,
                       start_time_ms=START_MS, job_id=1, run_id=1 + draw, app_name=profile)
    with tempfile.TemporaryDirectory(prefix="trimtab-agent-metrics-") as tmp:
        writer = DatabricksEventLogWriter(Path(tmp), CONTEXT_ID, rotate_every_ms=None)
        for t_ms, line in sim.eventlog:
            writer.append(t_ms, [line])
        writer.close()
        events = parse_application(Path(tmp) / CONTEXT_ID)
    apps: list[Application] = []
    stages: list[Stage] = []
    executors: list[Executor] = []
    for batch in batches_for(CONTEXT_ID, events):
        for ev in translate.batch_from_proto(batch, 20_000).events:
            if isinstance(ev.body, Stage):
                stages.append(ev.body)
            elif isinstance(ev.body, Executor):
                executors.append(ev.body)
            elif isinstance(ev.body, Application):
                apps.append(ev.body)
    agent = AgentData(tuple(apps), tuple(stages), tuple(executors))
    cluster_id = f"sim-{draw}"
    # Both twins are the collector's own records of the run (`benchmarks.server_view`): without the
    # agent, what the Jobs API says (an OutOfMemoryError in the state message) is all it labels.
    with_agent = observation(server_run(sim, spec, 1 + draw, cluster_id, agent), stages, applied_recommendation=True)
    without = observation(server_run(sim, spec, 1 + draw, cluster_id, AgentData()), [], applied_recommendation=True)
    assert with_agent is not None and without is not None  # the run has a configuration
    return Draw(with_agent, without)


# ------------------------------------------------------------------ cache


def _source_files() -> list[Path]:
    """The code that shapes a cached draw: simulator, parser, translation, planner."""
    import agent.parse
    import benchmarks.server_view
    import sandbox.nodes
    import sandbox.sim
    import server.backfill.parse
    import server.collect.build
    import server.plan.candidates

    files = sorted(Path(sandbox.sim.__file__).parent.glob("*.py"))
    # The collector's labels (out of memory, driver lost, spot loss) are part of both twins.
    files += sorted(Path(server.collect.build.__file__).parent.glob("*.py"))
    # The planner's whole package: `build_candidates` is put together from several of its modules
    # (families, spot, disks, prices, policy, ranges), and naming them one by one fell behind.
    files += sorted(Path(server.plan.candidates.__file__).parent.glob("*.py"))
    files += [Path(m.__file__ or "") for m in (sandbox.nodes, agent.parse, server.backfill.parse, translate,
                                                benchmarks.server_view)]
    return files


def _source_key() -> str:
    """Fingerprint of everything that shapes a cached draw (`_source_files`)."""
    digest = hashlib.sha256(str(_CACHE_FORMAT).encode())
    for path in _source_files():
        digest.update(path.read_bytes())
    digest.update(json.dumps(ANCHOR_SPEC, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _obs_from_json(d: dict[str, Any]) -> Observation:
    return Observation(**{**d, "stages": tuple(StageObs(**s) for s in d["stages"]),
                          "anomalies": tuple(d["anomalies"])})


def _load(path: Path | None) -> dict[str, Draw]:
    if path is None or not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: Draw(_obs_from_json(v[0]), _obs_from_json(v[1])) for k, v in raw.items()}


def _save(path: Path | None, draws: dict[str, Draw]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: [asdict(d.agent), asdict(d.runtime_only)] for k, d in draws.items()}),
                   encoding="utf-8")
    tmp.replace(path)


def build_space(profile: str, families: Sequence[str], n_draws: int, cache_dir: Path | None, day: int = 0) -> Space:
    """Simulate (or load) every candidate ``n_draws`` times for ``profile`` on ``day``'s input."""
    pairs = candidate_space(families)
    path = cache_dir / f"{profile}-day{day}-{_source_key()}.json" if cache_dir is not None else None
    cached = _load(path)
    fresh = 0
    draws: dict[str, list[Draw]] = {}
    for cand, config in pairs:
        for i in range(n_draws):
            key = f"{cand.config_id}/{i}"
            if key not in cached:
                cached[key] = simulate(profile, config, i, day)
                fresh += 1
            draws.setdefault(cand.config_id, []).append(cached[key])
    if fresh:
        _save(path, cached)
    return Space(profile, [c for c, _ in pairs], draws)


# ------------------------------------------------------------------ searches


@dataclass(frozen=True)
class SearchResult:
    profile: str
    mode: str
    quantile: float
    seed: int
    # Per step: cost of the recommendation / cost of the cheapest configuration meeting the SLA
    # (both at their true mean runtimes); inf when the recommendation does not meet the SLA.
    ratio: tuple[float, ...]
    misses: int
    tried: tuple[str, ...]
    stages_seen: int  # stage summaries in the history handed to decide (0 for runtime-only)
    # Whether a within-10% configuration stands far enough below the SLA that five runs on it could
    # make any tuner holding the P >= 0.9 rule sure of it (`benchmarks.tuning.confirmable`).
    confirmable: bool = True

    @property
    def good(self) -> tuple[bool, ...]:
        """Per step: the recommendation meets the SLA and is within 10% of the cheapest that does."""
        return tuple(r <= 1.0 + WITHIN for r in self.ratio)

    def runs_to_good(self) -> float:
        """Runs after which the recommendation is good and stays good; inf when not good at the end."""
        if not self.good or not self.good[-1]:
            return math.inf
        k = len(self.good)
        while k > 1 and self.good[k - 2]:
            k -= 1
        return float(k)


def search(space: Space, mode: str, quantile: float, seed: int, budget: int, setup_known: bool = True) -> SearchResult:
    """One ask/tell search with `decide`, seeing the runs with (``agent``) or without (``runtime``) stages;
    without their cluster setup times too unless ``setup_known``."""
    truth = space.truth
    sla_s = sla_for(truth, quantile)
    best = oracle_cost(truth, sla_s)
    by_id = {c.config_id: c for c in space.candidates}
    # The start and the draws depend on (profile, seed) only, as in benchmarks.tuning: both modes
    # start from the same configuration and see the same luck on the same configuration.
    base = zlib.crc32(f"sandbox/{space.profile}/{seed}".encode())
    start = space.candidates[int(np.random.default_rng(base).integers(len(space.candidates)))].config_id
    draw_rng = {c.config_id: np.random.default_rng(base + i + 1) for i, c in enumerate(space.candidates)}
    settings = Settings(sla_s=sla_s)
    history: list[Observation] = []
    ratio: list[float] = []
    tried: list[str] = []
    misses = 0
    cfg = start
    for step in range(1, budget + 1):
        draws = space.draws[cfg]
        obs = draws[int(draw_rng[cfg].integers(len(draws)))].seen_by(mode)
        if not setup_known:
            obs = replace(obs, setup_s=None)
        # The first run is the user's own configuration, not one Trimtab chose.
        history.append(replace(obs, recommendation_applied=step > 1))
        tried.append(cfg)
        if step > 1 and (not obs.ok or obs.runtime_s > sla_s):
            misses += 1
        decision = decide(space.candidates, history, settings, None, seed=seed + len(history))
        rec = decision.best.config_id if decision.best is not None else decision.candidate.config_id
        mean = truth.mean_runtime(rec)
        ratio.append(by_id[rec].cost(mean) / best if mean is not None and mean <= sla_s else math.inf)
        cfg = decision.candidate.config_id
    return SearchResult(space.profile, mode, quantile, seed, tuple(ratio), misses, tuple(tried),
                        sum(len(o.stages) for o in history), confirmable(truth, quantile))


def run_profile(profile: str, families: Sequence[str], n_draws: int, cache_dir: Path | None, day: int,
                quantiles: Sequence[float], seeds: int, budget: int, setup_known: bool = True) -> list[SearchResult]:
    space = build_space(profile, families, n_draws, cache_dir, day)
    return [search(space, mode, q, seed, budget, setup_known)
            for q in quantiles for seed in range(seeds) for mode in MODES]


def _run_profile_args(args: tuple[Any, ...]) -> tuple[str, float, list[SearchResult]]:
    t0 = time.perf_counter()
    # One BLAS thread per process: the profiles already run in parallel, and OpenBLAS threads
    # spinning for each of decide's small solves would only fight each other for the cores.
    with threadpool_limits(1):
        results = run_profile(*args)
    return args[0], time.perf_counter() - t0, results


def run_all(profiles: Sequence[str], families: Sequence[str], n_draws: int, cache_dir: Path | None, day: int,
            quantiles: Sequence[float], seeds: int, budget: int, jobs: int,
            progress: Callable[[str], None], setup_known: bool = True) -> list[SearchResult]:
    work = [(p, tuple(families), n_draws, cache_dir, day, tuple(quantiles), seeds, budget, setup_known)
            for p in profiles]
    out: list[SearchResult] = []
    if jobs <= 1 or len(work) == 1:
        for w in work:
            name, secs, results = _run_profile_args(w)
            progress(f"{name}: {secs:.0f} s")
            out.extend(results)
        return out
    # Profiles are independent: one process each, at most ``jobs`` at a time (fork: no re-import).
    with get_context("fork").Pool(jobs) as pool:
        for name, secs, results in pool.imap_unordered(_run_profile_args, work):
            progress(f"{name}: {secs:.0f} s")
            out.extend(results)
    return sorted(out, key=lambda r: (profiles.index(r.profile), r.quantile, r.seed, r.mode))


# ------------------------------------------------------------------ report


def p_at(results: Sequence[SearchResult], k: int) -> float:
    hits = [r.good[min(k, len(r.good)) - 1] for r in results if r.good]
    return float(np.mean(hits)) if hits else float("nan")


def first_step_reaching(results: Sequence[SearchResult], goal: float, budget: int) -> int | None:
    """The first number of runs after which P(within 10%, SLA met) >= ``goal``; None within the budget."""
    return next((k for k in range(1, budget + 1) if p_at(results, k) >= goal), None)


def _runs_cell(results: Sequence[SearchResult], budget: int) -> str:
    med = float(np.median([r.runs_to_good() for r in results]))
    return f">{budget}" if math.isinf(med) else f"{med:g}"


def _regret_cell(results: Sequence[SearchResult], k: int) -> str:
    """Median cost(recommendation)/oracle - 1 after ``k`` runs ("miss": the median misses the SLA)."""
    med = float(np.median([r.ratio[min(k, len(r.ratio)) - 1] for r in results]))
    return "miss" if math.isinf(med) else f"{med - 1.0:.0%}"


def _said(n: int | None, budget: int) -> str:
    return f"{n}" if n is not None else f"more than {budget}"


def print_tables(results: Sequence[SearchResult], budget: int, out: IO[str]) -> dict[str, int | None]:
    """One table per SLA tightness (a row per profile and mode, then all profiles); returns the summary."""
    steps = [k for k in REPORT_STEPS if k <= budget]
    regret_steps = [k for k in REGRET_STEPS if k <= budget]
    profiles = list(dict.fromkeys(r.profile for r in results))
    for q in sorted({r.quantile for r in results}):
        at_q = [r for r in results if r.quantile == q]
        seeds = len({r.seed for r in at_q})
        print(f"\n== SLA quantile {q:.2f} ({len(profiles)} profiles x {seeds} seeds)", file=out)
        print(f"{'profile':<20} {'mode':<14} " + " ".join(f"{'P@' + str(k):>5}" for k in steps)
              + f" {'runs→10%':>8} {'misses':>6} " + " ".join(f"{'regret@' + str(k):>8}" for k in regret_steps)
              + f" {'ceiling':>7}", file=out)
        for name in [*profiles, "all"] if len(profiles) > 1 else profiles:
            for mode in MODES:
                rows = [r for r in at_q if r.mode == mode and (name == "all" or r.profile == name)]
                cells = " ".join(f"{p_at(rows, k):5.2f}" for k in steps)
                regrets = " ".join(f"{_regret_cell(rows, k):>8}" for k in regret_steps)
                ceiling = np.mean([r.confirmable for r in rows])  # the share of profiles in "all"
                print(f"{name:<20} {MODE_LABELS[mode]:<14} {cells} {_runs_cell(rows, budget):>8} "
                      f"{np.mean([r.misses for r in rows]):6.2f} {regrets} {ceiling:7.2f}", file=out)
        reach_q = {m: first_step_reaching([r for r in at_q if r.mode == m], P_GOAL, budget) for m in MODES}
        print(f"P>={P_GOAL:g} after: agent metrics {_said(reach_q['agent'], budget)} runs, "
              f"runtime-only {_said(reach_q['runtime'], budget)}", file=out)
    reach = {mode: first_step_reaching([r for r in results if r.mode == mode], P_GOAL, budget) for mode in MODES}
    print(f"\nagent metrics reach P>={P_GOAL:g} after {_said(reach['agent'], budget)} runs vs "
          f"{_said(reach['runtime'], budget)} runtime-only (all profiles and SLA tightnesses pooled)", file=out)
    return reach


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.agent_metrics", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--sla-quantiles", default="0.2,0.5,0.8")
    ap.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated sandbox workload profiles")
    ap.add_argument("--families", default="", help="instance families (default: the server's default families)")
    ap.add_argument("--draws", type=int, default=3, help="simulated runs per configuration (ground truth)")
    ap.add_argument("--day", type=int, default=DEFAULT_DAY,
                    help="the profiles' input as of this day (day 0 = the profile's size; see DEFAULT_DAY)")
    ap.add_argument("--jobs", type=int, default=2, help="profiles simulated and searched in parallel")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "trimtab" / "agent_metrics")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--without-setup", action="store_true",
                    help="hide the runs' cluster setup times from the tuner (it then models whole runtimes)")
    args = ap.parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        ap.error(f"unknown profiles {unknown}; known: {sorted(PROFILES)}")
    if args.budget < 1 or args.seeds < 1 or args.draws < 1:
        ap.error("--budget, --seeds and --draws must be at least 1")
    quantiles = [float(q) for q in args.sla_quantiles.split(",") if q.strip()]
    families = [f for f in args.families.split(",") if f.strip()]
    cache = None if args.no_cache else args.cache
    t0 = time.perf_counter()
    n_cands = len(candidate_space(families))
    print(f"{len(profiles)} profiles (input of day {args.day}) x {n_cands} configurations x {args.draws} "
          f"simulated runs; {args.seeds} seeds, budget {args.budget}", file=sys.stderr)
    results = run_all(profiles, families, args.draws, cache, args.day, quantiles, args.seeds, args.budget, args.jobs,
                      lambda m: print(m, file=sys.stderr, flush=True), setup_known=not args.without_setup)
    print_tables(results, args.budget, sys.stdout)
    print(f"total benchmark time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
