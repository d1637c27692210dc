"""A run the job's timeout stopped (Databricks' TIMEDOUT; "timeout" on the observation): a censored
runtime, at least the time it ran. Not learned as its configuration's normal, and the configuration is
too slow for the job: not run again as if nothing were known of it, and the reason says so."""

from __future__ import annotations

from models.changes import screen
from models.decide import Settings, decide
from models.observation import Observation
from tests.models.models_synth import grid

CANDS = grid()
KNOWN = {c.config_id: c for c in CANDS}
SETUP = 240.0


def _timed_out(config_id: str, runtime_s: float, *anomalies: str) -> Observation:
    return Observation(config_id, runtime_s, False, input_gb=100.0, setup_s=SETUP, anomalies=("timeout", *anomalies))


def test_a_timed_out_configuration_is_not_run_again_without_an_sla() -> None:
    first = decide(CANDS, [], Settings(sla_s=None)).candidate
    history = [_timed_out(first.config_id, 1800.0)]
    d = decide(CANDS, history, Settings(sla_s=None))
    assert d.candidate.config_id != first.config_id and d.candidate.cores > first.cores
    assert f"timed out: {first.name} after 1800s" in d.reason, d.reason
    why = d.explained[f"0:{first.config_id}"]
    assert why.startswith("timeout: the job's timeout stopped it, so its runtime there is at least"), why
    # Its runtime is not learned as the configuration's normal.
    assert screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0).learn == ()


def test_a_timed_out_configuration_misses_an_sla_at_or_below_the_time_it_ran() -> None:
    settings = Settings(sla_s=1200.0, sla_per_run=True)
    first = decide(CANDS, [], settings).candidate
    d = decide(CANDS, [_timed_out(first.config_id, 1250.0)], settings)
    assert d.candidate.config_id != first.config_id and d.candidate.cores > first.cores


def test_a_timeout_a_lost_spot_node_explains_does_not_avoid_the_configuration() -> None:
    first = decide(CANDS, [], Settings(sla_s=None)).candidate
    d = decide(CANDS, [_timed_out(first.config_id, 1800.0, "spot_loss")], Settings(sla_s=None))
    assert "timed out:" not in d.reason, d.reason


def _ok(config_id: str, runtime_s: float) -> Observation:
    return Observation(config_id, runtime_s, True, input_gb=100.0, setup_s=SETUP)


def test_a_configuration_that_times_out_after_succeeding_is_avoided() -> None:
    """Its success earlier in the segment hid the timeout: the model learns no censored runtime, so the
    cluster the job's timeout had just stopped stayed the one recommended."""
    settings = Settings(sla_s=None)
    first = decide(CANDS, [], settings).candidate
    history = [_ok(first.config_id, 1000.0), _timed_out(first.config_id, 1800.0)]
    d = decide(CANDS, history, settings)
    assert d.candidate.config_id != first.config_id
    assert f"timed out: {first.name} after 1800s" in d.reason, d.reason


def test_a_configuration_that_succeeds_after_timing_out_is_not_avoided() -> None:
    settings = Settings(sla_s=None)
    first = decide(CANDS, [], settings).candidate
    history = [_timed_out(first.config_id, 1800.0), _ok(first.config_id, 1000.0)]
    d = decide(CANDS, history, settings)
    assert "timed out:" not in d.reason, d.reason


def test_the_newest_of_a_configurations_runs_decides_whether_it_overran() -> None:
    """A cancel past the SLA after a success avoids the configuration as a timeout does; a success after
    either clears it (`models.segment._overran`, read on the screened segment decide uses)."""
    from models.segment import _overran

    settings = Settings(sla_s=1200.0, sla_per_run=True)
    a, b = CANDS[0].config_id, CANDS[1].config_id
    cancelled = Observation(a, 1300.0, False, input_gb=100.0, setup_s=SETUP, anomalies=("cancelled",))

    def overran(history: list[Observation]) -> frozenset[str]:
        return _overran(history, screen(history, KNOWN, sigma_run=0.05, input_elasticity=1.0), settings)

    assert overran([_ok(a, 1000.0), cancelled]) == {a}
    assert overran([_ok(a, 1000.0), _timed_out(b, 1800.0)]) == {b}
    assert overran([cancelled, _ok(a, 1000.0)]) == frozenset()
    assert overran([_ok(a, 1000.0), _timed_out(a, 1800.0), _ok(a, 900.0)]) == frozenset()
