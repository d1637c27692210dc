"""What a review of the closed loop found in the decision core: an SLA out of reach bought the
dearest cluster and called it the cheapest; an instance type the cloud kept refusing stayed the
recommendation; the runtime interval left out the spot losses the cost and P(SLA) price in; a
stable job switched clusters back and forth on predicted differences far below ``min_saving``."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from models.changes import LAUNCH_REFUSALS, LAUNCH_RETRY_AFTER, refused_instance_types
from models.decide import Settings, decide, forecast
from models.observation import LAUNCH_FAILED, NO_CAPACITY, Observation
from models.space import Candidate
from tests.models.models_synth import Job, grid, random_job

JOB = Job()


def _with_setup(cands: list[Candidate], setup_s: float = 300.0) -> list[Observation]:
    """Four runs of the synthetic job, each after ``setup_s`` of cluster setup."""
    rng = np.random.default_rng(1)
    runs = [JOB.run(cands[i], rng) for i in (5, 9, 14, 20)]
    return [Observation(o.config_id, o.runtime_s + setup_s, True, setup_s=setup_s) for o in runs]


def test_an_sla_out_of_reach_above_the_setup_is_never_called_cheapest() -> None:
    cands = grid()
    history = _with_setup(cands)
    for sla in (310.0, 330.0, 400.0):
        settings = Settings(sla_s=sla, sla_per_run=True)
        first = decide(cands, history, settings)
        # It bought 24xc.4x (19.2/h) at P=0.07-3.7% and said "cheapest expected cost", run after run.
        assert "cheapest expected cost" not in first.reason
        assert "likeliest to meet" in first.reason and "not the cheapest" in first.reason, first.reason
        # Once the likeliest has run and still meets the SLA with P < 5%, the SLA is out of reach:
        # the plan aims at 25% over the fastest measured runtime (`_working_sla`), says so, and no
        # longer buys the dearest cluster for a P near 0.
        fastest = 300.0 + JOB.mean_runtime(first.candidate)
        seen = [*history, Observation(first.candidate.config_id, fastest, True, setup_s=300.0)]
        d = decide(cands, seen, settings)
        assert d.reason.startswith(f"the {sla:.0f}s SLA is out of reach"), d.reason
        working = settings.miss_badly * fastest
        assert f"the plan aims at a {working:.0f}s working SLA" in d.reason, d.reason
        assert f"meets the {working:.0f}s working SLA" in d.reason, d.reason
        assert d.candidate.price_per_hour < first.candidate.price_per_hour, d.reason
        assert 300.0 + JOB.mean_runtime(d.candidate) <= 1.02 * working, d.reason
        # P is the owner's SLA's, not the working one's.
        assert d.p_meet_sla is not None and d.p_meet_sla < 0.05, d.p_meet_sla


def _loop(cands: list[Candidate], history: list[Observation], settings: Settings, runs: int) -> list[Candidate]:
    """``runs`` nights of the closed loop on the synthetic job (300 s setup): what each ran on."""
    rng = np.random.default_rng(3)
    ran = []
    for _ in range(runs):
        c = decide(cands, history, settings, seed=len(history)).candidate
        o = JOB.run(c, rng)
        history = [*history, Observation(c.config_id, o.runtime_s + 300.0, True, setup_s=300.0)]
        ran.append(c)
    return ran


def test_an_out_of_reach_sla_searches_on_below_the_working_sla() -> None:
    """The review of the first fallback (cheapest *measured*, no learning): a job whose only measured
    configuration was its dearest kept it for good, and a near miss became a miss by minutes on a
    small measured cluster. Under the working SLA the search goes on, each run near the fastest."""
    cands = grid()
    by = {c.config_id: c for c in cands}
    dearest = max(cands, key=lambda c: c.price_per_hour)
    fastest = 300.0 + min(JOB.mean_runtime(c) for c in cands)
    for sla in (310.0, 0.9 * fastest):
        settings = Settings(sla_s=sla, sla_per_run=True)
        start = [Observation(dearest.config_id, 300.0 + JOB.mean_runtime(dearest), True, setup_s=300.0)]
        ran = _loop(cands, start, settings, 12)
        assert any(c.price_per_hour < dearest.price_per_hour for c in ran), [c.name for c in ran]
        # The working SLA bounds every run as any SLA does: a learning run may not be likely to
        # miss it badly (by more than `miss_badly`), so none ran past 1.25 x 1.25 the fastest.
        working = settings.miss_badly * fastest
        worst = max(300.0 + JOB.mean_runtime(c) for c in ran)
        assert worst <= settings.miss_badly * working, (sla, worst, fastest, [c.name for c in ran])
        # It settles on a configuration within 10% of the cheapest that meets the working SLA.
        meets = [c for c in cands if 300.0 + JOB.mean_runtime(c) <= 0.97 * working]
        cheapest = min(c.cost(300.0 + JOB.mean_runtime(c)) for c in meets)
        last = by[ran[-1].config_id]
        assert last.cost(300.0 + JOB.mean_runtime(last)) <= 1.1 * cheapest, (sla, [c.name for c in ran])


def test_an_sla_met_by_no_configuration_at_target_says_likeliest_not_cheapest() -> None:
    cands = grid()
    rng = np.random.default_rng(4)
    history = [JOB.run(cands[i], rng) for i in (5, 9, 14, 20, 27, 27)]
    fastest = min(JOB.mean_runtime(c) for c in cands)
    settings = Settings(sla_s=fastest * 1.01, sla_per_run=True)
    d = decide(cands, history, settings)
    assert d.p_meet_sla is not None and 0.1 <= d.p_meet_sla < settings.p_target, d.reason
    assert "likeliest to meet" in d.reason and "not the cheapest" in d.reason, d.reason
    assert "cheapest expected cost" not in d.reason


def _refused(c: Candidate) -> Observation:
    return Observation(c.config_id, 0.0, False, anomalies=("failure", LAUNCH_FAILED, NO_CAPACITY))


def test_an_instance_type_the_cloud_keeps_refusing_is_avoided_for_a_while() -> None:
    cands = grid()
    by = {c.config_id: c for c in cands}
    rng = np.random.default_rng(7)
    history = [JOB.run(cands[i], rng) for i in (5, 9, 14, 20, 13, 13)]
    settings = Settings(sla_s=2.0 * JOB.mean_runtime(cands[13]), sla_per_run=True)
    rec = decide(cands, history, settings, seed=1).candidate
    refused = rec.instance_type
    failures = [*history]
    for n in range(1, LAUNCH_REFUSALS + 3):
        failures.append(_refused(rec))
        d = decide(cands, failures, settings, seed=1)
        if n < LAUNCH_REFUSALS:
            continue  # one or two refusals are the cloud's bad luck (test_models_launch_failed)
        # Six refusals in a row and it still said "each run meets the SLA with P=100%" for it.
        assert by[d.candidate.config_id].instance_type != refused, (n, d.reason)
        assert f"{refused} failed to launch {n} times in a row" in d.reason, d.reason
    # Runs elsewhere: after LAUNCH_RETRY_AFTER of them it may be tried again ...
    moved = [*failures]
    for k in range(1, LAUNCH_RETRY_AFTER + 1):
        moved.append(JOB.run(cands[1], rng))
        left = refused_instance_types(moved, by)
        assert bool(left) == (k < LAUNCH_RETRY_AFTER), (k, left)
    # ... and a failure of that try avoids it at once again.
    assert refused_instance_types([*moved, _refused(rec)], by)[0].instance_type == refused
    # A launch of it that went through ends the streak.
    assert refused_instance_types([*failures, JOB.run(rec, rng)], by) == ()


def test_launch_failures_that_are_not_the_clouds_capacity_avoid_no_type() -> None:
    # Review of 08e3bc7: a secret the cluster could not read, a workspace run limit or throttling
    # (launch_failed, every configuration fails alike) walked the job from type to type, each reason
    # blaming the cloud's capacity; only Databricks' capacity codes (no_capacity) count now.
    from models.changes import refused_instance_types

    cands = grid()
    known = {c.config_id: c for c in cands}
    job_wide = [Observation(cands[13].config_id, 0.0, False, anomalies=("failure", LAUNCH_FAILED))] * 5
    assert refused_instance_types(job_wide, known) == ()
    # Nor do they end a capacity streak: three refusals with a secret failure between still count.
    mixed = [_refused(cands[13]), _refused(cands[13]), job_wide[0], _refused(cands[13])]
    (refusal,) = refused_instance_types(mixed, known)
    assert refusal.instance_type == cands[13].instance_type


def test_refusals_of_every_instance_type_avoid_none() -> None:
    cands = grid()
    rng = np.random.default_rng(8)
    history = [JOB.run(cands[i], rng) for i in (5, 9, 14)]
    kinds = {c.instance_type: c for c in cands}
    for _ in range(LAUNCH_REFUSALS):
        history += [_refused(c) for c in kinds.values()]
    assert len(refused_instance_types(history, {c.config_id: c for c in cands})) == len(kinds)
    d = decide(cands, history, Settings(sla_s=3000.0))
    assert "failed to launch" not in d.reason  # avoiding all of them would leave nothing to run


def test_the_runtime_interval_holds_the_learned_spot_loss_rate() -> None:
    base = grid()
    rng = np.random.default_rng(3)
    runs = [JOB.run(base[i], rng) for i in (5, 9, 14, 20)] * 2
    his = []
    for rate in (0.0, 2.0, 6.0):
        cands = [replace(c, spot=True, interruption_rate=rate) for c in base]
        f = forecast(cands, runs, Settings(sla_s=4000.0, sla_per_run=True))[13]
        his.append(f.runtime_interval_s[1])
        d = decide(cands, runs, Settings(sla_s=4000.0, sla_per_run=True))
        low, high = d.cost_interval
        assert low <= d.predicted_cost <= high, (rate, d.cost_interval, d.predicted_cost)
        if rate:
            assert "chance of losing spot nodes" in d.reason, d.reason
    # 2/h and 6/h gave the same interval while P(loss) went 34% -> 72%.
    assert his[0] < his[1] < his[2], his


def _flips(sla: float | None, seed: int, nights: int = 30) -> list[tuple[int, str, str]]:
    cands = grid()
    rng = np.random.default_rng(seed)
    history = [JOB.run(cands[9], rng, recommendation_applied=False)]
    flips: list[tuple[int, str, str]] = []
    prev = None
    for night in range(nights):
        d = decide(cands, history, Settings(sla_s=sla), seed=night)
        if prev is not None and d.phase == "optimizing" and d.candidate.config_id != prev and night > 10:
            flips.append((night, prev, d.candidate.config_id))
        prev = d.candidate.config_id
        history.append(JOB.run(d.candidate, rng))
    return flips


def test_a_stable_job_does_not_switch_clusters_for_savings_below_min_saving() -> None:
    # Without the hysteresis: 2xc.2x <-> 2xc.4x at nights 11, 26 and 32 (predicted 0.2% apart).
    assert _flips(None, 2, 36) == []


def _pair(b_slower: float) -> tuple[list[Candidate], list[Observation]]:
    """Runs alternating on 2xc.2x (A) and 4xc.2x (B, twice its price), B last: B costs ``b_slower``
    times A's cost per run."""
    cands = grid()
    rng = np.random.default_rng(11)
    a, b = cands[0], cands[4]
    assert (a.config_id, b.config_id) == ("2xc.2x", "4xc.2x")
    history = []
    for _ in range(6):
        history.append(Observation(a.config_id, 2000.0 * float(np.exp(rng.normal(0, 0.01))), True))
        history.append(Observation(b.config_id, 1000.0 * b_slower * float(np.exp(rng.normal(0, 0.01))), True))
    return cands, history


def test_the_current_configuration_stays_while_the_predicted_saving_is_below_min_saving() -> None:
    quiet = Settings(sla_s=None, explore_horizon=0.0)  # no exploration: the recommendation alone
    cands, history = _pair(1.012)
    free = decide(cands, history, replace(quiet, min_saving=0.0))
    assert free.candidate.config_id == "2xc.2x", free.reason  # the setting: A is predicted cheapest
    d = decide(cands, history, quiet)
    assert d.candidate.config_id == "4xc.2x" and d.best is not None and d.best.config_id == "4xc.2x", d.reason
    assert "4xc.2x stays" in d.reason and "not worth a change of cluster" in d.reason, d.reason
    assert "cheapest expected cost" not in d.reason
    # With an SLA both meet, the same.
    assert decide(cands, history, replace(quiet, sla_s=3000.0)).candidate.config_id == "4xc.2x"
    # A current configuration that does not meet the SLA target is not held on to.
    cands, history = _pair(1.002)
    history = history[1:] + history[:1]  # A (2000 s) last
    assert decide(cands, history, quiet).candidate.config_id == "2xc.2x"
    assert decide(cands, history, replace(quiet, sla_s=1500.0, sla_per_run=True)).candidate.config_id == "4xc.2x"
    # A saving of min_saving or more moves it.
    cands, history = _pair(1.05)
    assert decide(cands, history, quiet).candidate.config_id == "2xc.2x"


def test_the_likeliest_is_not_a_far_off_configuration_whose_spread_is_widest() -> None:
    """Where nothing reaches the SLA target every P is in the model's tails, where the widest
    spread wins: a review found a configuration never run, predicted at 9x the SLA, named the
    likeliest. The likeliest is taken by z-score among configurations whose execution is predicted
    within 2x of the fastest (`_NEAR_FASTEST`)."""
    from models.decide import _best_index, _outlook
    from models.prior import DEFAULT_PRIOR
    from models.setup import NO_SETUP

    cands = grid()
    rng = np.random.default_rng(5)
    runs = [JOB.run(cands[i], rng) for i in (5, 9)]
    settings = Settings(sla_s=100.0)
    out = _outlook(cands, runs, settings, DEFAULT_PRIOR, {c.config_id: c for c in cands}, 0, NO_SETUP)
    n = len(cands)
    # Candidate 0: predicted at 9x the SLA with a wide spread (the higher P and z); candidate 1: at
    # 1.2x, tight (the lower). Every other candidate is out of the way (50x).
    execution = np.full(n, 5000.0)
    execution[0], execution[1] = 900.0, 120.0
    z = np.full(n, -50.0)
    z[0], z[1] = -2.0, -3.0
    p = np.full(n, 0.0)
    p[0], p[1] = 0.02, 0.001
    tails = replace(out, pred=replace(out.pred, mean_log=np.log(execution)), z_meet=z, p_meet=p, p_run=p)
    none = np.zeros(n, dtype=bool)
    assert _best_index(tails, settings, none, none) == 1
    # By z-score where every P underflows: still within the window.
    assert _best_index(replace(tails, p_meet=np.zeros(n), p_run=np.zeros(n)), settings, none, none) == 1
    # Both within 2x of the fastest: the higher z-score decides, as before.
    execution[0] = 140.0
    assert _best_index(replace(tails, pred=replace(out.pred, mean_log=np.log(execution))), settings, none, none) == 0


def _aim(reason: str) -> float | None:
    """The working SLA a reason names, None under the owner's SLA."""
    m = re.match(r"the \d+s SLA is out of reach: .*? aims at a (\d+)s working SLA", reason)
    return float(m.group(1)) if m else None


def test_a_capacity_refusal_leaves_the_working_sla_as_it_was() -> None:
    """A review: three capacity refusals of c.4x loosened the working SLA (707 -> 836 s) for the
    refusal's seven runs, and tightened it again after, moving the job twice; the reason named a
    slower configuration "the fastest measured". What the job can do did not change."""
    from models.observation import LAUNCH_FAILED, NO_CAPACITY

    cands = grid()
    fastest = 300.0 + min(JOB.mean_runtime(c) for c in cands)
    settings = Settings(sla_s=0.9 * fastest, sla_per_run=True)
    rng = np.random.default_rng(3)
    history = [Observation(c.config_id, 300.0 + JOB.run(c, rng).runtime_s, True, setup_s=300.0)
               for c in cands if c.nodes >= 12]
    before = decide(cands, history, settings, seed=1)
    working = _aim(before.reason)
    assert working is not None, before.reason
    refused = [c for c in cands if c.instance_type == "c.4x"][0]
    for _ in range(3):
        history.append(Observation(refused.config_id, 0.0, False, anomalies=("failure", LAUNCH_FAILED, NO_CAPACITY)))
    during = decide(cands, history, settings, seed=1)
    assert _aim(during.reason) == working, during.reason
    assert "c.4x failed to launch 3 times in a row" in during.reason and during.candidate.instance_type != "c.4x"
    assert "the fastest measured, 24xc.4x" in during.reason, during.reason


def test_the_working_sla_is_left_only_at_twice_the_p_that_entered_it() -> None:
    """A review: with the fastest's P near 5% (10% run-to-run noise, an SLA 5% under the fastest),
    the plan flipped between the owner's SLA (the dearest cluster) and the working one from run to
    run, changing cluster and reason each time. Entering takes P < 5%, leaving P >= 10%."""
    job = Job(noise=0.1)
    cands = grid()
    settings = Settings(sla_s=0.95 * (300.0 + min(job.mean_runtime(c) for c in cands)), sla_per_run=True)
    rng = np.random.default_rng(4)
    history: list[Observation] = []
    modes = []
    phase = None
    for _ in range(30):
        d = decide(cands, history, settings, seed=len(history), previous_phase=phase)
        phase = d.phase
        modes.append("W" if _aim(d.reason) else "O")
        o = job.run(d.candidate, rng)
        history.append(Observation(d.candidate.config_id, o.runtime_s + 300.0, True, setup_s=300.0))
    flips = sum(a != b for a, b in zip(modes, modes[1:], strict=False))
    assert "W" in modes and flips <= 1, "".join(modes)


def test_the_working_sla_comes_from_what_the_project_may_run() -> None:
    """A review: with the owner's cap at 6 workers, the 24-worker cluster as found (observed only)
    set the working SLA, which no allowed cluster could meet; the reason called it the fastest
    measured, and the plan fell back to the likeliest at P=3%."""
    cands = [replace(c, allowed=c.nodes <= 6) for c in grid()]
    rng = np.random.default_rng(3)
    allowed_fastest = 300.0 + min(JOB.mean_runtime(c) for c in cands if c.allowed)
    settings = Settings(sla_s=0.9 * allowed_fastest, sla_per_run=True)
    history = [Observation(c.config_id, 300.0 + JOB.run(c, rng).runtime_s, True, setup_s=300.0)
               for c in cands if c.nodes in (6, 24)]
    d = decide(cands, history, settings, seed=1)
    working = _aim(d.reason)
    assert working is not None and working > 1.2 * allowed_fastest, d.reason
    assert "the fastest measured, 6x" in d.reason and "24x" not in d.reason.split(": ")[1], d.reason
    assert d.candidate.allowed and "likeliest" not in d.reason, d.reason
    assert 300.0 + JOB.mean_runtime(d.candidate) <= working, d.reason


def test_an_owner_who_turns_the_working_sla_off_gets_the_fastest_measured() -> None:
    """`Settings.working_sla` off (`trimtab project set --no-working-sla`): an SLA out of reach on the
    job's own runs keeps the fastest measured configuration, the dearest here, and its reason says so."""
    cands = grid()
    history = _with_setup(cands)
    settings = Settings(sla_s=310.0, sla_per_run=True)
    first = decide(cands, history, settings)
    assert "the fastest measured runs (the project's working SLA is off)" in \
        decide(cands, history, replace(settings, working_sla=False)).reason
    seen = [*history, Observation(first.candidate.config_id, 300.0 + JOB.mean_runtime(first.candidate), True,
                                  setup_s=300.0)]
    on = decide(cands, seen, settings)
    off = decide(cands, seen, replace(settings, working_sla=False))
    assert "working SLA" in on.reason and on.candidate.price_per_hour < first.candidate.price_per_hour
    assert off.reason.startswith("the 310s SLA is out of reach"), off.reason
    assert f"the project's working SLA is off, so the fastest measured, {first.candidate.name}, runs" in off.reason
    assert "aims at" not in off.reason
    assert off.candidate == first.candidate and off.phase == "optimizing"
    assert off.p_meet_sla is not None and off.p_meet_sla < 0.05


def test_with_the_working_sla_off_the_loop_stays_on_the_fastest() -> None:
    """A review: with the working SLA off, "the likeliest" of `_best_index` kept moving to untried
    clusters the model itself predicted 1.4-2x slower than the fastest measured (their spread is the
    widest): 15 of 72 runs over 1.25x the fastest. Once the SLA is out of reach, every run is on the
    fastest measured."""
    cands = grid()
    slow = total = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        job = random_job(rng)
        fastest = min(job.mean_runtime(c) for c in cands)
        settings = Settings(sla_s=0.8 * fastest, sla_per_run=True, working_sla=False)
        history = [job.run(cands[int(rng.integers(len(cands)))], rng)]
        for i in range(12):
            d = decide(cands, history, settings, seed=i)
            if i >= 3:
                total += 1
                slow += job.mean_runtime(d.candidate) > 1.25 * fastest
            history.append(job.run(d.candidate, rng))
    assert total == 72 and slow == 0



def test_an_out_of_reach_reason_names_the_bar_it_used() -> None:
    """A review: once the job ran under the working SLA it takes P >= 10% to leave it, but the reason
    said "no configuration is predicted to meet it with P>=5%" beside a fastest measured at P=8%."""
    cands = grid()
    dearest = max(cands, key=lambda c: c.price_per_hour)
    fastest = 300.0 + min(JOB.mean_runtime(c) for c in cands)
    rng = np.random.default_rng(3)
    seen = 0
    for working_sla in (True, False):
        settings = Settings(sla_s=0.9 * fastest, sla_per_run=True, working_sla=working_sla)
        history = [Observation(dearest.config_id, 300.0 + JOB.mean_runtime(dearest), True, setup_s=300.0)]
        for _ in range(12):
            d = decide(cands, history, settings, seed=len(history))
            m = re.match(r"the \d+s SLA is out of reach: no configuration is predicted to meet it with P>=(\d+)%"
                         r".*? the fastest measured, .*?P=([\d.]+)%", d.reason)
            if m:
                seen += 1
                assert float(m.group(2)) < float(m.group(1)), d.reason
            o = JOB.run(d.candidate, rng)
            history.append(Observation(d.candidate.config_id, o.runtime_s + 300.0, True, setup_s=300.0))
    assert seen >= 10
