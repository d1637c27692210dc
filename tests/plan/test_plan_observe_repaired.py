"""A run repaired after it ran out of memory, as the tuner sees it: no success of its configuration,
which is avoided as after any out-of-memory failure until a clean run on it succeeds."""

from __future__ import annotations

import dataclasses

from models.changes import screen
from models.observation import OUT_OF_MEMORY, REPAIRED
from models.space import Candidate
from server.domain import ClusterConfig, Run
from server.plan.candidates import config_id_of
from server.plan.observe import observation

CONFIG = ClusterConfig(node_type_id="c5.xlarge", num_workers=4)
REPAIRED_OOM = Run(project_id=1, databricks_run_id=7, runtime_s=900.0, outcome="succeeded", config=CONFIG,
                   anomalies=(OUT_OF_MEMORY, REPAIRED))


def test_a_run_repaired_after_running_out_of_memory_is_an_out_of_memory_failure() -> None:
    obs = observation(REPAIRED_OOM, [], applied_recommendation=True)
    assert obs is not None and not obs.ok
    assert {OUT_OF_MEMORY, REPAIRED, "failure"} <= set(obs.anomalies)
    screened = screen([obs], {}, sigma_run=0.1, input_elasticity=0.0)
    assert screened.oom_configs == {config_id_of(CONFIG)} == screened.failed_configs


def test_a_clean_success_on_the_configuration_clears_it_as_after_any_out_of_memory_failure() -> None:
    clean = dataclasses.replace(REPAIRED_OOM, databricks_run_id=8, runtime_s=400.0, anomalies=())
    history = [o for r in (REPAIRED_OOM, clean) if (o := observation(r, [], applied_recommendation=True))]
    known = {config_id_of(CONFIG): _candidate()}
    assert screen(history, known, sigma_run=0.1, input_elasticity=0.0).oom_configs == frozenset()


def test_a_drivers_stays_the_drivers() -> None:
    # The driver ran out of memory: sized up (`server.plan.driver`), the workers' memory not blamed.
    driver = dataclasses.replace(REPAIRED_OOM, anomalies=(OUT_OF_MEMORY, "driver_lost", REPAIRED))
    obs = observation(driver, [], applied_recommendation=True)
    assert obs is not None and not obs.ok and OUT_OF_MEMORY not in obs.anomalies
    assert screen([obs], {}, sigma_run=0.1, input_elasticity=0.0).failed_configs == frozenset()


def test_a_repaired_success_without_a_memory_failure_is_still_a_success() -> None:
    obs = observation(dataclasses.replace(REPAIRED_OOM, anomalies=(REPAIRED,)), [], applied_recommendation=True)
    assert obs is not None and obs.ok and "failure" not in obs.anomalies


def _candidate() -> Candidate:
    return Candidate(config_id_of(CONFIG), "c5.xlarge", 4.0, 8.0, 4, 1.0, family="c5")
