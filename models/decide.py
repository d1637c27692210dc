"""The one entry point the server calls after every collected run: `decide`.

Phases:
- ``learning``: at most ``learning_budget`` designed runs per segment (after the segment's start:
  its first run, and the job's own runs on it before a recommendation was applied; the explained
  runs of one configuration spend one). Each is the most informative configuration (largest
  predictive variance, i.e. the greedy D-optimal choice for the Bayesian model) among those that
  could plausibly be the cheapest one meeting the SLA and that are predicted to meet the SLA with
  probability >= ``p_learn``.
  Learning ends early when the model is already sure which configuration is best. A configuration
  whose runs keep losing spot nodes (none learned) is no longer run to learn or explore.
- ``optimizing``: recommend the configuration with the least expected cost among those with
  P(runtime <= SLA) >= ``p_target``; try another one (or repeat one) only when its knowledge
  gradient (`models.acquire`: the expected drop of the recommendation's cost once that run is
  known) over ``explore_horizon`` future runs outweighs its extra cost and the SLA-miss risk,
  and it is expected to save at least ``min_saving`` per run.
- ``monitoring``: auto-apply is off: the same recommendation as optimizing, never exploration.

A change point (`models.changes`) restarts learning on the new segment (``rebased``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import ndtr, ndtri

from models.acquire import Belief, knowledge_gradient, z_targets
from models.changes import OWN_BASELINE, Screened, screen
from models.growth import Growth, fill_inputs, forecast_input
from models.money import money
from models.observation import NOT_LEARNED, Observation
from models.prior import DEFAULT_PRIOR, Prior
from models.replay import replay_log_shape
from models.runtime import Prediction, RuntimeModel, similarity
from models.setup import NO_SETUP, Setup, estimate, execution_view, p_total_below, total_interval
from models.space import FEATURES, Candidate, design_features, feature_centre

_SAMPLES = 400
_REPLAY_CORRECTION_SD = 0.2  # how far the data may bend the replayed shape, per feature
_CONFIDENT = 0.8  # P(best) at which learning stops early
# Configuration similarity for correlated deviations: cores, nodes, memory/core, hardware class.
_KERNEL_FEATURES = [0, 2, 3, 4]
_LENGTHSCALE = 0.7
# Share of a configuration's deviation that is its own. 0.3 -> 0.2 (tuning benchmark, with the
# risk-priced exploration gate below): neighbours' runs say more about an untried configuration.
_WHITE = 0.2
# A learning run is weighted by P(it meets the SLA) squared: learning runs caused most SLA misses
# at tight SLAs; squared (LOO benchmark) cut misses ~7% with the same or better P@6.
_LEARN_RUN_POW = 2.0
# A spot loss mid-run re-runs the lost node's finished and running tasks (and the shuffle output it
# held) while its replacement joins: it lengthens the execution, not the cluster setup, by a share
# that grows with how late the loss comes. Half the execution is the mean of a loss at a uniform
# point that redoes the work done so far on the lost share of the cluster plus a replacement's
# minutes; the sandbox's losses add 60-150 s to 250-300 s of execution (25-55%). The SLA is priced
# with it: a loss misses the SLA only when the lengthened run does (priced as a certain miss, a
# spot candidate's P lost its whole loss rate, and at 3% losses a run the job left spot for a
# run it met the SLA with).
_LOSS_REWORK = 0.5
# Runs on one configuration that lost spot nodes, with none of its runs learned, after which it is
# no longer run to learn or explore: its runs are explained away, so running it teaches nothing.
_UNLEARNABLE_LOSSES = 2
# When no configuration reaches the SLA target, the likeliest to meet it is recommended, whatever it
# costs, as long as it meets the SLA with at least this P. Below it, once a configuration about as
# fast as the fastest has run to see (`_sla_unlikely`), the SLA is out of reach: the plan aims at a
# working SLA of `Settings.miss_badly` times the fastest measured runtime instead (`_working_sla`),
# learning and exploring under it as under any SLA, and every reason says so. The likeliest is the
# fastest, dearest cluster (19.2/h against 0.8/h for the cheapest, for a 310 s SLA over 300 s of
# setup) and it bought P=0.07%: every run misses either way, so the extra cost buys nothing a
# platform engineer would pay for. 5%: one run in twenty met is no SLA, while from 5-10% up the
# likeliest meets it often enough for some owners to pay for (the reason then says it is not the
# cheapest).
# A first version fell back to the cheapest *measured* configuration and stopped learning; its
# review found a job whose only measured configuration was its dearest kept it for good, and a near
# miss (276 s for a 248 s SLA) became a miss by 45 minutes on the cheapest measured cluster. The
# working SLA bounds the miss near what the job can do, and the search goes on under it.
_OUT_OF_REACH_P = 0.05
# A measured configuration this close to the fastest predicted runtime shows the fastest is no faster
# than the model says: its prediction leans on that run rather than on the prior.
_AS_FAST = 1.1
# How much longer than the fastest predicted execution a configuration's may be, and it still be the
# likeliest to meet an SLA nothing reaches (`_best_index`).
_NEAR_FASTEST = 2.0
# Leaving an SLA out of reach takes a P twice the one that entered it (`_sla_unlikely`): with the
# fastest's P near 5% the plan flipped between the owner's SLA (the dearest cluster) and the
# working one from run to run, cluster and reason changing each time.
_LEAVE_OUT_OF_REACH_P = 2 * _OUT_OF_REACH_P
# P(meet the SLA) differences smaller than this buy nothing a person could measure (P is itself an
# estimate, and under the every-run rule a sum over a setup scattered by 40 s): a cluster this close
# under the target counts as reaching it when nothing is more than this above it, a dearer one must
# raise P by more than this to be chosen over a cheaper one, and the current cluster is held while
# its P is within this of that bar (`_bars`, `_held`). With a hard threshold, a job whose clusters
# all sat at P 0.89-0.92 (360 s SLA, 160-330 s of setup) flipped between "cheapest with P >= 90%"
# and "likeliest" and changed clusters 14 times in 25 runs, mostly to dearer ones (c6id.4xlarge x10
# at $0.97 to m6id.4xlarge x20 at $2.27 for P 0.902 against 0.891 at $0.45: review revL F1).
_P_BAND = 0.02
# Where the likeliest (nothing reaches the target) has P at least this, it is ranked by P itself, the
# whole run's (setup variance and spot losses in it): a wider spread then lowers P, so P no longer
# rewards it as in the tails, where the z-score ranks (`_best_index`). Ranked by a z-score of the
# execution alone, a job kept a cluster at P 0.70 for 21 runs (5 misses) while 62 allowed ones had a
# higher P, some cheaper (review revL F2).
_P_RANKS = 0.5
# Plan every candidate for the next run's forecast input (`models.growth`) rather than the latest
# run's. Off only to measure what it buys (benchmarks/growth.py); the product runs with it on.
FORECAST_INPUT = True


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


@dataclass(frozen=True)
class Decision:
    """What to run next and why. ``candidate`` is the recommendation to apply; ``best`` is the
    configuration the model would settle on now (they differ only while learning or exploring)."""

    candidate: Candidate
    phase: str  # "learning" | "optimizing" | "monitoring"
    predicted_runtime_s: float  # median; NaN before the first usable run
    runtime_interval_s: tuple[float, float]  # 90% prediction interval of one run
    predicted_cost: float  # expected cost of one run, price unit of the candidates
    cost_interval: tuple[float, float]
    p_meet_sla: float | None
    reason: str
    rebased: bool
    explained: Mapping[str, str] = field(default_factory=dict)
    best: Candidate | None = None
    p_best: float = 0.0  # posterior probability that ``best`` is the cheapest that meets the SLA
    # The change point the current segment starts at, when one did: the index into ``history`` of
    # its first run and its kind (`models.changes.CODE_CHANGE`, ...). Set on every decision of the
    # segment, not only those whose reason still names it, so the caller can keep it as data.
    change_at: int | None = None
    change_kind: str | None = None
    # Indices into ``history`` of runs whose input alone stood out (`models.changes`): a change
    # point the caller kept at one of them, when it was the latest run, is withdrawn.
    one_offs: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Common:
    """What every decision of one call shares, whichever configuration it proposes."""

    rebased: bool
    explained: Mapping[str, str]
    best: Candidate
    p_best: float
    has_sla: bool
    change_at: int | None = None
    change_kind: str | None = None


@dataclass(frozen=True)
class _Outlook:
    pred: Prediction
    expected_s: np.ndarray
    cost: np.ndarray
    p_meet: np.ndarray
    p_run: np.ndarray  # P(one run <= SLA)
    z_meet: np.ndarray  # normal score behind p_meet (ranks even where p_meet underflows)
    p_best: np.ndarray
    draws_cost: np.ndarray
    draws_feasible: np.ndarray
    tried: frozenset[str]
    kg: np.ndarray  # knowledge gradient per candidate (models.acquire)
    setup: Setup  # the project's cluster setup time (zero when its runs do not report it)
    # One run's whole runtime (setup + execution): median and 90% interval
    median_s: np.ndarray
    lo_s: np.ndarray
    hi_s: np.ndarray
    # The next run's input, which every candidate is predicted at (no input known: none).
    growth: Growth = Growth(None, None, 0.0, 0)
    p_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))  # P(a run loses spot nodes)
    hw: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # each candidate's hardware (`_hardware`)


def decide(
    candidates: Sequence[Candidate],
    history: Sequence[Observation],
    settings: Settings,
    prior: Prior | None = None,
    *,
    seed: int = 0,
    run_labels: Sequence[str] | None = None,
    previous_phase: str | None = None,
) -> Decision:
    """Choose the next configuration for a project from its candidates and run history (oldest first).

    ``run_labels`` name the history's runs as their owner looks them up (see `models.changes.screen`).
    ``previous_phase`` is the phase of the decision before this one (the project's): after a change
    point the reason says why learning restarted while it learns and on the first decision after."""
    if not candidates:
        raise ValueError("decide needs at least one candidate")
    if not any(c.allowed for c in candidates):
        # Observed-only candidates teach the model but are never run: with nothing else there is
        # nothing to recommend (the planner reports this before calling).
        raise ValueError("decide needs at least one allowed candidate (every candidate is observed only)")
    return _decide(candidates, history, settings, prior or DEFAULT_PRIOR, seed, run_labels, previous_phase)


def _decide(
    candidates: Sequence[Candidate],
    history: Sequence[Observation],
    settings: Settings,
    prior: Prior,
    seed: int,
    run_labels: Sequence[str] | None,
    previous_phase: str | None,
    aim: str = "",
) -> Decision:
    """`decide`. ``aim``: ``settings.sla_s`` is a working SLA (`_working_sla`) and this says why,
    ahead of every reason."""
    raw = history
    cands = list(candidates)
    known = {c.config_id: c for c in cands}
    input_elasticity = prior.mean[FEATURES.index("log_input")]
    # The model learns the execution; the cluster's setup is added back where the whole run counts.
    setup = estimate(history)
    history = execution_view(history, setup)
    scr = screen(history, known, prior.sigma_run, input_elasticity, run_labels)
    rebased = scr.change_reason is not None
    note = f"{scr.change_reason}. " if rebased else ""
    change_at = scr.segment_start if rebased else None
    designed = _designed_runs(history, scr)
    overran = _overran(raw, scr, settings)
    avoid = _avoided(cands, scr.failed_configs | overran, scr.oom_memory_per_core, scr.oom_configs)
    # What the job may run at all, a capacity refusal aside (it passes): not what failed, ran out of
    # memory, or is outside the owner's bounds (observed only). The working SLA is taken from these.
    runnable = ~avoid
    avoid, refused = _refused(cands, avoid, scr)

    def told(d: Decision) -> Decision:
        # The avoided instance type is named on every decision while it lasts: the recommendation
        # moved for a reason no run of the new one shows.
        return replace(d, reason=d.reason + refused, one_offs=scr.one_offs)

    unlearnable = _unlearnable(cands, history, scr)
    if not scr.learn:
        bound = _lost_yet_met(cands, raw, history, scr, settings, avoid)
        if bound is not None:
            run, pick = bound
            runs = [replace(history[run], anomalies=(), stages=())]
            out = _outlook(cands, runs, settings, prior, known, seed, setup)
            return told(_decision(cands, out, pick, "learning" if settings.auto_apply else "monitoring",
                                  note + _lost_yet_met_reason(cands, raw[run], pick, out, settings),
                                  _Common(rebased, scr.explained, cands[pick], 0.0, True, change_at, scr.change_kind)))
        allowed = [c for c, a in zip(cands, avoid, strict=True) if not a] or [c for c in cands if c.allowed]
        # Past the SLA on a cluster: the next is bigger than every one that overran.
        slow_cores = max((c.cores for c in cands if c.config_id in overran), default=0.0)
        return told(replace(_first_run(allowed, history, scr.explained, settings, rebased, note, slow_cores),
                            change_at=change_at, change_kind=scr.change_kind))
    before_drop = _planned_before_drop(scr, _segment_inputs(history, scr.segment_start))
    if before_drop is not None:
        note = (f"{scr.change_reason}; the next run is planned for the {before_drop:.3g} GB before the drop "
                "until it shows the drop lasts. ")
    runs, inputs = _learned_runs(history, scr)
    out = _outlook(cands, runs, settings, prior, known, seed, setup, inputs)
    # The change point is news while the model learns again (a learning run's reason always says
    # it) and on the first decision after that, or the segment's first when it needs no learning;
    # nine runs later it would only hide what the reason is about.
    if not settings.auto_apply:
        # Nothing learns without auto-apply: the note stays for the runs learning would have had.
        prefix = note if len(history) - scr.segment_start - 1 < settings.learning_budget else ""
    else:
        prefix = note if designed == 0 or previous_phase == "learning" else ""
    note, prefix = note + aim, prefix + aim
    if _sla_below_setup(settings, setup):
        return told(_sla_below_setup_decision(cands, history, out, avoid, settings, prefix, _Common(
            rebased, scr.explained, cands[0], 0.0, True, change_at, scr.change_kind)))
    bar = _reach_bar(out, cands, history[scr.learn[-1]].config_id)
    if not aim and _sla_unlikely(out, settings, avoid, runnable, cands, bar):
        if not settings.working_sla:
            return told(_fastest_decision(cands, out, avoid, settings, prefix, bar, _Common(
                rebased, scr.explained, cands[0], 0.0, True, change_at, scr.change_kind)))
        working, why = _working_sla(cands, out, settings, runnable, bar)
        d = _decide(candidates, raw, replace(settings, sla_s=working, sla_name="working SLA"), prior, seed,
                    run_labels, previous_phase, why)
        # P is the owner's SLA's, which the CLI and the savings show beside it.
        at = next(i for i, c in enumerate(cands) if c.config_id == d.candidate.config_id)
        return replace(d, p_meet_sla=float(out.p_meet[at]))
    best, top = _choose(out, settings, avoid, np.array([not c.allowed for c in cands]))
    # Nothing reaches the SLA target: `_choose` took the likeliest, which the reason says.
    likeliest = best if settings.sla_s and _bars(out, settings, avoid)[1] < settings.p_target else None
    held = _held(out, best, history, scr.segment_start, settings, avoid, cands)
    if held is not None:
        held, best = best, held
    common = _Common(rebased, scr.explained, cands[best], float(out.p_best[best]), bool(settings.sla_s),
                     change_at, scr.change_kind)
    if not settings.auto_apply:
        why = "auto-apply is off, so this is a recommendation only: " + _best_reason(cands, out, best, settings,
                                                                                    likeliest, held, top, avoid)
        return told(_decision(cands, out, best, "monitoring", prefix + why, common))
    if designed < settings.learning_budget and out.p_best[best] < _CONFIDENT:
        # A learning run on a tried cluster's spot or on-demand twin is no new design: same hardware.
        tried = np.isin(out.hw, out.hw[[c.config_id in out.tried for c in cands]])
        pick = _learning_pick(out, settings, avoid | tried | unlearnable)
        if pick is not None:
            why = (
                f"learning run {designed + 1}/{settings.learning_budget}: {cands[pick].name} is the most "
                f"informative configuration that may be the cheapest (P(best)={out.p_best[pick]:.0%})"
                + _sla_note(out, pick, settings)
            )
            return told(_decision(cands, out, pick, "learning", note + why, common))
    check = _recheck_pick(out, best, settings, avoid | unlearnable, cands, scr, history)
    if check is not None:
        slow = run_labels[scr.suspect] if run_labels is not None else f"run #{scr.suspect + 1} of the history"
        why = (
            f"rerunning {cands[check].name}, measured before {slow} ran slow, to tell a lasting regression "
            f"from noise (a cluster not measured before it cannot): predicted cost "
            f"{money(out.cost[check], settings.currency)}/run against {money(out.cost[best], settings.currency)} "
            f"for {cands[best].name}" + _sla_note(out, check, settings)
        )
        return told(_decision(cands, out, check, "optimizing", prefix + why, common))
    # Exploring waits while a slow run is open: a cluster never measured says nothing of it, and
    # the model it would explore on may hold a regression as if it were that cluster's normal.
    explore = _explore_pick(out, best, settings, avoid | unlearnable) if scr.suspect is None else None
    if explore is not None:
        pick, saving = explore
        # The saving is the knowledge gradient, not this run's own: say both figures a person can
        # check (its predicted cost against the current best's) and what measuring it buys later.
        why = (
            f"trying {cands[pick].name}: predicted cost {money(out.cost[pick], settings.currency)}/run "
            f"against {money(out.cost[best], settings.currency)} for the current best {cands[best].name}; "
            "measuring it is expected to "
            f"save {saving:.1%} per run on later runs, which over {settings.explore_horizon:.0f} runs "
            "outweighs its extra cost and risk" + _sla_note(out, pick, settings)
        )
        return told(_decision(cands, out, pick, "optimizing", prefix + why, common))
    why = _best_reason(cands, out, best, settings, likeliest, held, top, avoid)
    return told(_decision(cands, out, best, "optimizing", prefix + why, common))


@dataclass(frozen=True)
class Forecast:
    """The model's view of one candidate (for display: the CLI's table of options)."""

    candidate: Candidate
    predicted_runtime_s: float
    runtime_interval_s: tuple[float, float]
    predicted_cost: float
    p_meet_sla: float | None
    p_best: float


def forecast(
    candidates: Sequence[Candidate],
    history: Sequence[Observation],
    settings: Settings,
    prior: Prior | None = None,
    *,
    seed: int = 0,
) -> list[Forecast]:
    """Predictions for every candidate from the current segment's runs (empty before any usable run)."""
    prior = prior or DEFAULT_PRIOR
    cands = list(candidates)
    known = {c.config_id: c for c in cands}
    setup = estimate(history)
    history = execution_view(history, setup)
    scr = screen(history, known, prior.sigma_run, prior.mean[FEATURES.index("log_input")])
    if not scr.learn:
        return []
    runs, inputs = _learned_runs(history, scr)
    out = _outlook(cands, runs, settings, prior, known, seed, setup, inputs)
    lo, hi, med = out.lo_s, out.hi_s, out.median_s
    return [
        Forecast(
            c,
            float(med[i]),
            (float(lo[i]), float(hi[i])),
            float(out.cost[i]),
            float(out.p_meet[i]) if settings.sla_s else None,
            float(out.p_best[i]),
        )
        for i, c in enumerate(cands)
    ]


def _outlook(
    cands: list[Candidate],
    runs: list[Observation],
    settings: Settings,
    prior: Prior,
    known: Mapping[str, Candidate],
    seed: int,
    setup: Setup,
    inputs: Sequence[float | None] | None = None,
) -> _Outlook:
    """The model's view of every candidate from ``runs`` (execution times, see `models.setup`).

    ``inputs``: the segment's input sizes in order, for the forecast (default: ``runs``')."""
    sizes = [o.input_gb for o in runs if o.input_gb]
    centre = feature_centre(cands, float(np.median(sizes)) if sizes else None)
    run_cands = [known[o.config_id] for o in runs]
    x_runs = design_features(run_cands, centre, [o.input_gb for o in runs])
    # Candidates are predicted at the next run's forecast input (the latest one unless the input
    # clearly grows or shrinks): a growing job planned for its latest input is always a run behind.
    trend = [o.input_gb for o in runs] if inputs is None else list(inputs)
    growth = forecast_input(trend) if FORECAST_INPUT else _no_forecast(runs)
    x_cands = design_features(cands, centre, [growth.forecast_gb] * len(cands))
    mean, cov = prior.mean_array(), prior.cov_array()
    # Replay the project's own stage metrics (latest five runs that have them) for the shape.
    staged = [(o, known[o.config_id]) for o in runs if o.stages][-5:]
    shape = replay_log_shape(staged, cands) if staged else None
    if shape is not None:
        off_cands = shape
        # The replay already knows how this job scales with cores, nodes and memory: the model
        # only corrects it, so those coefficients are centred on zero with a tight spread.
        for j in (0, 1, 2, 3):
            mean[j] = 0.0
            cov[j, :] = 0.0
            cov[:, j] = 0.0
            cov[j, j] = _REPLAY_CORRECTION_SD**2
    else:
        off_cands = np.zeros(len(cands))
    index = {c.config_id: i for i, c in enumerate(cands)}
    run_index = np.array([index[o.config_id] for o in runs], dtype=int)
    # Runs keep their own input size and candidates are predicted at the planned (forecast) one, so
    # the elasticity of runtime to input is the project's own, learned from the prior's (0.9, sd 0.3
    # in `DEFAULT_PRIOR`, 0.42 in the server's, widened with the other coefficients) wherever the
    # segment's inputs differ: a job whose runtime barely follows its data (fixed
    # work dominates) or grows faster than it (a sort, spills) is no longer planned as if it grew
    # like the average job. Inputs all equal: the column is constant and the fit is as without it.
    # The model's configurations are hardware: a spot cluster and its on-demand twin run the same
    # machines, so they share one deviation (runs on either teach both exactly; with a deviation
    # each, a twin measured three times left the other at P=0.78 against 0.97 for an SLA 8% above).
    hw, first = _hardware(cands, x_cands, off_cands)
    x_hw, off_hw = x_cands[first], off_cands[first]
    kernel = similarity(x_hw[:, _KERNEL_FEATURES], _LENGTHSCALE, _WHITE)
    model = RuntimeModel.fit(
        x_hw,
        kernel,
        hw[run_index],
        np.log([o.runtime_s for o in runs]),
        off_hw,
        mean,
        cov,
        prior,
        x_runs,
    )
    pred_hw = model.predict(x_hw, off_hw)
    pred = Prediction(pred_hw.mean_log[hw], pred_hw.var_param[hw], pred_hw.sigma)
    price = np.array([c.price_per_hour for c in cands])
    rate = np.array([c.interruption_rate for c in cands])
    # Setup is paid and waited for whatever the configuration: it adds to runtime and cost.
    expected = pred.expected_s() + setup.mean_s
    # A spot loss mid-run costs on average half a run of rework (and usually the SLA).
    p_loss = 1.0 - np.exp(-rate * expected / 3600.0)
    expected = expected * (1.0 + _LOSS_REWORK * p_loss)
    cost = price * expected / 3600.0
    rng = np.random.default_rng(seed)
    draws = model.sample_mean_log(x_hw, off_hw, _SAMPLES, rng)[:, hw]
    draws_cost = price * (np.exp(draws + 0.5 * model.sigma**2) + setup.mean_s) * (1.0 + _LOSS_REWORK * p_loss) / 3600.0
    # What is left of the SLA for the execution once the typical setup is over.
    log_sla = math.log(max(settings.sla_s - setup.mean_s, 1e-9)) if settings.sla_s else math.nan
    survive = 1.0 - p_loss  # the share of P(meet) a spot loss leaves (for the knowledge gradient)
    if settings.sla_s and settings.sla_per_run:
        # Only ranks configurations where P is in its tails (`_best_index`). One run's setup varies
        # too (sd 40 s of a 360 s SLA): linearised into the execution's log units as below, so the
        # ranking does not take the execution's spread for the whole run's.
        var_setup = (setup.sd_next_s / max(math.exp(log_sla), setup.sd_next_s, 1e-9)) ** 2
        z_meet = (log_sla - pred.mean_log) / np.sqrt(pred.sd_run**2 + var_setup)
        p_meet = _p_meet_with_losses(pred.mean_log, pred.sd_run, setup, settings.sla_s, p_loss)
        survive = _survival(p_meet, p_total_below(pred.mean_log, pred.sd_run, setup, settings.sla_s), p_loss)
        draws_p = _p_meet_with_losses(draws, model.sigma, setup, settings.sla_s, p_loss)
        feasible = draws_p >= settings.p_target
    elif settings.sla_s:
        typical = pred.mean_log + 0.5 * model.sigma**2
        sd_param = np.sqrt(pred.var_param + 1e-12)
        # The typical setup is an estimate too (sd se_mean_s): P is taken over it, as
        # `p_total_below` does for one run's setup. Linearised into the execution's log units it
        # blew up where little of the SLA is left after the setup, and an SLA below the setup
        # read as P = 50% for every configuration.
        typical_setup = Setup(setup.mean_s, 0.0, setup.se_mean_s)
        p_meet = _p_meet_with_losses(typical, sd_param, typical_setup, settings.sla_s, p_loss)
        survive = _survival(p_meet, p_total_below(typical, sd_param, typical_setup, settings.sla_s), p_loss)
        # Only ranks configurations where P underflows (nothing reaches the target).
        var_setup = (setup.se_mean_s / max(math.exp(log_sla), setup.se_mean_s, 1e-9)) ** 2
        z_meet = (log_sla - typical) / np.sqrt(pred.var_param + var_setup + 1e-12)
        feasible = draws + 0.5 * model.sigma**2 <= log_sla
    else:
        z_meet = np.full(len(cands), np.inf)
        p_meet = np.ones(len(cands))
        feasible = np.ones_like(draws, dtype=bool)
    masked = np.where(feasible, draws_cost, np.inf)
    winner = np.where(feasible.any(axis=1), masked.argmin(axis=1), draws.argmin(axis=1))
    p_best = np.bincount(winner, minlength=len(cands)) / _SAMPLES
    p_run = (_p_meet_with_losses(pred.mean_log, pred.sd_run, setup, settings.sla_s, p_loss)
             if settings.sla_s else np.ones(len(cands)))
    rows = RuntimeModel.rows(x_hw)[hw]
    belief = Belief(
        pred.mean_log,
        rows @ model.cov @ rows.T,
        model.sigma,
        price * (1.0 + _LOSS_REWORK * p_loss) / 3600.0,
        log_sla if settings.sla_s else None,
        z_targets(settings.p_target, survive),
        price * setup.mean_s * (1.0 + _LOSS_REWORK * p_loss) / 3600.0,
    )
    kg = knowledge_gradient(belief)
    tried = frozenset(o.config_id for o in runs)
    median, lo, hi = _interval_with_losses(pred.mean_log, pred.sd_run, setup, p_loss)
    return _Outlook(pred, expected, cost, p_meet, p_run, z_meet, p_best, draws_cost, feasible, tried, kg, setup,
                    median, lo, hi, growth, p_loss, hw)


def _hardware(cands: Sequence[Candidate], x_cands: np.ndarray, off_cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each candidate's hardware index, each hardware's first candidate). Candidates are one
    hardware when only their capacity market (spot or on demand, and so their price and loss rate)
    differs: the same instance types and node counts, the same features and replay shape."""
    index: dict[tuple[object, ...], int] = {}
    hw = np.empty(len(cands), dtype=int)
    first: list[int] = []
    for i, c in enumerate(cands):
        key = (c.instance_type, c.driver_type, c.nodes, c.autoscale_min, c.autoscale_max,
               *np.round(x_cands[i], 9).tolist(), round(float(off_cands[i]), 9))
        if key not in index:
            index[key] = len(first)
            first.append(i)
        hw[i] = index[key]
    return hw, np.array(first, dtype=int)


def _segment_inputs(history: Sequence[Observation], start: int) -> list[float | None]:
    """Every run's input since the change point, for the trend: a run the model does not learn from
    (an old run far below today's input, one on a configuration outside the space) still measured
    the data. Runs whose input is not the job's (failed or explained: a lost node re-reads its
    input) keep their place on the schedule as unknown."""
    return [o.input_gb if o.ok and not set(o.anomalies) & NOT_LEARNED else None for o in history[start:]]


def _learned_runs(history: Sequence[Observation],
                  scr: Screened) -> tuple[list[Observation], list[float | None]]:
    """(the runs the model learns from, the segment's inputs for the forecast). A learned run without
    an input size is given the one the segment's trend puts at its place (`models.growth.fill_inputs`;
    none without a clear trend: the median's)."""
    start = scr.segment_start
    inputs = _segment_inputs(history, start)
    for i in scr.one_offs:  # one night's input (a backfill) is no trend: unknown, in its place
        if i >= start:
            inputs[i - start] = None
    before_drop = _planned_before_drop(scr, inputs)
    # After a drop only one sized run shows, a run without an input size is taken at the size
    # before the drop, as the next run is planned: filled from the drop, a usual night that did
    # not report its input was learned as a half-size one and the night after it missed the SLA.
    filled = [x or before_drop for x in inputs] if before_drop is not None else fill_inputs(inputs)
    runs = []
    for i in scr.learn:
        obs, size = history[i], filled[i - start]
        runs.append(replace(obs, input_gb=size) if not obs.input_gb and size else obs)
    if before_drop is not None:
        # The input dropped on the latest run only: the next run is planned for the size before
        # the drop until it shows the drop lasts. Planned for the drop, a one-off small night
        # sent the next, usual one to a cluster sized for half its data (it missed the SLA).
        inputs = [before_drop]
    return runs, inputs


def _planned_before_drop(scr: Screened, inputs: Sequence[float | None]) -> float | None:
    """The input before a drop only the latest sized run shows (`Screened.shift_from_gb`), or None."""
    latest = next((x for x in reversed(inputs) if x), None)
    if scr.shift_from_gb is None or latest is None or latest >= scr.shift_from_gb:
        return None
    return scr.shift_from_gb


def _no_forecast(runs: list[Observation]) -> Growth:
    """The latest input, as before the forecast (`FORECAST_INPUT` off: the growth benchmark's baseline)."""
    latest = next((o.input_gb for o in reversed(runs) if o.input_gb), None)
    return Growth(latest, latest, 0.0, 0)


def _growth_note(growth: Growth) -> str:
    """One line a person can check against the runs' input sizes, when the plan is not for the latest input."""
    if not growth.differs or growth.forecast_gb is None or growth.latest_gb is None:
        return ""
    verb = "grows" if growth.rate > 0 else "shrinks"
    return (f"; input {verb} ~{abs(growth.rate):.0%} a run (last {growth.runs} runs): planned for "
            f"~{growth.forecast_gb:.3g} GB next run, {growth.latest_gb:.3g} GB last")


def _p_meet_with_losses(mean_log: np.ndarray, sd: np.ndarray | float, setup: Setup, sla_s: float,
                       p_loss: np.ndarray) -> np.ndarray:
    """P(the whole run <= ``sla_s``) when a spot loss (probability ``p_loss``) lengthens the
    execution by `_LOSS_REWORK` of itself."""
    clean = p_total_below(mean_log, sd, setup, sla_s)
    lost = p_total_below(mean_log + math.log1p(_LOSS_REWORK), sd, setup, sla_s)
    return (1.0 - p_loss) * clean + p_loss * lost


def _interval_with_losses(mean_log: np.ndarray, sd: np.ndarray, setup: Setup, p_loss: np.ndarray,
                          level: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and central ``level`` interval of one run's whole runtime from the same loss mixture
    the expected cost and P(meet SLA) use: with probability ``p_loss`` a spot loss lengthens the
    execution by `_LOSS_REWORK` of itself. Without it the interval of a spot cluster losing nodes
    2 or 6 times an hour was the same (P(loss) 34% against 72%), and a lost run's runtime fell at
    its top. Each branch is `total_interval`'s log-normal; the mixture's quantiles by bisection."""
    clean = total_interval(mean_log, sd, setup, level)
    p_loss = np.broadcast_to(np.asarray(p_loss, dtype=float), clean[0].shape)
    if not (p_loss > 0).any():
        return clean
    lost = total_interval(np.asarray(mean_log, dtype=float) + math.log1p(_LOSS_REWORK), sd, setup, level)
    z = float(ndtri(0.5 + level / 2))
    mu = np.stack([np.log(clean[0]), np.log(lost[0])])
    s = np.stack([np.log(clean[0] / clean[1]) / z, np.log(lost[0] / lost[1]) / z])
    s = np.maximum(s, 1e-12)
    w = np.stack([1.0 - p_loss, p_loss])

    def quantile(q: float) -> np.ndarray:
        lo = (mu - 8.0 * s).min(axis=0)
        hi = (mu + 8.0 * s).max(axis=0)
        for _ in range(60):  # 2^-60 of a 16-sd bracket: far below a second
            mid = 0.5 * (lo + hi)
            below = (w * ndtr((mid - mu) / s)).sum(axis=0) < q
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return np.exp(0.5 * (lo + hi))

    tail = (1.0 - level) / 2
    return quantile(0.5), quantile(tail), quantile(1.0 - tail)


def _survival(p_meet: np.ndarray, p_clean: np.ndarray, p_loss: np.ndarray) -> np.ndarray:
    """The factor a spot loss leaves of P(meet), ``p_meet / p_clean`` (between ``1 - p_loss``, every
    loss a miss, and 1): the knowledge gradient's bar for a feasible configuration
    (`models.acquire.z_targets`) scales by it, as the recommendation's does."""
    ratio = np.where(p_clean > 1e-12, p_meet / np.maximum(p_clean, 1e-12), 1.0 - p_loss)
    return np.clip(ratio, 1.0 - p_loss, 1.0)


def _designed_runs(history: Sequence[Observation], scr: Screened) -> int:
    """Runs of the segment that spent its learning budget: every learned run after the segment's
    start on a configuration Trimtab applied, and one explained run per configuration (a run lost
    to a spot loss or a failure was tried, but its repeats are not new designs). Runs no
    recommendation made (the job's own before import, a backfilled history on the clusters its
    owner ran, an owner's edit) count once per configuration, the segment's first one's not at
    all: each configuration is one measurement whatever its repeats. Counted run by run, an
    imported history that began on another cluster than the one found spent the whole budget on
    the runs of the cluster as found, and learning was skipped (review rev15i)."""
    start = scr.segment_start
    if start >= len(history):
        return 0
    learned = set(scr.learn)
    explained: set[str] = set()
    measured = {history[start].config_id}  # configurations the owner's runs measured
    designed = 0
    for j in range(start + 1, len(history)):
        cfg = history[j].config_id
        if not history[j].recommendation_applied:
            if cfg not in measured:
                measured.add(cfg)
                designed += 1
        elif j in learned:
            designed += 1
        elif cfg not in explained:
            explained.add(cfg)
            designed += 1
    return designed


def _unlearnable(cands: list[Candidate], history: Sequence[Observation], scr: Screened) -> np.ndarray:
    """Configurations not to run to learn or explore: `_UNLEARNABLE_LOSSES` runs or more in the
    segment were explained (lost spot nodes, retried, timed out, cancelled, failed to launch ...)
    and none was learned, so another run most likely is explained away too. They may still be the
    recommendation when the model says they are best. This also bounds learning: `_designed_runs`
    counts one explained run per configuration, so without the mask a configuration whose runs are
    always explained could be picked again and again with the learning counter standing still."""
    learned_runs = set(scr.learn)
    learned = {history[i].config_id for i in learned_runs}
    explained = Counter(history[i].config_id for i in range(scr.segment_start, len(history))
                        if i not in learned_runs and history[i].config_id not in learned)
    return np.array([explained[c.config_id] >= _UNLEARNABLE_LOSSES for c in cands], dtype=bool)


def _overran(history: Sequence[Observation], scr: Screened, settings: Settings) -> frozenset[str]:
    """Configurations of the segment whose runs were cancelled after running past the SLA (an
    orchestrator's timeout at the SLA, a person giving up) and that never succeeded in it: too slow,
    avoided as a failure is. A cancel says nothing of the cluster otherwise (models/changes.py), but
    one past the SLA is a runtime of at least the SLA: not avoided, a job cancelled at the SLA every
    night ran on the same cluster for good ("no usable run yet: measuring ... first")."""
    if not settings.sla_s:
        return frozenset()
    segment = history[scr.segment_start:]
    succeeded = {o.config_id for o in segment if o.ok}
    return frozenset(o.config_id for o in segment
                     if "cancelled" in o.anomalies and o.runtime_s >= settings.sla_s) - succeeded


def _avoided(cands: list[Candidate], failed: frozenset[str], oom_memory_per_core: float,
             oom_configs: frozenset[str] = frozenset()) -> np.ndarray:
    """Configurations not to run: those not allowed (observed only), those that failed, and after an
    out-of-memory failure those with no more memory per core (unless that would leave nothing to run).

    When every candidate has no more memory per core (one family, c6id's 2 GiB/vCPU throughout), the
    nodes no bigger than one that ran out of memory are avoided, else at least its instance type:
    a task slot's share of the heap still grows with the node (the per-node overheads are fixed,
    and a skewed task draws on a bigger executor's shared memory). Without this, c6id.xlarge x4 ran
    out of memory and c6id.xlarge x5 was explored next at "P(meet SLA)=100%" and failed the same way
    (every c6id.xlarge size fails, every c6id.2xlarge one succeeds: review revL F4)."""
    avoid = np.array([c.config_id in failed or not c.allowed for c in cands])
    if oom_memory_per_core > 0:
        short = np.array([c.memory_per_core_gib <= oom_memory_per_core * (1 + 1e-9) for c in cands])
        if not (avoid | short).all():
            avoid |= short
            return avoid
        ran_out = [c for c in cands if c.config_id in oom_configs]
        node_gib = max((c.memory_gib for c in ran_out), default=0.0)
        small = np.array([c.memory_gib <= node_gib * (1 + 1e-9) for c in cands])
        same_type = np.array([c.instance_type in {o.instance_type for o in ran_out} for c in cands])
        for rule in (small, same_type):
            if rule.any() and not (avoid | rule).all():
                avoid |= rule
                break
    return avoid


def _held(out: _Outlook, best: int, history: Sequence[Observation], start: int, settings: Settings,
          avoid: np.ndarray, cands: list[Candidate]) -> int | None:
    """The configuration the job runs on now, when it stays the recommendation although ``best`` is
    predicted a little cheaper (less than ``min_saving`` a run) or is dearer, while its own P(meet
    SLA) is within `_P_BAND` of the bar a recommendation must reach (`_bars`). Without this
    hysteresis a stable job switched clusters back and forth on predicted differences of 0.2% (2xc.2x
    and 2xc.4x four times in 30 runs), and a job whose clusters all sat near P 0.9 moved to a dearer
    one each time its P dipped 0.01 under the target (review revL F1), each switch a change for its
    owner to read about and nothing it can measure. None: ``best`` it is."""
    index = {c.config_id: i for i, c in enumerate(cands)}
    j = next((index[o.config_id] for o in reversed(history[start:]) if o.ok and o.config_id in index), None)
    if j is None or j == best or avoid[j]:
        return None
    if settings.sla_s:
        p_top = _bars(out, settings, avoid)[1]
        if p_top < settings.p_target and p_top < _P_RANKS:
            return None  # in the tails the likeliest is ranked by z-score: no band to hold in
        # Within the band under the target, or (nothing reaches it) under the likeliest: not under
        # the bar's own band too, which held a cluster at P 0.85 beside one at 0.89 (a closed loop).
        if out.p_meet[j] < min(settings.p_target, p_top) - _P_BAND:
            return None
    saving = 1.0 - out.cost[best] / out.cost[j]
    return j if saving < settings.min_saving else None


# How much dearer a run may be that checks a slow run on a cluster measured before it.
_RECHECK_PREMIUM = 1.25


def _recheck_pick(out: _Outlook, best: int, settings: Settings, avoid: np.ndarray, cands: list[Candidate],
                  scr: Screened, history: Sequence[Observation]) -> int | None:
    """A configuration measured before the segment's open suspect slow run (`Screened.suspect`), to
    run instead of ``best`` when ``best`` could not judge it: the slow run's own configuration when
    it ran `OWN_BASELINE` times before it (a rerun tells noise from a regression best,
    `models.changes._fell_back`), else the cheapest, each
    only if it meets the SLA target and is at most `_RECHECK_PREMIUM` dearer. After a slow run the
    model leans to a bigger cluster never measured, whose runs say nothing of a regression: a 2x
    slowdown went unseen in 2 of 10 closed loops and the job stayed on a cluster 9% dearer than it
    needed. None: ``best`` it is."""
    if scr.suspect is None or cands[best].config_id in scr.judges:
        return None
    # A judge whose reruns since keep being explained away (lost spot nodes) tells nothing either.
    learned = set(scr.learn)
    lost = Counter(history[i].config_id for i in range(scr.suspect + 1, len(history)) if i not in learned)
    judges = {c for c in scr.judges if lost[c] < _UNLEARNABLE_LOSSES}
    ok = np.array([c.config_id in judges for c in cands]) & ~avoid & (out.cost <= _RECHECK_PREMIUM * out.cost[best])
    if settings.sla_s:
        ok &= out.p_meet >= settings.p_target
    own_id = history[scr.suspect].config_id
    own = next((i for i, c in enumerate(cands) if c.config_id == own_id), None)
    if own is not None and ok[own]:
        before = sum(1 for i in scr.learn if i < scr.suspect and history[i].config_id == own_id)
        if before >= OWN_BASELINE:
            return own
        # With few runs before it the rerun shares their noise with the slow run (and sees only
        # part of its shift): another cluster measured before it judges it alone, when there is one.
        others = ok.copy()
        others[own] = False
        if others.any():
            ok = others
    return int(np.argmin(np.where(ok, out.cost, np.inf))) if ok.any() else None


def _refused(cands: list[Candidate], avoid: np.ndarray, scr: Screened) -> tuple[np.ndarray, str]:
    """``avoid`` with the configurations of the instance types the cloud keeps refusing
    (`models.changes.refused_instance_types`), and the note that names them for the reason. They
    are not avoided when that would leave nothing to run (as `_avoided`'s out-of-memory rule)."""
    if not scr.refused:
        return avoid, ""
    kinds = {r.instance_type for r in scr.refused}
    refused = np.array([c.instance_type in kinds for c in cands])
    if (avoid | refused).all():
        return avoid, ""
    said = "; ".join(
        f"{r.instance_type} failed to launch {r.in_a_row} times in a row, so its configurations are avoided "
        f"for {r.runs_left} more run{'s' if r.runs_left != 1 else ''}" for r in scr.refused)
    return avoid | refused, f" ({said}: the cloud's capacity or a limit, see the runs' messages)"


def _best_index(out: _Outlook, settings: Settings, avoid: np.ndarray, barred: np.ndarray) -> int:
    """The recommendation; ``barred`` marks the candidates that are not allowed (also in ``avoid``)."""
    return _choose(out, settings, avoid, barred)[0]


def _bars(out: _Outlook, settings: Settings, avoid: np.ndarray) -> tuple[float, float]:
    """(the P a recommendation must reach, the highest P of a configuration not avoided). The bar is
    the target, or `_P_BAND` under the highest P when that is less than `_P_BAND` above the target: a
    cluster at P 0.89 is not dropped for one at 0.902 that costs five times as much."""
    p_top = float(np.max(np.where(avoid, -np.inf, out.p_meet))) if (~avoid).any() else 0.0
    if not settings.sla_s:
        return settings.p_target, p_top
    return min(settings.p_target, p_top - _P_BAND), p_top


def _choose(out: _Outlook, settings: Settings, avoid: np.ndarray, barred: np.ndarray) -> tuple[int, int]:
    """(the recommendation, the configuration likeliest to meet the SLA among those it was chosen
    from). ``barred`` marks the candidates that are not allowed (also in ``avoid``)."""
    if (~avoid).any():
        bar, p_top = _bars(out, settings, avoid)
        top = int(np.argmax(np.where(avoid, -np.inf, out.p_meet)))
        if not settings.sla_s or p_top >= settings.p_target:
            ok = (out.p_meet >= bar) & ~avoid
            return int(np.argmin(np.where(ok, out.cost, np.inf))), top
    # Nothing is predicted to meet the SLA well enough: the likeliest to meet it.
    if avoid.all() and barred.any():
        # Every allowed configuration failed: the likeliest of them still, never one that is not
        # allowed (with every candidate allowed this is the old all-avoided pick, unchanged).
        avoid = barred
    # Among configurations whose execution is predicted within `_NEAR_FASTEST` of the fastest:
    # where every P is in the model's tails the widest spread wins, and a review found a
    # configuration never run, predicted at 9x the SLA, named the likeliest (and, with the window
    # over the whole runtime, setup included, one executing 3x as long as the fastest).
    execution = np.exp(out.pred.mean_log)
    near = ~avoid & (execution <= _NEAR_FASTEST * np.min(np.where(avoid, np.inf, execution)))
    if not near.any():
        near = ~avoid if (~avoid).any() else np.ones(len(avoid), dtype=bool)
    p_near = np.where(near, out.p_meet, -np.inf)
    top = int(np.argmax(p_near))
    if p_near[top] >= _P_RANKS:
        # P ranks (`_P_RANKS`); among those within `_P_BAND` of the likeliest, the cheapest (a
        # spot twin's losses are in its P), then the likelier.
        close = np.flatnonzero(p_near >= p_near[top] - _P_BAND)
        return int(close[np.lexsort((-out.p_meet[close], out.cost[close]))[0]]), top
    # In the tails, by z-score: ranking by P there cost the tuning benchmark misses (docs/tuning.md).
    # A cluster and its spot or on-demand twin are one hardware (`_hardware`): their z-scores tie,
    # and the one whose P is higher (no spot losses), then the cheaper, is the likeliest, not the
    # one listed first.
    score = np.where(near, out.z_meet, -np.inf)
    ties = np.flatnonzero(score >= score.max() - 1e-9)
    pick = int(ties[np.lexsort((out.cost[ties], -out.p_meet[ties]))[0]])
    return pick, pick


def _usable(avoid: np.ndarray, cands: list[Candidate]) -> np.ndarray:
    """The configurations a recommendation may be: not avoided, or (every one avoided) allowed."""
    return ~avoid if not avoid.all() else np.array([c.allowed for c in cands])


def _sla_unlikely(out: _Outlook, settings: Settings, avoid: np.ndarray, runnable: np.ndarray,
                  cands: list[Candidate], bar: float) -> bool:
    """No configuration meets the SLA with P >= `_OUT_OF_REACH_P`, as the rule counts it or in one
    run (under the typical-run rule a typical runtime just over the SLA has P~0, yet single runs
    may still meet it often), and the job has run a configuration about as fast as the fastest one
    predicted (within `_AS_FAST`): the SLA is out of reach on the job's own evidence. Until then the
    likeliest runs (`_best_index`): the model's P far from the measured configurations is an
    extrapolation, and at tight SLAs it was too low early on (tuning benchmark, dataproc q0.2, with
    no such run asked for: kept where it last ran, the job never reached the fast configurations
    that meet the SLA; cost/oracle 1.35 -> 2.27).
    ``bar``: `_reach_bar`, the P it takes (higher to leave than to enter).
    ``runnable``: what the job may run, a capacity refusal aside (`_working_sla`)."""
    if not settings.sla_s:
        return False
    usable = _usable(avoid, cands)
    p = np.maximum(out.p_meet, out.p_run)
    if np.max(np.where(usable, p, 0.0)) >= bar:
        return False
    # What the job can do: a configuration avoided for now (refused capacity) has still run.
    tried = np.array([c.config_id in out.tried for c in cands]) & runnable
    if not tried.any():
        return False
    return bool(out.median_s[tried].min() <= _AS_FAST * out.median_s[usable].min())


def _reach_bar(out: _Outlook, cands: list[Candidate], last_run: str | None) -> float:
    """The P under which the SLA counts as out of reach (`_sla_unlikely`): `_OUT_OF_REACH_P` to
    enter, `_LEAVE_OUT_OF_REACH_P` to leave once ``last_run``, the configuration of the newest
    learned run, was below it too (the job ran under the working SLA)."""
    p = np.maximum(out.p_meet, out.p_run)
    at = next((i for i, c in enumerate(cands) if c.config_id == last_run), None)
    return _LEAVE_OUT_OF_REACH_P if at is not None and p[at] < _OUT_OF_REACH_P else _OUT_OF_REACH_P


def _sla_below_setup(settings: Settings, setup: Setup) -> bool:
    """The SLA is shorter than the cluster's typical setup alone: no configuration can meet it."""
    return bool(settings.sla_s) and setup is not NO_SETUP and settings.sla_s <= setup.mean_s


def _sla_below_setup_decision(cands: list[Candidate], history: Sequence[Observation], out: _Outlook,
                              avoid: np.ndarray, settings: Settings, prefix: str, common: _Common) -> Decision:
    """An SLA below the setup time (a mistake of its owner, a unit, a typo) is not a target:
    chasing it would buy the fastest, dearest cluster every night for a P of 0. So the job stays
    on the configuration it last ran well on (the cheapest allowed one if none), nothing is
    explored, and the reason says what to fix."""
    usable = {c.config_id: i for i, c in enumerate(cands) if not avoid[i]}
    last = next((usable[o.config_id] for o in reversed(history) if o.ok and o.config_id in usable), None)
    if last is None:
        # Every allowed configuration failed: still never one that is not allowed (as `_best_index`).
        pool = _usable(avoid, cands)
        last = int(np.argmin(np.where(pool, out.cost, np.inf)))
    runtime = f"{out.median_s[last]:.0f}s [{out.lo_s[last]:.0f}, {out.hi_s[last]:.0f}]"
    why = (f"the {settings.sla_s:.0f}s SLA is shorter than the cluster setup alone (~{out.setup.mean_s:.0f}s): "
           f"no configuration can meet it, so {cands[last].name} is kept until the SLA is raised (its "
           f"runtime {runtime})")
    phase = "optimizing" if settings.auto_apply else "monitoring"
    common = replace(common, best=cands[last], p_best=float(out.p_best[last]))
    return _decision(cands, out, last, phase, prefix + why + _loss_note(out, last), common)


def _fastest_decision(cands: list[Candidate], out: _Outlook, avoid: np.ndarray, settings: Settings, prefix: str,
                      bar: float, common: _Common) -> Decision:
    """The SLA is out of reach (`_sla_unlikely`) and the project's working SLA is off: its owner
    would rather pay for the fastest every run. The fastest *measured* configuration it may run, not
    the likeliest of `_best_index`: far from the SLA the likeliest is the one with the widest spread,
    an untried cluster the model itself predicts 1.4-2x slower (a review: 15 of 72 runs over 1.25x
    the fastest). Nothing is learned or explored for an SLA no configuration meets."""
    usable = _usable(avoid, cands)
    tried = np.array([c.config_id in out.tried for c in cands]) & usable
    fast = int(np.argmin(np.where(tried if tried.any() else usable, out.median_s, np.inf)))
    runtime = f"{out.median_s[fast]:.0f}s [{out.lo_s[fast]:.0f}, {out.hi_s[fast]:.0f}]"
    why = (f"the {settings.sla_s:.0f}s SLA is out of reach: no configuration is predicted to meet it with "
           f"P>={bar:.0%}{_bar_note(bar)}, and the project's working SLA is off, so the fastest measured, "
           f"{cands[fast].name}, runs until the SLA is raised or the job made faster: runtime {runtime}, "
           f"expected cost {money(out.cost[fast], settings.currency)}/run, P={_pct(out.p_meet[fast])}")
    phase = "optimizing" if settings.auto_apply else "monitoring"
    common = replace(common, best=cands[fast], p_best=float(out.p_best[fast]))
    return _decision(cands, out, fast, phase, prefix + why + _loss_note(out, fast), common)


def _bar_note(bar: float) -> str:
    return " (the bar to leave it once out of reach)" if bar > _OUT_OF_REACH_P else ""


def _working_sla(cands: list[Candidate], out: _Outlook, settings: Settings,
                 runnable: np.ndarray, bar: float) -> tuple[float, str]:
    """The SLA the plan aims at while the owner's is out of reach (`_sla_unlikely`), and the words
    that say so: `Settings.miss_badly` times the fastest measured configuration's median runtime.
    Bounded near what the job can do, a miss stays a near miss; above it, no dearer cluster is
    bought for a P that stays near 0, and the cheapest configuration that meets it is searched for
    as under any SLA (learning and exploring included). Every measured configuration the job may run
    (``runnable``) counts, one avoided for now too (refused capacity): what the job can do did not
    change, and a working SLA loosened for the refusal's seven runs moved the job twice. Not one
    outside the owner's bounds, or one that failed or ran out of memory: a review found a 24-worker
    cluster as found, outside a 6-worker cap, setting a working SLA no allowed cluster could meet."""
    tried = np.array([c.config_id in out.tried for c in cands]) & runnable
    fast = int(np.argmin(np.where(tried, out.median_s, np.inf)))
    assert settings.sla_s  # `_sla_unlikely` holds only with an SLA
    working = max(settings.sla_s, settings.miss_badly * float(out.median_s[fast]))
    p = f"P={_pct(out.p_meet[fast])}"
    if not settings.sla_per_run:
        p += f", a single run {_pct(out.p_run[fast])}"
    why = (f"the {settings.sla_s:.0f}s SLA is out of reach: no configuration is predicted to meet it with "
           f"P>={bar:.0%}{_bar_note(bar)}, and the fastest measured, {cands[fast].name}, runs in "
           f"{out.median_s[fast]:.0f}s ({p}) at {money(out.cost[fast], settings.currency)}/run; so the plan "
           f"aims at a {working:.0f}s working SLA ({settings.miss_badly - 1:.0%} over the fastest measured "
           "runtime) until the SLA is raised or the job made faster: ")
    return working, why


def _learning_pick(out: _Outlook, settings: Settings, avoid: np.ndarray) -> int | None:
    if settings.sla_s:
        limit = settings.miss_badly * settings.sla_s
        not_badly = p_total_below(out.pred.mean_log, out.pred.sd_run, out.setup, limit) >= settings.p_learn
    else:
        not_badly = np.ones(len(avoid), dtype=bool)
    admissible = (out.p_best > 0) & not_badly & ~avoid
    if not admissible.any():
        return None
    # Information (Bayesian D-optimal gain of one more run) weighted by the chance that the
    # configuration is the one we are looking for and (twice) that this run meets the SLA: spread
    # where it matters, without spending SLA misses on it.
    gain = np.log1p(out.pred.var_param / out.pred.sigma**2)
    return int(np.argmax(np.where(admissible, gain * out.p_best * out.p_run**_LEARN_RUN_POW, -np.inf)))


# Under the every-run SLA an exploration must reach p_target itself (`_explore_floor`); False restores
# the priced risk down to p_explore for every rule (for measuring only, as FORECAST_INPUT).
EXPLORE_AT_TARGET = True


def _explore_floor(settings: Settings) -> float:
    """The least P(one run meets the SLA) an exploration run may have.

    When the SLA is promised for every run (`Settings.sla_per_run`, the product's default), a run
    tried for information is one of those runs: it gets the same P >= p_target as the
    recommendation. With the looser floor, jobs right after a rebase tried configurations at P 0.64
    for a 10% saving and at P 0.91-0.99 for 1.3-1.8%, five in a row, and missed the SLA in 5 of 24
    such runs against 2 of 72 other optimizing runs (a simulated month). Under the typical-run rule
    the risk is priced (`miss_penalty`) down to `p_explore`."""
    if EXPLORE_AT_TARGET and settings.sla_s and settings.sla_per_run:
        return max(settings.p_explore, settings.p_target)
    return settings.p_explore


def _explore_pick(out: _Outlook, best: int, settings: Settings, avoid: np.ndarray) -> tuple[int, float] | None:
    # The saving a run buys is the knowledge gradient: how much cheaper the recommendation is
    # expected to become after it, including what it teaches about similar configurations (a
    # one-step "is this one cheaper" saving never tries an unexplored instance type whose
    # cheapest sizes only become safe once one of its sizes is measured).
    saving = out.kg
    extra = np.maximum(out.cost - out.cost[best], 0.0)
    risk = (1.0 - out.p_run) * settings.miss_penalty * out.cost[best] if settings.sla_s else 0.0
    # Nothing reaches the SLA target, so the recommendation itself misses some runs: a run is charged
    # only the misses it adds to the recommendation's (credited those it avoids), and under the
    # every-run rule one as likely to meet the SLA as the recommendation may run. With the floor at
    # the target a job sat on a cluster at P 0.70 for 21 runs, unable to try any other (revL F2).
    below = bool(settings.sla_s) and out.p_meet[best] < settings.p_target
    if below:
        risk = (out.p_run[best] - out.p_run) * settings.miss_penalty * out.cost[best]
    value = settings.explore_horizon * saving - extra - risk
    value[best] = -np.inf
    value[avoid | (out.p_run < settings.p_explore)] = -np.inf
    value[saving < settings.min_saving * out.cost[best]] = -np.inf
    pick = int(np.argmax(value))
    if not value[pick] > 0:
        return None
    floor = _explore_floor(settings)
    if below:
        floor = min(floor, max(settings.p_explore, float(out.p_run[best])))
    if out.p_run[pick] < floor:
        # The run worth most is too risky for the promise: no exploration this run. Not the next
        # best one instead: excluding the risky ones sent jobs exploring safe but dear
        # configurations run after run (r5.2xlarge x 24 at $5.08 against $2.98 for the best).
        return None
    return pick, float(saving[pick] / out.cost[best])


def _sla_note(out: _Outlook, i: int, settings: Settings) -> str:
    return (f", P(meet {settings.sla_name})={out.p_meet[i]:.0%}" if settings.sla_s else "") + _loss_note(out, i)


def _best_reason(cands: list[Candidate], out: _Outlook, i: int, settings: Settings,
                 likeliest: int | None = None, held: int | None = None, top: int | None = None,
                 avoid: np.ndarray | None = None) -> str:
    """Why ``i`` is recommended. ``likeliest``: no configuration reaches the SLA target, and ``i``
    is the likeliest to meet it, or the cheapest of those within `_P_BAND` of ``top``, the likeliest
    (not the cheapest: the reason must not say so). ``held``: the configuration `_choose` took,
    which ``i`` (the current configuration, `_held`) stays on against. ``avoid``: what may not run
    (for naming the cheapest configuration that reaches the target when ``i`` is just under it)."""
    runtime = f"runtime {out.median_s[i]:.0f}s [{out.lo_s[i]:.0f}, {out.hi_s[i]:.0f}]"
    if out.setup.mean_s > 0:
        runtime += f" incl. ~{out.setup.mean_s:.0f}s cluster setup"
    cost = money(out.cost[i], settings.currency)
    if avoid is None:
        avoid = np.zeros(len(cands), dtype=bool)
    if held is not None:
        if out.cost[held] < out.cost[i]:
            what = (f"{cands[i].name} stays: expected cost {cost}/run, {runtime}; {cands[held].name} is predicted "
                    f"{money(out.cost[held], settings.currency)}/run, a saving under {settings.min_saving:.0%} a run "
                    "is not worth a change of cluster")
        else:
            what = (f"{cands[i].name} stays: expected cost {cost}/run, {runtime}; {cands[held].name} is predicted "
                    f"{money(out.cost[held], settings.currency)}/run with P={out.p_meet[held]:.1%}, and a dearer "
                    f"cluster is not worth a change while this one's P is within {_P_BAND:.0%} of "
                    f"{min(settings.p_target, _bars(out, settings, avoid)[1]):.1%}"
                    f" ({'the target' if _bars(out, settings, avoid)[1] >= settings.p_target else 'the likeliest'})")
        if not settings.sla_s:
            return what + " (no SLA)" + _loss_note(out, i)
        return what + f"; meets the {settings.sla_s:.0f}s {settings.sla_name} with P={out.p_meet[i]:.1%}" + _loss_note(out, i)
    if likeliest is not None and settings.sla_s:
        # What meeting the SLA more often costs, against the cheapest configuration.
        low = int(np.argmin(np.where([c.allowed for c in cands], out.cost, np.inf)))
        dearer = (f" against {money(out.cost[low], settings.currency)} for the cheapest, {cands[low].name}"
                  if out.cost[low] < out.cost[i] else "")
        then = (f"the plan aims at {settings.miss_badly - 1:.0%} over the fastest measured runtime"
                if settings.working_sla else "the fastest measured runs (the project's working SLA is off)")
        untried = (f"; if a run about as fast shows P below {_OUT_OF_REACH_P:.0%} too, the SLA is out of reach "
                   f"and {then}"
                   if max(out.p_meet[i], out.p_run[i]) < _OUT_OF_REACH_P and cands[i].config_id not in out.tried
                   else "")
        if top is not None and top != i:
            return (f"{cands[i].name}: the cheapest of the likeliest to meet the {settings.sla_s:.0f}s "
                    f"{settings.sla_name} (P within {_P_BAND:.0%} of the highest, {_pct(out.p_meet[top])} for "
                    f"{cands[top].name} at {money(out.cost[top], settings.currency)}/run), not the cheapest: expected "
                    f"cost {cost}/run{dearer}, {runtime}; no configuration reaches P>={settings.p_target:.0%}, "
                    f"this one meets it with P={_pct(out.p_meet[i])}" + untried + _loss_note(out, i))
        return (f"{cands[i].name}: likeliest to meet the {settings.sla_s:.0f}s {settings.sla_name}, not the cheapest: expected "
                f"cost {cost}/run{dearer}, {runtime}; no configuration reaches P>={settings.p_target:.0%}, "
                f"this one meets it with P={_pct(out.p_meet[i])}" + untried + _loss_note(out, i))
    what = f"{cands[i].name}: cheapest expected cost {cost}/run, {runtime}"
    if not settings.sla_s:
        return what + " (no SLA)" + _loss_note(out, i)
    under = ""
    if out.p_meet[i] < settings.p_target:
        # Taken within `_P_BAND` under the target (`_bars`): say so, and what reaching it costs.
        reach = (out.p_meet >= settings.p_target) & ~avoid
        k = int(np.argmin(np.where(reach, out.cost, np.inf)))
        under = (f", {settings.p_target - out.p_meet[i]:.1%} under the {settings.p_target:.0%} target: the cheapest "
                 f"that reaches it, {cands[k].name}, is predicted {money(out.cost[k], settings.currency)}/run for "
                 f"P={out.p_meet[k]:.1%}, too little more for its price") if reach.any() else ""
    if settings.sla_per_run:
        return (what + f", each run meets the {settings.sla_s:.0f}s {settings.sla_name} with P={_p(out.p_meet[i], under)}"
                + under + _loss_note(out, i))
    # The rule is about the typical run; how often a single night's run stays within the SLA
    # (setup and run-to-run noise included) is what its owner sees, so say both.
    return (what + f", meets the {settings.sla_s:.0f}s {settings.sla_name} with P={_p(out.p_meet[i], under)}"
            f" (a single run: {out.p_run[i]:.0%})" + under + _loss_note(out, i))


def _p(p: float, fine: str) -> str:
    """P as reasons show it: to a tenth of a percent where the reason compares it with one close by."""
    return f"{p:.1%}" if fine else f"{p:.0%}"


def _pct(p: float) -> str:
    """A probability for a reason: tiny ones are not shown as 0%."""
    return f"{p:.0%}" if p >= 0.01 or p == 0 else f"{p:.1%}" if p >= 0.001 else f"{p:.0e}"


def _loss_note(out: _Outlook, i: int) -> str:
    """The chance a run loses spot nodes, which the runtime, cost and P above all include."""
    return f", incl. a {out.p_loss[i]:.0%} chance of losing spot nodes" if out.p_loss[i] >= 0.005 else ""


def _decision(
    cands: list[Candidate], out: _Outlook, i: int, phase: str, reason: str, common: _Common
) -> Decision:
    lo, hi = out.lo_s, out.hi_s
    # The expected cost counts the rework an expected spot loss adds (`expected_s`); the runtime
    # interval holds the same losses (`_interval_with_losses`), so the cost interval is it priced:
    # the estimate stays inside its own interval on spot clusters (it fell outside, "1.14 USD
    # [0.86, 1.09]", while neither counted the losses).
    price = cands[i].price_per_hour / 3600.0
    return Decision(
        candidate=cands[i],
        phase=phase,
        predicted_runtime_s=float(out.median_s[i]),
        runtime_interval_s=(float(lo[i]), float(hi[i])),
        predicted_cost=float(out.cost[i]),
        cost_interval=(float(lo[i] * price), float(hi[i] * price)),
        p_meet_sla=float(out.p_meet[i]) if common.has_sla else None,
        reason=reason + _growth_note(out.growth),
        rebased=common.rebased,
        explained=common.explained,
        best=common.best,
        p_best=common.p_best,
        change_at=common.change_at,
        change_kind=common.change_kind,
    )


def _lost_yet_met(cands: list[Candidate], raw: Sequence[Observation], history: Sequence[Observation],
                  scr: Screened, settings: Settings, avoid: np.ndarray) -> tuple[int, int] | None:
    """With no usable run yet: (the index of the segment's latest run that lost spot nodes yet
    succeeded within the SLA, the configuration to run next), or None. A lost node lengthens a run,
    so that run is an upper bound on its cluster's runtime without the loss: evidence that the
    cluster meets the SLA, not nothing. The same hardware runs next, on demand when its twin may run
    (the same spot market most likely takes the next run's nodes too), else as it was. Dropped as
    "no usable run", the imported cluster's first run (504 s of a 600 s SLA, one spot node lost)
    was followed by the median-core cluster with the lowest price per core, chosen with no SLA check,
    for a memory-heavy join: c6id.8xlarge x2 spot (741 s, a miss), then c6id.4xlarge x4 (631 s, a
    miss) (review revL F3)."""
    if not settings.sla_s:
        return None
    index = {c.config_id: i for i, c in enumerate(cands)}
    run = next((k for k in range(len(raw) - 1, scr.segment_start - 1, -1)
                if raw[k].ok and "spot_loss" in raw[k].anomalies and raw[k].config_id in index), None)
    if run is None or raw[run].runtime_s > settings.sla_s or history[run].runtime_s <= 0:
        return None
    lost = cands[index[raw[run].config_id]]
    twins = [i for i, c in enumerate(cands) if not avoid[i] and (c.instance_type, c.driver_type, c.nodes,
             c.autoscale_min, c.autoscale_max) == (lost.instance_type, lost.driver_type, lost.nodes,
                                                   lost.autoscale_min, lost.autoscale_max)]
    if not twins:
        return None
    # On demand first (no spot losses), then the cheaper.
    return run, min(twins, key=lambda i: (cands[i].spot, cands[i].interruption_rate, cands[i].price_per_hour))


def _lost_yet_met_reason(cands: list[Candidate], run: Observation, pick: int, out: _Outlook,
                         settings: Settings) -> str:
    """Why the cluster of a run that lost spot nodes and still met the SLA runs next (`_lost_yet_met`)."""
    ran = next(c for c in cands if c.config_id == run.config_id)
    market = (", on demand: the same spot market most likely takes the next run's nodes too"
              if ran.spot and not cands[pick].spot else "")
    return (f"no usable run yet: the latest, on {ran.name}, lost spot nodes yet met the {settings.sla_s:.0f}s "
            f"{settings.sla_name} in {run.runtime_s:.0f}s, an upper bound on its runtime without the loss; so "
            f"{cands[pick].name} runs next{market}. Taking that run as its runtime, it is predicted "
            f"{out.median_s[pick]:.0f}s [{out.lo_s[pick]:.0f}, {out.hi_s[pick]:.0f}] at "
            f"{money(out.cost[pick], settings.currency)}/run and meets the SLA with P={_pct(out.p_meet[pick])}"
            + _loss_note(out, pick))


def _first_run(
    cands: list[Candidate],
    history: Sequence[Observation],
    explained: Mapping[str, str],
    settings: Settings,
    rebased: bool,
    prefix: str,
    slow_cores: float = 0.0,
) -> Decision:
    """No usable run yet: keep the latest configuration if it is a candidate, else a mid-sized one
    (`cands` leaves out what failed, so a job failing everywhere moves on instead of repeating),
    one with more cores than ``slow_cores`` when some has (runs cancelled past the SLA there).
    A run that lost spot nodes is not kept: it taught nothing, and the same spot market most likely
    takes the next run's nodes too; the mid-sized pick then leaves out the configurations that lost
    spot nodes (unless nothing else is left)."""
    known = {c.config_id for c in cands}
    last = next((o.config_id for o in reversed(history)
                 if o.config_id in known and o.ok and "spot_loss" not in o.anomalies), None)
    if last is not None:
        pick = next(c for c in cands if c.config_id == last)
    else:
        lost = {o.config_id for o in history if "spot_loss" in o.anomalies}
        pool = [c for c in cands if c.config_id not in lost] or cands
        pool = [c for c in pool if c.cores > slow_cores] or pool
        median = float(np.median([c.cores for c in pool]))
        pick = min(pool, key=lambda c: (abs(math.log(c.cores / median)), c.price_per_hour / c.cores))
    nan = float("nan")
    return Decision(
        candidate=pick,
        phase="monitoring" if not settings.auto_apply else "learning",
        predicted_runtime_s=nan,
        runtime_interval_s=(nan, nan),
        predicted_cost=nan,
        cost_interval=(nan, nan),
        p_meet_sla=None,
        reason=prefix + f"no usable run yet: measuring {pick.name} first",
        rebased=rebased,
        explained=explained,
        best=pick,
        p_best=0.0,
    )
