"""Change points a platform engineer meets (review rev14d): a one-off input night is not a new
segment, and a runtime regression is seen when the planner moves to a new cluster after the first
slow run."""

from __future__ import annotations

import dataclasses

import numpy as np

from models.changes import INPUT_SIZE_SHIFT, RUNTIME_REGRESSION, screen
from models.decide import Settings, decide
from models.observation import Observation
from tests.models.models_synth import Job, grid

CANDS = grid()
KNOWN = {c.config_id: c for c in CANDS}
SETUP = 240.0


def _run(job: Job, index: int, rng: np.random.Generator, scale: float = 1.0) -> Observation:
    return job.run(CANDS[index], rng, input_scale=scale, input_gb=100.0 * scale)


def _history(scales: list[float], indices: list[int] | None = None, job: Job | None = None) -> list[Observation]:
    rng = np.random.default_rng(7)
    picks = indices or [1, 9, 21] + [13] * (len(scales) - 3)
    return [_run(job or Job(), i, rng, s) for i, s in zip(picks, scales, strict=True)]


def test_one_night_of_double_input_is_a_one_off_not_two_changes() -> None:
    # Nine usual nights, a backfill night at 2x, then the usual size again. Before, the 2x night
    # started a segment (learning again) and the next, at 0.5x of that segment's median, another.
    history = _history([1.0] * 9 + [2.0, 1.0])
    scr = screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (0, None)
    assert scr.one_offs == (9,) and {9, 10} <= set(scr.learn)  # learned at its own input
    # While the 2x night is the latest, it may be a lasting shift: the next run is planned for it.
    latest = screen(history[:10], KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (latest.segment_start, latest.change_kind) == (9, INPUT_SIZE_SHIFT)
    # Two nights at 2x: a lasting shift from the first of them, as before.
    lasting = screen(_history([1.0] * 9 + [2.0, 2.0]), KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (lasting.segment_start, lasting.change_kind) == (9, INPUT_SIZE_SHIFT)
    # A halved input for good is a shift the same way.
    halved = screen(_history([1.0] * 9 + [0.5, 0.5]), KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (halved.segment_start, halved.change_kind) == (9, INPUT_SIZE_SHIFT)


def test_a_regression_is_seen_across_a_run_on_a_new_cluster() -> None:
    # Measured A, B, C; the work doubles; the slow run on A moves the planner to D (never measured
    # before), then B runs slow too. D's run broke the "two in a row" pair and nothing was seen.
    job, slow = Job(), Job(work_core_s=80000.0)
    rng = np.random.default_rng(3)
    a, b, c, d = 5, 9, 13, 25
    history = [_run(job, i, rng) for i in (a, b, c, a, b, c)]
    history += [_run(slow, a, rng), _run(slow, d, rng), _run(slow, b, rng)]
    scr = screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (6, RUNTIME_REGRESSION)
    # D's own runs after the slow one are no baseline: repeating it neither confirms nor clears.
    again = history[:8] + [_run(slow, d, rng), _run(slow, d, rng), _run(slow, c, rng)]
    assert screen(again, KNOWN, sigma_run=0.05, input_elasticity=1.0).segment_start == 6
    # One slow run alone is noise, whatever follows on clusters not measured before it.
    alone = history[:7] + [_run(slow, d, rng), _run(job, b, rng)]
    assert screen(alone, KNOWN, sigma_run=0.05, input_elasticity=1.0).change_kind is None


def _loop(job_of: object, seed: int, nights: int = 20, noise: float | None = None) -> list[str | None]:
    rng = np.random.default_rng(seed)
    history: list[Observation] = []
    kinds: list[str | None] = []
    for n in range(nights):
        d = decide(CANDS, history, Settings(sla_s=1200.0, sla_per_run=True), seed=len(history))
        job = job_of(n)  # type: ignore[operator]
        t = job.mean_runtime(d.candidate) * float(np.exp(rng.normal(0, noise or job.noise))) + SETUP
        history.append(Observation(d.candidate.config_id, t, True, input_gb=100.0, setup_s=SETUP))
        kinds.append(d.change_kind)
    return kinds


def test_closed_loop_a_doubled_workload_rebases_and_noise_does_not() -> None:
    # The reviewer's loop: from night 8 the job does twice the work for good. Before, 4 of 10
    # seeds never rebased and stayed on a cluster 41% dearer than the cheapest that meets the SLA.
    slow = Job(work_core_s=80000.0)
    seen = [RUNTIME_REGRESSION in _loop(lambda n: slow if n >= 8 else Job(), seed) for seed in range(6)]
    # After the slow run the planner reruns a cluster measured before it (`_recheck_pick`): every
    # seed (10 of 10 over seeds 0-9; 8 of 10 when it moved on to clusters never measured, which
    # could not judge the slow run, and 6 of 10 before those were skipped).
    assert all(seen), seen
    # A job noisier than the prior (8% a run) and no change: no rebase. (At 15% and 20% a slow pair
    # before any cluster ran twice now needs a third slow run; 3 of 30 and 5 of 30 closed loops still
    # rebase: test_models_changes_noise.py, docs/tuning.md.)
    quiet = [_loop(lambda n: Job(), seed, noise=0.08) for seed in range(6)]
    assert all(k is None for kinds in quiet for k in kinds), quiet




def test_a_drop_only_the_latest_run_shows_is_planned_for_the_size_before_it() -> None:
    # One small night (half the data) started a segment planned for half the data: the next,
    # usual night ran on a cluster sized for half of it and missed the SLA.
    history = _history([1.0] * 9 + [0.5])
    scr = screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert scr.change_kind == INPUT_SIZE_SHIFT and scr.shift_from_gb == 100.0
    sla = 1.3 * Job().mean_runtime(CANDS[13])
    d = decide(CANDS, history, Settings(sla_s=sla))
    assert "the next run is planned for the 100 GB before the drop" in d.reason, d.reason
    assert Job().mean_runtime(d.candidate) <= sla  # the usual night fits the cluster planned
    # A rise is planned for as it is (the larger size), and a drop two runs show is planned for.
    assert "before the drop" not in decide(CANDS, _history([1.0] * 9 + [2.0]), Settings(sla_s=sla)).reason
    lasting = _history([1.0] * 9 + [0.5, 0.5])
    assert screen(lasting, KNOWN, 0.05, 1.0).shift_from_gb is None
    assert "before the drop" not in decide(CANDS, lasting, Settings(sla_s=sla)).reason


def test_a_one_off_before_a_lasting_change_is_still_a_one_off() -> None:
    # Review rev14e: a 2x night, then the input halved for good from the next night. The 2x night's
    # change point (kept while it was the latest run) must be withdrawn though a change follows it.
    scr = screen(_history([1.0] * 9 + [2.0, 0.5, 0.5]), KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (10, INPUT_SIZE_SHIFT)
    assert 9 in scr.one_offs


def test_a_size_the_segment_ran_as_a_one_off_is_no_change_on_the_latest_run() -> None:
    # Two sizes on alternate nights (or big Mondays): each small night as the latest run restarted
    # learning, and the usual size was never learned.
    scr = screen(_history([1.0] * 7 + [0.4, 1.0, 0.4]), KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind, scr.one_offs) == (0, None, (7, 9))
    # Two in a row at that size are a lasting shift, from the first of them.
    lasting = screen(_history([1.0] * 7 + [0.4, 1.0, 0.4, 0.4]), KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (lasting.segment_start, lasting.change_kind) == (9, INPUT_SIZE_SHIFT)


def test_a_slow_run_unconfirmed_for_a_few_runs_is_forgotten() -> None:
    # Review rev14e: A slow once, then weeks of steady runs on D (measured only since), then A slow
    # once more: two slow nights apart, no regression (it rebased and moved to a dearer cluster).
    job, slow = Job(), Job(work_core_s=80000.0)
    rng = np.random.default_rng(5)
    a, b, d = 5, 9, 25
    history = [_run(job, i, rng) for i in (a, b, a, b)] + [_run(slow, a, rng)]
    history += [_run(job, d, rng) for _ in range(6)] + [_run(slow, a, rng)]
    assert screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0).change_kind is None
    # Confirmed within the runs it waits through, it is one.
    soon = history[:5] + [_run(job, d, rng) for _ in range(2)] + [_run(slow, a, rng)]
    assert screen(soon, KNOWN, sigma_run=0.05, input_elasticity=1.0).change_kind == RUNTIME_REGRESSION


def test_a_run_without_input_after_a_drop_is_taken_at_the_size_before_it() -> None:
    # Review rev14e: the usual night after a half-size one reported no input size; it was learned
    # as a half-size run (filled from the drop) and the night after it missed the SLA.
    import dataclasses

    history = _history([1.0] * 9 + [0.5, 1.0])
    history[10] = dataclasses.replace(history[10], input_gb=None)
    from models.decide import _learned_runs

    runs, planned = _learned_runs(history, screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0))
    assert [r.input_gb for r in runs] == [50.0, 100.0] and planned == [100.0]
    sla = 1.3 * Job().mean_runtime(CANDS[13])
    d = decide(CANDS, history, Settings(sla_s=sla))
    assert "the next run is planned for the 100 GB before the drop" in d.reason, d.reason
    assert Job().mean_runtime(d.candidate) <= sla


def test_runs_cancelled_past_the_sla_move_the_job_to_a_bigger_cluster() -> None:
    # Review rev14i: an orchestrator cancels every run still going at the SLA. As 'cancelled' (not a
    # failure) nothing was avoided: "no usable run yet: measuring 6xc.4x first" every night for good.
    settings = Settings(sla_s=1200.0, sla_per_run=True)
    first = decide(CANDS, [], settings).candidate
    overran = [Observation(first.config_id, 1250.0, False, input_gb=100.0, setup_s=SETUP, anomalies=("cancelled",))]
    nxt = decide(CANDS, overran, settings).candidate
    assert nxt.config_id != first.config_id and nxt.cores > first.cores
    # Cancelled before the SLA (a person stopped it early): no word on the cluster, not avoided.
    early = [Observation(first.config_id, 300.0, False, input_gb=100.0, setup_s=SETUP, anomalies=("cancelled",))]
    assert decide(CANDS, early, settings).candidate.config_id == first.config_id


def _exec(config: int, runtime_s: float) -> Observation:
    return Observation(CANDS[config].config_id, runtime_s, True, input_gb=100.0)


def test_a_noisy_job_is_judged_by_its_own_noise() -> None:
    # Review rev14i: a job whose runs scatter 15% a run was screened with the fleet prior's 5%, and
    # two slow-looking nights in a row rebased it. Its repetitions say how noisy it is (their
    # median distance, so that a speed-up the screen does not flag is not taken for noise:
    # tests/plan/test_plan_prior.py's change of scaling).
    a, b, c = 5, 9, 13
    noisy = [_exec(a, 600), _exec(a, 800), _exec(a, 560), _exec(b, 500), _exec(b, 380), _exec(b, 520),
             _exec(c, 700), _exec(c, 930)]
    slow = [_exec(a, 900), _exec(b, 620)]  # 1.37x and 1.32x their configuration's mean
    assert screen(noisy + slow, KNOWN, sigma_run=0.05, input_elasticity=1.0).change_kind is None
    # The same two nights on a quiet job (3% a run) are a regression, as before.
    quiet = [_exec(a, 650), _exec(a, 670), _exec(a, 660), _exec(b, 460), _exec(b, 470), _exec(b, 450),
             _exec(c, 800), _exec(c, 820)]
    scr = screen(quiet + slow, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (8, RUNTIME_REGRESSION)
    # The noise is the runs' before the suspect's: a regression in the runs after it would
    # otherwise raise its own bar. Ten quiet runs, then A 2x slower twice in a row.
    twice = quiet + [_exec(a, 1320), _exec(a, 1340)]
    assert screen(twice, KNOWN, sigma_run=0.05, input_elasticity=1.0).change_kind == RUNTIME_REGRESSION


def test_a_rerun_that_falls_back_from_a_slow_run_is_noise_and_other_clusters_need_not_agree() -> None:
    # A rerun of the slow run's own configuration that shows clearly less of its shift: the slow
    # run was noise at its top (a job noisier than its prior), not a regression.
    a, b, c = 5, 9, 13
    steady = [_exec(a, 550), _exec(b, 750), _exec(c, 550), _exec(a, 560), _exec(a, 555)]
    fell_back = steady + [_exec(a, 1100), _exec(a, 863)]
    scr = screen(fell_back, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert scr.change_kind is None and scr.suspect == 6  # the rerun, slow too, waits for its own
    assert screen(fell_back + [_exec(a, 600)], KNOWN, 0.05, 1.0).suspect is None
    # Slower still on the rerun is a regression getting worse.
    worse = screen(steady + [_exec(a, 1100), _exec(a, 1500)], KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (worse.segment_start, worse.change_kind) == (5, RUNTIME_REGRESSION)
    # Review rev15d: a regression that adds fixed seconds (a new driver-side step) slows a big,
    # short cluster by a larger factor than a small one. Wanting the same factor on two clusters,
    # 1.45x then 2.65x never rebased, not even after six such runs.
    job, slow = Job(), Job(fixed_s=660.0)
    rng = np.random.default_rng(1)
    small, big = 5, 25
    history = [_run(job, i, rng) for i in (small, 9, big, small, 9, big)] + [_run(slow, small, rng), _run(slow, big, rng)]
    scr = screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (6, RUNTIME_REGRESSION)


def _slow_ninth_run(seed: int) -> tuple[list[Observation], Settings]:
    job, slow = Job(), Job(work_core_s=80000.0)
    rng = np.random.default_rng(seed)
    settings = Settings(sla_s=1200.0, sla_per_run=True)
    history: list[Observation] = []
    for _ in range(8):
        d = decide(CANDS, history, settings, seed=len(history))
        history.append(_run(job, CANDS.index(d.candidate), rng))
    history.append(_run(slow, CANDS.index(decide(CANDS, history, settings).candidate), rng))
    return history, settings


def test_a_slow_run_is_checked_on_a_cluster_measured_before_it() -> None:
    # After one slow run the planner leaned to a bigger cluster never measured (or explored one),
    # whose runs cannot tell a regression from noise: a 2x slowdown went unseen in 2 of 10 loops.
    history, settings = _slow_ninth_run(5)
    scr = screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert scr.suspect == 8 and scr.judges <= {o.config_id for o in history[:9]}
    d = decide(CANDS, history, settings, seed=len(history))
    assert d.candidate.config_id in scr.judges, d.reason
    # 8xc.2x, cheaper than 6xc.4x, now that a judge's P is the one it has if the slow run was noise
    # (the slow run had put it under the target: `_recheck_pick`'s ``p_before``).
    assert d.reason.startswith("rerunning 8xc.2x, measured before run #9 of the history ran slow"), d.reason
    # Exploring waits too: seed 0 was "trying 16xr.2x", never measured, the night after.
    history, settings = _slow_ninth_run(0)
    d = decide(CANDS, history, settings, seed=len(history))
    assert d.candidate.config_id in screen(history, KNOWN, 0.05, 1.0).judges and "trying" not in d.reason, d.reason
    # With no slow run open the planner is free to move.
    assert screen(history[:8], KNOWN, sigma_run=0.05, input_elasticity=1.0).suspect is None


def test_a_slow_run_rerun_on_a_cluster_that_keeps_losing_spot_nodes_is_let_go() -> None:
    # Review rev15d: runs explained away (lost spot nodes) neither aged the open slow run nor kept
    # the planner off the cluster it reran to judge it: "rerunning 6xc.4x" every night for good,
    # dearer than the recommendation, and no exploring.
    import dataclasses

    history, settings = _slow_ninth_run(5)
    picks = []
    for _ in range(5):
        d = decide(CANDS, history, settings, seed=len(history))
        picks.append((d.candidate.config_id, d.reason.startswith("rerunning")))
        lost = dataclasses.replace(_run(Job(), CANDS.index(d.candidate), np.random.default_rng(len(history))),
                                   anomalies=("spot_loss",))
        history.append(lost)
    # The judge now is 8xc.2x (its P read from before the slow run), which then becomes the
    # recommendation itself; whichever cluster it is, lost reruns are not repeated for the slow run
    # for good, and it expires.
    assert picks[0] == ("8xc.2x", True), picks
    assert sum(rerun for _, rerun in picks) <= 2 and all(not rerun for _, rerun in picks[2:]), picks
    assert screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0).suspect is None  # and it expired


def test_a_rerun_of_the_slow_runs_own_cluster_sees_a_modest_regression() -> None:
    # Review rev15f: with the slow run in its own cluster's baseline, a rerun showed n/(n+1) of a
    # lasting 1.33x and fell under the bar. Run three times before, its rerun judges it (the bar
    # takes the same share off); run once, another cluster measured before it does (the planner
    # sends the rerun there, `_recheck_pick`).
    a, b = 5, 9
    often = [_exec(a, 600), _exec(b, 500), _exec(a, 603), _exec(a, 597), _exec(b, 503)]
    scr = screen(often + [_exec(a, 800), _exec(a, 805)], KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (5, RUNTIME_REGRESSION)
    once = [_exec(a, 600), _exec(b, 500), _exec(b, 503)]
    assert screen(once + [_exec(a, 840), _exec(b, 700)], KNOWN, 0.05, 1.0).change_kind == RUNTIME_REGRESSION


def test_an_imported_history_on_another_cluster_does_not_spend_the_learning_budget() -> None:
    # Review rev15i: a backfilled history began on a bigger cluster the owner ran months ago; each
    # later run on the cluster as found (no recommendation made it) counted as a learning run, ten
    # of them spent the budget of three, and learning was skipped.
    from models.decide import _designed_runs

    rng = np.random.default_rng(4)
    old = [dataclasses.replace(_run(Job(), 25, rng), recommendation_applied=False)]
    found = [dataclasses.replace(_run(Job(), 9, rng), recommendation_applied=False) for _ in range(10)]
    history = old + found
    assert _designed_runs(history, screen(history, KNOWN, 0.05, 1.0)) == 1  # one more cluster measured
    d = decide(CANDS, history, Settings(sla_s=1200.0, sla_per_run=True))
    assert d.phase == "learning" and "learning run 2/3" in d.reason, d.reason
    # Runs Trimtab's recommendations made count one by one, as before.
    applied = history + [_run(Job(), 13, rng), _run(Job(), 21, rng)]
    assert _designed_runs(applied, screen(applied, KNOWN, 0.05, 1.0)) == 3
