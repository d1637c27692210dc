"""The model's view of every candidate (`_Outlook`): runtime and cost, P(meet the SLA), P(best) and
the knowledge gradient, with the cluster setup and spot losses priced in (`models.decide` builds one per
decision)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from models.acquire import Belief, knowledge_gradient, z_targets
from models.growth import Growth, forecast_input
from models.observation import Observation
from models.prior import Prior
from models.replay import replay_log_shape
from models.runtime import Prediction, RuntimeModel, similarity
from models.settings import Settings
from models.setup import Setup, p_total_below, total_interval
from models.space import Candidate, design_features, feature_centre
from models.spot_rework import LossRisk, loss_risk

_SAMPLES = 400
_REPLAY_CORRECTION_SD = 0.2  # how far the data may bend the replayed shape, per feature
# Configuration similarity for correlated deviations: cores, nodes, memory/core, hardware class.
_KERNEL_FEATURES = [0, 2, 3, 4]
_LENGTHSCALE = 0.7
# Share of a configuration's deviation that is its own. 0.3 -> 0.2 (tuning benchmark, with the
# risk-priced exploration gate in models/choose.py): neighbours' runs say more about an untried configuration.
_WHITE = 0.2
# Spot losses are priced per lost node (`models.spot_rework`): a lost worker lengthens the execution by
# its share of the work redone and the time until its replacement joins, a lost driver fails the run
# (a whole rerun, and a certain SLA miss). The SLA is priced with them: a worker loss misses it only
# when the lengthened run does (priced as a certain miss, a spot candidate's P lost its whole loss
# rate, and at 3% losses a run the job left spot for a run it met the SLA with).


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


def _outlook(
    cands: list[Candidate],
    runs: list[Observation],
    settings: Settings,
    prior: Prior,
    known: Mapping[str, Candidate],
    seed: int,
    setup: Setup,
    inputs: Sequence[float | None] | None = None,
    forecast: bool = True,
) -> _Outlook:
    """The model's view of every candidate from ``runs`` (execution times, see `models.setup`).

    ``inputs``: the segment's input sizes in order, for the forecast (default: ``runs``').
    ``forecast``: `models.decide.FORECAST_INPUT`, which `models.decide` reads at each call."""
    sizes = [o.input_gb for o in runs if o.input_gb]
    centre = feature_centre(cands, float(np.median(sizes)) if sizes else None)
    run_cands = [known[o.config_id] for o in runs]
    x_runs = design_features(run_cands, centre, [o.input_gb for o in runs])
    # Candidates are predicted at the next run's forecast input (the latest one unless the input
    # clearly grows or shrinks): a growing job planned for its latest input is always a run behind.
    trend = [o.input_gb for o in runs] if inputs is None else list(inputs)
    growth = forecast_input(trend) if forecast else _no_forecast(runs)
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
    # Setup is paid and waited for whatever the configuration: it adds to runtime and cost.
    clean = pred.expected_s() + setup.mean_s
    losses = loss_risk(cands, pred.expected_s(), clean)
    p_loss = losses.p_any
    expected = clean + losses.extra_s
    # What the losses add, as a share of the run: every draw and the knowledge gradient's prices too.
    with_losses = expected / np.maximum(clean, 1e-9)
    cost = price * expected / 3600.0
    rng = np.random.default_rng(seed)
    draws = model.sample_mean_log(x_hw, off_hw, _SAMPLES, rng)[:, hw]
    draws_cost = price * (np.exp(draws + 0.5 * model.sigma**2) + setup.mean_s) * with_losses / 3600.0
    # What is left of the SLA for the execution once the typical setup is over.
    log_sla = math.log(max(settings.sla_s - setup.mean_s, 1e-9)) if settings.sla_s else math.nan
    survive = 1.0 - p_loss  # the share of P(meet) a spot loss leaves (for the knowledge gradient)
    if settings.sla_s and settings.sla_per_run:
        # Only ranks configurations where P is in its tails (`_best_index`). One run's setup varies
        # too (sd 40 s of a 360 s SLA): linearised into the execution's log units as below, so the
        # ranking does not take the execution's spread for the whole run's.
        var_setup = (setup.sd_next_s / max(math.exp(log_sla), setup.sd_next_s, 1e-9)) ** 2
        z_meet = (log_sla - pred.mean_log) / np.sqrt(pred.sd_run**2 + var_setup)
        p_meet = _p_meet_with_losses(pred.mean_log, pred.sd_run, setup, settings.sla_s, losses)
        survive = _survival(p_meet, p_total_below(pred.mean_log, pred.sd_run, setup, settings.sla_s), p_loss)
        draws_p = _p_meet_with_losses(draws, model.sigma, setup, settings.sla_s, losses)
        feasible = draws_p >= settings.p_target
    elif settings.sla_s:
        typical = pred.mean_log + 0.5 * model.sigma**2
        sd_param = np.sqrt(pred.var_param + 1e-12)
        # The typical setup is an estimate too (sd se_mean_s): P is taken over it, as
        # `p_total_below` does for one run's setup. Linearised into the execution's log units it
        # blew up where little of the SLA is left after the setup, and an SLA below the setup
        # read as P = 50% for every configuration.
        typical_setup = Setup(setup.mean_s, 0.0, setup.se_mean_s)
        p_meet = _p_meet_with_losses(typical, sd_param, typical_setup, settings.sla_s, losses)
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
    p_run = (_p_meet_with_losses(pred.mean_log, pred.sd_run, setup, settings.sla_s, losses)
             if settings.sla_s else np.ones(len(cands)))
    rows = RuntimeModel.rows(x_hw)[hw]
    belief = Belief(
        pred.mean_log,
        rows @ model.cov @ rows.T,
        model.sigma,
        price * with_losses / 3600.0,
        log_sla if settings.sla_s else None,
        z_targets(settings.p_target, survive),
        price * setup.mean_s * with_losses / 3600.0,
    )
    kg = knowledge_gradient(belief)
    tried = frozenset(o.config_id for o in runs)
    median, lo, hi = _interval_with_losses(pred.mean_log, pred.sd_run, setup, losses)
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


def _no_forecast(runs: list[Observation]) -> Growth:
    """The latest input, as before the forecast (`models.decide.FORECAST_INPUT` off: the growth
    benchmark's baseline)."""
    latest = next((o.input_gb for o in reversed(runs) if o.input_gb), None)
    return Growth(latest, latest, 0.0, 0)


def _p_meet_with_losses(mean_log: np.ndarray, sd: np.ndarray | float, setup: Setup, sla_s: float,
                       losses: LossRisk) -> np.ndarray:
    """P(the whole run <= ``sla_s``) with ``losses``: a run that loses spot workers has its execution
    lengthened by their redone work and wait (`LossRisk.worker_shift`), and meets the SLA when the
    lengthened run does; a run that loses its spot driver fails, a miss."""
    clean = p_total_below(mean_log, sd, setup, sla_s)
    if not (losses.p_worker > 0).any() and not (losses.p_driver > 0).any():
        return clean
    lost = p_total_below(mean_log + np.log1p(losses.worker_shift), sd, setup, sla_s)
    return (1.0 - losses.p_driver) * ((1.0 - losses.p_worker) * clean + losses.p_worker * lost)


# The level of every runtime and cost interval a decision carries (`Decision.runtime_interval_s`): one
# run's central 90% prediction interval; the CLI and the dashboard say it beside the bounds.
INTERVAL_LEVEL = 0.9


def _interval_with_losses(mean_log: np.ndarray, sd: np.ndarray, setup: Setup, losses: LossRisk,
                          level: float = INTERVAL_LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and central ``level`` interval of one run's whole runtime from the same loss mixture
    the expected cost and P(meet SLA) use: a run that loses spot workers is lengthened by
    `LossRisk.worker_shift`, one that loses its driver runs again (`LossRisk.driver_shift`). Without
    it the interval of a spot cluster losing nodes 2 or 6 times an hour was the same (P(loss) 34%
    against 72%), and a lost run's runtime fell at its top. Each branch is `total_interval`'s
    log-normal; the mixture's quantiles by bisection."""
    clean = total_interval(mean_log, sd, setup, level)
    shape = clean[0].shape
    p_worker = np.broadcast_to(np.asarray(losses.p_worker, dtype=float), shape)
    p_driver = np.broadcast_to(np.asarray(losses.p_driver, dtype=float), shape)
    if not (p_worker > 0).any() and not (p_driver > 0).any():
        return clean
    mean_log = np.asarray(mean_log, dtype=float)
    worker = total_interval(mean_log + np.log1p(losses.worker_shift), sd, setup, level)
    driver = total_interval(mean_log + np.log1p(losses.driver_shift), sd, setup, level)
    z = float(ndtri(0.5 + level / 2))
    branches = (clean, worker, driver)
    mu = np.stack([np.log(b[0]) for b in branches])
    s = np.maximum(np.stack([np.log(b[0] / b[1]) / z for b in branches]), 1e-12)
    w = np.stack([(1.0 - p_driver) * (1.0 - p_worker), (1.0 - p_driver) * p_worker, p_driver])

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
