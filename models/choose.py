"""Which configuration runs next, read off the outlook (`models.outlook`): the recommendation and the P it
must reach, holding the current cluster, rechecking a slow run, the learning and exploration picks, and
whether the SLA is out of reach."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from models.changes import OWN_BASELINE, Screened
from models.observation import Observation
from models.outlook import _Outlook
from models.segment import _UNLEARNABLE_LOSSES
from models.settings import Settings
from models.setup import NO_SETUP, Setup, p_total_below
from models.space import Candidate

# A learning run is weighted by P(it meets the SLA) squared: learning runs caused most SLA misses
# at tight SLAs; squared (LOO benchmark) cut misses ~7% with the same or better P@6.
_LEARN_RUN_POW = 2.0
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
# Twins (one hardware) differ in P only by the spot twin's losses, priced from a loss rate that is a
# catalog figure or a gamma posterior over a few runs (`models.spot`), uncertain by a good share of
# itself: a gap under a tenth of P is within what that uncertainty moves, so the model cannot tell
# the twins apart, and a run on the spot twin teaches the runtime model as much (its losses spoil
# under a tenth of the runs that would meet the SLA). So in the tails the cheaper twin runs when its
# P is within a tenth of the likeliest's and at most `_P_BAND` under it (the band a dearer
# configuration must beat elsewhere). Broken by P alone, an SLA no cluster could meet (360 s against
# ~253 s of setup) bought r5d.4xlarge x8 on demand at $2.164/run for P 5.68% beside its spot twin at
# 5.66% and $1.253/run. Not `_P_BAND` alone: at P 3.7% two points take a twin meeting the SLA half
# as often.
_TWIN_SHARE = 0.1


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
                  scr: Screened, history: Sequence[Observation], p_before: np.ndarray | None = None) -> int | None:
    """A configuration measured before the segment's open suspect slow run (`Screened.suspect`), to
    run instead of ``best`` when ``best`` could not judge it: the slow run's own configuration when
    it ran `OWN_BASELINE` times before it (a rerun tells noise from a regression best,
    `models.changes._fell_back`), else the cheapest, each
    only if it meets the SLA target and is at most `_RECHECK_PREMIUM` dearer. After a slow run the
    model leans to a bigger cluster never measured, whose runs say nothing of a regression: a 2x
    slowdown went unseen in 2 of 10 closed loops and the job stayed on a cluster 9% dearer than it
    needed. None: ``best`` it is.

    ``p_before``: each configuration's P(meet the SLA) from the segment's runs before the slow one
    (`_p_before_suspect`), the P it has if the slow run was noise. The SLA target is read off it, and
    on the model with the slow run in it a judge must still meet the SLA with P >= `Settings.p_learn`
    and not be likely to miss it badly (as a learning run, `_not_badly`): so a regression costs no
    likely miss to be seen (without the P bar the tuning benchmark's bell q0.2, whose single runs
    scatter 250-431 s, made 1.90 misses a search against 1.67). Judged by the P the slow run itself
    lowered, every cluster measured
    before it fell under the target, the next runs went to clusters never measured, which cannot
    judge it, and a 1.5x regression was forgotten while the cost went up 50% (review loop, job C)."""
    if scr.suspect is None or cands[best].config_id in scr.judges:
        return None
    # A judge whose reruns since keep being explained away (lost spot nodes) tells nothing either.
    learned = set(scr.learn)
    lost = Counter(history[i].config_id for i in range(scr.suspect + 1, len(history)) if i not in learned)
    judges = {c for c in scr.judges if lost[c] < _UNLEARNABLE_LOSSES}
    ok = np.array([c.config_id in judges for c in cands]) & ~avoid & (out.cost <= _RECHECK_PREMIUM * out.cost[best])
    if settings.sla_s:
        ok &= (out.p_meet if p_before is None else p_before) >= settings.p_target
        if p_before is not None:
            ok &= _not_badly(out, settings) & (out.p_meet >= settings.p_learn)
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
    # one listed first. The cheapest twin within `_twin_band` of it is recommended.
    score = np.where(near, out.z_meet, -np.inf)
    ties = np.flatnonzero(score >= score.max() - 1e-9)
    top = int(ties[np.lexsort((out.cost[ties], -out.p_meet[ties]))[0]])
    close = ties[out.p_meet[ties] >= out.p_meet[top] - _twin_band(float(out.p_meet[top]))]
    return int(close[np.lexsort((-out.p_meet[close], out.cost[close]))[0]]), top


def _twin_band(p_top: float) -> float:
    """How far under ``p_top``, the likeliest twin's P, a cheaper twin's P may be and it still be
    recommended in the tails (`_choose`): a tenth of ``p_top``, at most `_P_BAND`."""
    return min(_P_BAND, _TWIN_SHARE * p_top)


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


def _not_badly(out: _Outlook, settings: Settings) -> np.ndarray:
    """The configurations a run may go to for what it teaches: P(one run within `Settings.miss_badly`
    of the SLA) >= `Settings.p_learn` (every one without an SLA)."""
    if not settings.sla_s:
        return np.ones(len(out.cost), dtype=bool)
    limit = settings.miss_badly * settings.sla_s
    return p_total_below(out.pred.mean_log, out.pred.sd_run, out.setup, limit) >= settings.p_learn


def _learning_pick(out: _Outlook, settings: Settings, avoid: np.ndarray) -> int | None:
    admissible = (out.p_best > 0) & _not_badly(out, settings) & ~avoid
    if not admissible.any():
        return None
    # Information (Bayesian D-optimal gain of one more run) weighted by the chance that the
    # configuration is the one we are looking for and (twice) that this run meets the SLA: spread
    # where it matters, without spending SLA misses on it.
    gain = np.log1p(out.pred.var_param / out.pred.sigma**2)
    return int(np.argmax(np.where(admissible, gain * out.p_best * out.p_run**_LEARN_RUN_POW, -np.inf)))


# The runs within which an exploration's extra cost must be paid back by the
# saving it is expected to buy (`_explore_pick`): a month of a nightly job, over which its work and
# code seldom change enough to void the saving; `explore_horizon` still ranks the explorations.
_PAYBACK_RUNS = 30.0


def _explore_floor(settings: Settings, at_target: bool = True) -> float:
    """The least P(one run meets the SLA) an exploration run may have. ``at_target``:
    `models.decide.EXPLORE_AT_TARGET`.

    When the SLA is promised for every run (`Settings.sla_per_run`, the product's default), a run
    tried for information is one of those runs: it gets the same P >= p_target as the
    recommendation. With the looser floor, jobs right after a rebase tried configurations at P 0.64
    for a 10% saving and at P 0.91-0.99 for 1.3-1.8%, five in a row, and missed the SLA in 5 of 24
    such runs against 2 of 72 other optimizing runs (a simulated month). Under the typical-run rule
    the risk is priced (`miss_penalty`) down to `p_explore`."""
    if at_target and settings.sla_s and settings.sla_per_run:
        return max(settings.p_explore, settings.p_target)
    return settings.p_explore


def _explore_pick(out: _Outlook, best: int, settings: Settings, avoid: np.ndarray,
                  at_target: bool = True) -> tuple[int, float] | None:
    # ``at_target``: `models.decide.EXPLORE_AT_TARGET` (`_explore_floor`), which `models.decide` reads
    # at each call.
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
    if out.hw.size == out.cost.size:
        # The best's own hardware on demand (or its other spot split) teaches nothing a run of the best
        # does not (one hardware to the model, `models.outlook._hardware`), yet it inherits the best's
        # knowledge gradient: "trying c5d.xlarge x 2 workers" on demand at $0.1331 against $0.1016
        # for the best, the same machines on spot (review loop, job D).
        value[out.hw == out.hw[best]] = -np.inf
    # Its extra cost must come back within `_PAYBACK_RUNS` runs of the saving it is expected to buy,
    # not only over the whole `explore_horizon`: a cluster at 2.76x the best's cost was tried for an
    # expected 2.1% a run, which pays back only after 84 runs (review loop). The SLA risk stays
    # priced over the horizon, as before (a likely miss is not money spent up front).
    value[extra > _PAYBACK_RUNS * saving] = -np.inf
    value[avoid | (out.p_run < settings.p_explore)] = -np.inf
    value[saving < settings.min_saving * out.cost[best]] = -np.inf
    pick = int(np.argmax(value))
    if not value[pick] > 0:
        return None
    floor = _explore_floor(settings, at_target)
    if below:
        floor = min(floor, max(settings.p_explore, float(out.p_run[best])))
    if out.p_run[pick] < floor:
        # The run worth most is too risky for the promise: no exploration this run. Not the next
        # best one instead: excluding the risky ones sent jobs exploring safe but dear
        # configurations run after run (r5.2xlarge x 24 at $5.08 against $2.98 for the best).
        return None
    return pick, float(saving[pick] / out.cost[best])


def _lost_yet_met(cands: list[Candidate], raw: Sequence[Observation], history: Sequence[Observation],
                  scr: Screened, settings: Settings, avoid: np.ndarray) -> tuple[int, list[int]] | None:
    """With no usable run yet: (the index of the segment's latest run that lost spot nodes yet
    succeeded within the SLA, the configurations of its hardware that may run next: it, on demand,
    other spot splits), or None. A lost node lengthens a run, so that run is an upper bound on its
    cluster's runtime without the loss: evidence that the cluster meets the SLA, not nothing. The same
    hardware runs next, on the market `_lost_yet_met_pick` prices best. Dropped as "no usable run",
    the imported cluster's first run (504 s of a 600 s SLA, one spot node lost) was followed by the
    median-core cluster with the lowest price per core, chosen with no SLA check, for a memory-heavy
    join: c6id.8xlarge x2 spot (741 s, a miss), then c6id.4xlarge x4 (631 s, a miss) (review revL F3)."""
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
    return (run, twins) if twins else None


def _lost_yet_met_pick(out: _Outlook, twins: Sequence[int], settings: Settings) -> int:
    """Which of ``twins`` (`_lost_yet_met`) runs next: the cheapest in expectation, its spot losses
    priced at the job's loss rate (`models.spot_rework`), among those whose P(meet the SLA), losses
    in it, reaches the target or is within `_P_BAND` of the likeliest twin's; on demand first on a
    tie. One loss on a run that met the SLA moved every such job on demand ("the same spot market
    most likely takes the next run's nodes too"), where that cost more in expectation on the model's
    own terms: m5d.xlarge x8 at $0.322 a run against spot's $0.232 at 0.31 losses a node-hour, its
    next run $0.245 against the lost run's $0.177 (spot review)."""
    p_top = max(float(out.p_meet[i]) for i in twins)
    bar = min(settings.p_target, p_top - _P_BAND)
    ok = [i for i in twins if out.p_meet[i] >= bar]
    return min(ok, key=lambda i: (float(out.cost[i]), float(out.p_loss[i])))
