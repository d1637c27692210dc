"""The words of a decision's reason: each figure in it one a person can check against the runs. Also the
working SLA (`_working_sla`), which comes with the words every reason under it begins with."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.choose import _OUT_OF_REACH_P, _P_BAND, _bars
from models.growth import Growth
from models.money import money
from models.observation import Observation
from models.outlook import _Outlook
from models.percent import p_meet_text
from models.settings import Settings
from models.setup import described
from models.space import Candidate
from models.spot_rework import per_node_hour


def _growth_note(growth: Growth) -> str:
    """One line a person can check against the runs' input sizes, when the plan is not for the latest input."""
    if not growth.differs or growth.forecast_gb is None or growth.latest_gb is None:
        return ""
    verb = "grows" if growth.rate > 0 else "shrinks"
    return (f"; input {verb} ~{abs(growth.rate):.0%} a run (last {growth.runs} runs): planned for "
            f"~{growth.forecast_gb:.3g} GB next run, {growth.latest_gb:.3g} GB last")


def _sla_note(out: _Outlook, i: int, settings: Settings) -> str:
    return ((f", P(meet {settings.sla_name})={_pct(out.p_meet[i], settings.p_target)}" if settings.sla_s else "")
            + _loss_note(out, i))


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
        runtime += f" incl. {described(out.setup)}"
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
                    f"{money(out.cost[held], settings.currency)}/run with P={_p(out.p_meet[held], settings, True)}, "
                    f"and a dearer cluster is not worth a change while this one's P is within {_P_BAND:.0%} of "
                    f"{_p(min(settings.p_target, _bars(out, settings, avoid)[1]), settings, True)}"
                    f" ({'the target' if _bars(out, settings, avoid)[1] >= settings.p_target else 'the likeliest'})")
        if not settings.sla_s:
            return what + " (no SLA)" + _loss_note(out, i)
        return (what + f"; meets the {settings.sla_s:.0f}s {settings.sla_name} with "
                f"P={_p(out.p_meet[i], settings, True)}" + _loss_note(out, i))
    if likeliest is not None and settings.sla_s:
        # What meeting the SLA more often costs, against the cheapest configuration. After this one's
        # runtime, the cheapest named in parentheses: "... for the cheapest, <name>, runtime 314s" read
        # as the cheapest's runtime (review: coherence).
        low = int(np.argmin(np.where([c.allowed for c in cands], out.cost, np.inf)))
        dearer = (f"; the cheapest ({cands[low].name}) is predicted {money(out.cost[low], settings.currency)}/run"
                  if out.cost[low] < out.cost[i] else "")
        then = (f"the plan aims at {settings.miss_badly - 1:.0%} over the fastest measured configuration's predicted "
                "runtime"
                if settings.working_sla else "the fastest measured runs (the project's working SLA is off)")
        untried = (f"; if a run about as fast shows P below {_OUT_OF_REACH_P:.0%} too, the SLA is out of reach "
                   f"and {then}"
                   if max(out.p_meet[i], out.p_run[i]) < _OUT_OF_REACH_P and cands[i].config_id not in out.tried
                   else "")
        if top is not None and top != i and _twins(out, i, top):
            # One hardware: the cheaper twin, its P short of the other's only by its spot losses.
            other = "spot" if cands[top].spot else "on demand"
            return (f"{cands[i].name}: likeliest to meet the {settings.sla_s:.0f}s {settings.sla_name} with its twin "
                    f"{cands[top].name} (P {_pct(out.p_meet[i], settings.p_target, True)} vs "
                    f"{_pct(out.p_meet[top], settings.p_target, True)} {other}: the cheaper), not the cheapest: "
                    f"expected cost {cost}/run, {runtime}{dearer}; no configuration reaches "
                    f"P>={settings.p_target:.0%}, this one meets it with P={_pct(out.p_meet[i], settings.p_target)}"
                    + untried + _loss_note(out, i))
        if top is not None and top != i:
            return (f"{cands[i].name}: the cheapest of the likeliest to meet the {settings.sla_s:.0f}s "
                    f"{settings.sla_name} (P within {_P_BAND:.0%} of the highest, {_pct(out.p_meet[top], settings.p_target)} for "
                    f"{cands[top].name} at {money(out.cost[top], settings.currency)}/run), not the cheapest: expected "
                    f"cost {cost}/run, {runtime}{dearer}; no configuration reaches P>={settings.p_target:.0%}, "
                    f"this one meets it with P={_pct(out.p_meet[i], settings.p_target)}" + untried + _loss_note(out, i))
        return (f"{cands[i].name}: likeliest to meet the {settings.sla_s:.0f}s {settings.sla_name}, not the cheapest: expected "
                f"cost {cost}/run, {runtime}{dearer}; no configuration reaches P>={settings.p_target:.0%}, "
                f"this one meets it with P={_pct(out.p_meet[i], settings.p_target)}" + untried + _loss_note(out, i))
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
                 f"P={_p(out.p_meet[k], settings, True)}, too little more for its price") if reach.any() else ""
    if settings.sla_per_run:
        return (what + f", each run meets the {settings.sla_s:.0f}s {settings.sla_name} with P={_p(out.p_meet[i], settings, bool(under))}"
                + under + _loss_note(out, i))
    # The rule is about the typical run; how often a single night's run stays within the SLA
    # (setup and run-to-run noise included) is what its owner sees, so say both.
    return (what + f", meets the {settings.sla_s:.0f}s {settings.sla_name} with P={_p(out.p_meet[i], settings, bool(under))}"
            f" (a single run: {_pct(out.p_run[i], settings.p_target)})" + under + _loss_note(out, i))


def _learning_ended(designed: int, settings: Settings, p_best: float, confident: float) -> str:
    """The words that open the first decision after learning: why it ended, with the figures the
    rule compared. Without them learning left after 1 of 3 runs with the usual "cheapest expected
    cost" reason, and a person saw two runs budgeted for learning never made."""
    if settings.learning_budget <= 0:
        return ""  # learning is off: nothing ended
    if designed >= settings.learning_budget:
        runs = "run" if settings.learning_budget == 1 else "runs"
        return f"learning ended: its budget of {settings.learning_budget} {runs} is spent; "
    runs = f"learning ended after {designed} of {settings.learning_budget} runs"
    if p_best >= confident:
        return f"{runs}: P(best) {p_best:.0%} >= {confident:.0%}; "
    sla = " and is unlikely to miss the SLA badly" if settings.sla_s else ""
    return f"{runs}: no untried configuration left that may be the cheapest{sla}; "


def _p(p: float, settings: Settings, fine: bool) -> str:
    """P as reasons show it: to a tenth of a percent where the reason compares it with one close by."""
    return p_meet_text(p, settings.p_target, fine)


def _pct(p: float, target: float = Settings.p_target, fine: bool = False) -> str:
    """A P(meet SLA) for a reason, by the rule the CLI's P(SLA) line follows (`models.percent`)."""
    return p_meet_text(p, target, fine)


def _twins(out: _Outlook, i: int, j: int) -> bool:
    """``i`` and ``j`` are one hardware (a cluster and its spot or on-demand twin, `_hardware`)."""
    return out.hw.size == out.cost.size and bool(out.hw[i] == out.hw[j])


def _loss_note(out: _Outlook, i: int) -> str:
    """The chance a run loses spot nodes, which the runtime, cost and P above all include."""
    return f", incl. a {out.p_loss[i]:.0%} chance of losing spot nodes" if out.p_loss[i] >= 0.005 else ""


def _bar_note(bar: float) -> str:
    return " (the bar to leave it once out of reach)" if bar > _OUT_OF_REACH_P else ""


def _working_sla(cands: list[Candidate], out: _Outlook, settings: Settings,
                 runnable: np.ndarray, bar: float, runs: Sequence[Observation]) -> tuple[float, str]:
    """The SLA the plan aims at while the owner's is out of reach (`_sla_unlikely`), and the words
    that say so: `Settings.miss_badly` times the fastest measured configuration's median runtime.
    Bounded near what the job can do, a miss stays a near miss; above it, no dearer cluster is
    bought for a P that stays near 0, and the cheapest configuration that meets it is searched for
    as under any SLA (learning and exploring included). Every measured configuration the job may run
    (``runnable``) counts, one avoided for now too (refused capacity): what the job can do did not
    change, and a working SLA loosened for the refusal's seven runs moved the job twice. Not one
    outside the owner's bounds, or one that failed or ran out of memory: a review found a 24-worker
    cluster as found, outside a 6-worker cap, setting a working SLA no allowed cluster could meet.
    ``runs``: the runs the model learned from, as `run list` shows them (setup included), for the
    fastest's measured runtimes beside its prediction."""
    tried = np.array([c.config_id in out.tried for c in cands]) & runnable
    fast = int(np.argmin(np.where(tried, out.median_s, np.inf)))
    assert settings.sla_s  # `_sla_unlikely` holds only with an SLA
    working = max(settings.sla_s, settings.miss_badly * float(out.median_s[fast]))
    p = f"P={_pct(out.p_meet[fast], settings.p_target)}"
    if not settings.sla_per_run:
        p += f", a single run {_pct(out.p_run[fast], settings.p_target)}"
    # Predicted, not measured: its execution with the project's mean setup, which moves as runs come
    # in. Said as "runs in 480s", it read as a measurement beside the one run's 494 s in `run list`.
    seen = _measured([o.runtime_s for o in runs if o.config_id == cands[fast].config_id])
    why = (f"the {settings.sla_s:.0f}s SLA is out of reach: no configuration is predicted to meet it with "
           f"P>={bar:.0%}{_bar_note(bar)}, and the fastest measured, {cands[fast].name}, is predicted to run in "
           f"{out.median_s[fast]:.0f}s ({seen + '; ' if seen else ''}{p}) at {money(out.cost[fast], settings.currency)}/run; so the "
           f"plan aims at a {working:.0f}s working SLA ({settings.miss_badly - 1:.0%} over that prediction) "
           "until the SLA is raised or the job made faster: ")
    return working, why


def _measured(runtimes: Sequence[float]) -> str:
    """A configuration's measured runtimes as a person finds them in `run list`."""
    if not runtimes:
        return ""
    if len(runtimes) == 1:
        return f"measured {runtimes[0]:.0f}s once"
    return (f"measured {len(runtimes)} times, median {float(np.median(runtimes)):.0f}s, "
            f"{min(runtimes):.0f}-{max(runtimes):.0f}s")


def _lost_yet_met_reason(cands: list[Candidate], run: Observation, pick: int, twins: Sequence[int], out: _Outlook,
                         settings: Settings) -> str:
    """Why the cluster of a run that lost spot nodes and still met the SLA runs next (`_lost_yet_met`),
    on the market `_lost_yet_met_pick` chose among ``twins``, with the costs it compared."""
    ran = next(i for i, c in enumerate(cands) if c.config_id == run.config_id)
    return (f"no usable run yet: the latest, on {cands[ran].name}, lost spot nodes yet met the {settings.sla_s:.0f}s "
            f"{settings.sla_name} in {run.runtime_s:.0f}s, an upper bound on its runtime without the loss; so "
            f"{cands[pick].name} runs next{_market_note(cands, ran, pick, twins, out, settings)}. Taking that run "
            f"as its runtime, it is predicted "
            f"{out.median_s[pick]:.0f}s [{out.lo_s[pick]:.0f}, {out.hi_s[pick]:.0f}] at "
            f"{money(out.cost[pick], settings.currency)}/run and meets the SLA with P={_pct(out.p_meet[pick], settings.p_target)}"
            + _loss_note(out, pick))


def _market_note(cands: list[Candidate], ran: int, pick: int, twins: Sequence[int], out: _Outlook,
                 settings: Settings) -> str:
    """The comparison behind ``pick``'s market after the run on ``ran`` lost spot nodes: each run's
    expected cost with the losses priced at the job's rate, and P(meet SLA) where that decided it."""
    if not cands[ran].spot:
        return ""

    def cost(i: int) -> str:
        return money(out.cost[i], settings.currency)

    rate = f"{per_node_hour(cands[ran]):.2g} losses per node-hour"
    on_demand = next((i for i in twins if not cands[i].spot), None)
    if not cands[pick].spot:
        if out.cost[pick] <= out.cost[ran]:
            return f", on demand: {cost(pick)} a run against spot's expected {cost(ran)} with {rate}"
        return (f", on demand: spot's losses put the SLA at risk (P={_p(out.p_meet[ran], settings, True)} against "
                f"{_p(out.p_meet[pick], settings, True)}), though spot's expected {cost(ran)} a run with {rate} is "
                f"under on demand's {cost(pick)}")
    against = f" against {cost(on_demand)} on demand" if on_demand is not None else ""
    if pick == ran:
        return f", still on spot: expected {cost(ran)} a run with {rate}{against}"
    return f": expected {cost(pick)} a run, against {cost(ran)} on {cands[ran].name} with {rate}{against}"
