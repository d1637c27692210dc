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

The parts, each a module of its own (this one decides; every name callers and tests import from
`models.decide` still imports from here):
- `models.settings`: the project's `Settings`;
- `models.segment`: what the segment's runs say (the runs learned from, the budget spent, what not to run);
- `models.outlook`: the model's view of every candidate (`_Outlook`);
- `models.choose`: which configuration runs next, read off the outlook;
- `models.reasons`: the words of the reasons (and the working SLA, with the words that announce it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from models.changes import Screened, screen
from models.choose import (
    _bars,
    _choose,
    _explore_pick,
    _held,
    _learning_pick,
    _lost_yet_met,
    _lost_yet_met_pick,
    _reach_bar,
    _recheck_pick,
    _sla_below_setup,
    _sla_unlikely,
    _usable,
)
from models.choose import _best_index as _best_index  # re-exported: tests import it from here
from models.first_run import first_pick, newest_loss
from models.money import money
from models.observation import Observation
from models.outlook import _Outlook, _outlook
from models.outlook import _survival as _survival  # re-exported: tests import it from here
from models.prior import DEFAULT_PRIOR, Prior
from models.reasons import (
    _bar_note,
    _best_reason,
    _growth_note,
    _learning_ended,
    _loss_note,
    _lost_yet_met_reason,
    _pct,
    _sla_note,
    _working_sla,
)
from models.segment import (
    _avoided,
    _designed_runs,
    _learned_runs,
    _overran,
    _planned_before_drop,
    _refused,
    _segment_inputs,
    _timed_out_note,
    _unlearnable,
)
from models.settings import Settings
from models.setup import Setup, estimate, execution_view
from models.space import FEATURES, Candidate

_CONFIDENT = 0.8  # P(best) at which learning stops early
# Plan every candidate for the next run's forecast input (`models.growth`) rather than the latest
# run's. Off only to measure what it buys (benchmarks/growth.py); the product runs with it on.
# Read here at each call and handed to `_outlook`, so that setting `models.decide.FORECAST_INPUT` (as
# the benchmark and its tests do) still takes effect now that the outlook is a module of its own.
FORECAST_INPUT = True
# Under the every-run SLA an exploration must reach p_target itself (`_explore_floor`); False restores
# the priced risk down to p_explore for every rule (for measuring only, as FORECAST_INPUT). Handed to
# `_explore_pick` at each call, as FORECAST_INPUT is to `_outlook`.
EXPLORE_AT_TARGET = True


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
    # The SLA this decision aimed at instead of the owner's, which is out of reach (`_working_sla`);
    # None when it aimed at the owner's. Kept as data so the server shows it beside the SLA.
    working_sla_s: float | None = None


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

    timed_out = _timed_out_note(known, raw, scr, overran)

    def told(d: Decision) -> Decision:
        # The avoided instance type is named on every decision while it lasts: the recommendation
        # moved for a reason no run of the new one shows. So are the clusters that timed out.
        return replace(d, reason=d.reason + refused + timed_out, one_offs=scr.one_offs)

    unlearnable = _unlearnable(cands, history, scr)
    if not scr.learn:
        bound = _lost_yet_met(cands, raw, history, scr, settings, avoid)
        if bound is not None:
            run, twins = bound
            runs = [replace(history[run], anomalies=(), stages=())]
            out = _outlook(cands, runs, settings, prior, known, seed, setup, forecast=FORECAST_INPUT)
            pick = _lost_yet_met_pick(out, twins, settings)
            return told(_decision(cands, out, pick, "learning" if settings.auto_apply else "monitoring",
                                  note + _lost_yet_met_reason(cands, raw[run], pick, twins, out, settings),
                                  _Common(rebased, scr.explained, cands[pick], 0.0, True, change_at, scr.change_kind)))
        allowed = [c for c, a in zip(cands, avoid, strict=True) if not a] or [c for c in cands if c.allowed]
        # Past the SLA on a cluster: the next is bigger than every one that overran.
        slow_cores = max((c.cores for c in cands if c.config_id in overran), default=0.0)
        return told(replace(_first_run(allowed, history, scr.explained, settings, rebased, note, slow_cores,
                                       newest_loss(known, raw, scr.segment_start)),
                            change_at=change_at, change_kind=scr.change_kind))
    before_drop = _planned_before_drop(scr, _segment_inputs(history, scr.segment_start))
    if before_drop is not None:
        note = (f"{scr.change_reason}; the next run is planned for the {before_drop:.3g} GB before the drop "
                "until it shows the drop lasts. ")
    runs, inputs = _learned_runs(history, scr)
    out = _outlook(cands, runs, settings, prior, known, seed, setup, inputs, forecast=FORECAST_INPUT)
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
        working, why = _working_sla(cands, out, settings, runnable, bar, [raw[i] for i in scr.learn])
        d = _decide(candidates, raw, replace(settings, sla_s=working, sla_name="working SLA"), prior, seed,
                    run_labels, previous_phase, why)
        # P is the owner's SLA's, which the CLI and the savings show beside it.
        at = next(i for i, c in enumerate(cands) if c.config_id == d.candidate.config_id)
        return replace(d, p_meet_sla=float(out.p_meet[at]), working_sla_s=float(working))
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
    if previous_phase == "learning":
        prefix += _learning_ended(designed, settings, float(out.p_best[best]), _CONFIDENT)
    p_before = _p_before_suspect(cands, runs, scr, best, settings, prior, known, seed, setup, inputs)
    check = _recheck_pick(out, best, settings, avoid | unlearnable, cands, scr, history, p_before)
    if check is not None:
        slow = run_labels[scr.suspect] if run_labels is not None else f"run #{scr.suspect + 1} of the history"
        # The P the slow run left it is under the target: the reason gives the one it has if that
        # run was noise, which is what the rerun tells.
        sla = (f", P(meet {settings.sla_name})={_pct(p_before[check], settings.p_target)} if that run was noise"
               + _loss_note(out, check)) if p_before is not None else _sla_note(out, check, settings)
        why = (
            f"rerunning {cands[check].name}, measured before {slow} ran slow, to tell a lasting regression "
            f"from noise (a cluster not measured before it cannot): predicted cost "
            f"{money(out.cost[check], settings.currency)}/run against {money(out.cost[best], settings.currency)} "
            f"for {cands[best].name}" + sla
        )
        return told(_decision(cands, out, check, "optimizing", prefix + why, common))
    # Exploring waits while a slow run is open: a cluster never measured says nothing of it, and
    # the model it would explore on may hold a regression as if it were that cluster's normal.
    explore = (_explore_pick(out, best, settings, avoid | unlearnable, EXPLORE_AT_TARGET)
               if scr.suspect is None else None)
    if explore is not None:
        pick, saving = explore
        # The saving is the knowledge gradient, not this run's own: say both figures a person can
        # check (its predicted cost against the current best's) and what measuring it buys later.
        # An on-demand cluster beside a spot best says so: its name alone reads like the best's.
        market = " (on-demand)" if cands[best].spot and not cands[pick].spot else ""
        extra = max(float(out.cost[pick] - out.cost[best]), 0.0)
        back = f", its extra cost back within ~{math.ceil(extra / out.kg[pick])} runs" if extra > 0 else ""
        why = (
            f"trying {cands[pick].name}{market}: predicted cost {money(out.cost[pick], settings.currency)}/run "
            f"against {money(out.cost[best], settings.currency)} for the current best {cands[best].name}; "
            "measuring it is expected to "
            f"save {saving:.1%} per run on later runs, which over {settings.explore_horizon:.0f} runs "
            f"outweighs its extra cost and risk{back}" + _sla_note(out, pick, settings)
        )
        return told(_decision(cands, out, pick, "optimizing", prefix + why, common))
    why = _best_reason(cands, out, best, settings, likeliest, held, top, avoid)
    return told(_decision(cands, out, best, "optimizing", prefix + why, common))


def _p_before_suspect(cands: list[Candidate], runs: list[Observation], scr: Screened, best: int,
                      settings: Settings, prior: Prior, known: Mapping[str, Candidate], seed: int, setup: Setup,
                      inputs: Sequence[float | None]) -> np.ndarray | None:
    """Each configuration's P(meet the SLA) from the segment's learned runs (``runs``, in the order of
    ``scr.learn``) before its open slow run: the P it has if that run was noise (`_recheck_pick`).
    None when no rerun is asked for (no SLA, no slow run open, or ``best`` can judge it itself)."""
    if not settings.sla_s or scr.suspect is None or cands[best].config_id in scr.judges:
        return None
    before = [r for i, r in zip(scr.learn, runs, strict=True) if i < scr.suspect]
    if not before:
        return None
    return _outlook(cands, before, settings, prior, known, seed, setup, inputs, forecast=FORECAST_INPUT).p_meet


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
    out = _outlook(cands, runs, settings, prior, known, seed, setup, inputs, forecast=FORECAST_INPUT)
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
    # A cluster that waits for other clusters' tasks has that wait in its setup (`models.setup`).
    waits = (f", ~{out.setup.wait_mean_s:.0f}s of it waiting for other clusters' tasks"
             if out.setup.wait_mean_s > 0 else "")
    why = (f"the {settings.sla_s:.0f}s SLA is shorter than the cluster setup alone (~{out.setup.mean_s:.0f}s{waits}): "
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


def _first_run(
    cands: list[Candidate],
    history: Sequence[Observation],
    explained: Mapping[str, str],
    settings: Settings,
    rebased: bool,
    prefix: str,
    slow_cores: float = 0.0,
    lost_run: tuple[Candidate, float] | None = None,
) -> Decision:
    """No usable run yet: keep the latest configuration if it is a candidate, else a mid-sized one
    (`cands` leaves out what failed, so a job failing everywhere moves on instead of repeating),
    one with more cores than ``slow_cores`` when some has (runs cancelled past the SLA there).
    A run that lost spot nodes is not kept: it taught nothing, and the same spot market most likely
    takes the next run's nodes too; the pick then leaves out the configurations that lost spot nodes
    (unless nothing else is left), and is judged from the newest such run (``lost_run``: its
    configuration, sized at what the job's runs used, and its runtime; `models.first_run.after_loss`):
    its twin on demand when the losses cost more than spot saves, else the size it used."""
    pick, why = first_pick(cands, history, settings, slow_cores, lost_run)
    nan = float("nan")
    return Decision(
        candidate=pick,
        phase="monitoring" if not settings.auto_apply else "learning",
        predicted_runtime_s=nan,
        runtime_interval_s=(nan, nan),
        predicted_cost=nan,
        cost_interval=(nan, nan),
        p_meet_sla=None,
        reason=prefix + f"no usable run yet: measuring {pick.name} first{why}",
        rebased=rebased,
        explained=explained,
        best=pick,
        p_best=0.0,
    )
