"""The agent-metrics benchmark on a small slice: one profile, one family, one seed, a short budget."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from benchmarks.agent_metrics import (
    CONTEXT_ID,
    DEFAULT_DAY,
    MODES,
    START_MS,
    SearchResult,
    Space,
    build_space,
    candidate_space,
    main,
    run_all,
    simulate,
    spec_for,
)
from benchmarks.server_view import server_run
from models.observation import OUT_OF_MEMORY
from sandbox.sim.profiles import PROFILES
from sandbox.sim.run import simulate_run
from server.collect.build import AgentData
from server.domain import ClusterConfig
from server.plan.observe import observation

PROFILE = "etl_join_aggregate"  # four stages, the first two reading input: replay has something to use
SMALL = dict(families=("c5d",), n_draws=2, day=0)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Space]:
    """One cache for the module: the slice is simulated once, then reused. The space returned is the
    one simulated into the empty cache: nothing in it was loaded, so it is what a run without a cache
    gives (the same `simulate` calls), and the cache's round trip is checked against it."""
    cache = tmp_path_factory.mktemp("agent-metrics-cache")
    return cache, build_space(PROFILE, cache_dir=cache, **SMALL)


@pytest.fixture(scope="module")
def cache(simulated: tuple[Path, Space]) -> Path:
    return simulated[0]


def test_table_has_both_modes_per_sla_and_the_summary(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--profiles", PROFILE, "--families", "c5d", "--draws", "2", "--seeds", "1", "--budget", "3",
                 "--sla-quantiles", "0.2,0.8", "--day", "0", "--jobs", "1", "--cache", str(cache)])
    assert code == 0
    out = capsys.readouterr().out
    tables = re.findall(r"== SLA quantile (\d\.\d\d) \(1 profiles x 1 seeds\)\n(.*)\n(.*)\n(.*)\n(.*)\n", out)
    assert [t[0] for t in tables] == ["0.20", "0.80"]
    for _, head, agent_row, runtime_row, reach in tables:
        assert head.split() == ["profile", "mode", "P@1", "P@2", "P@3", "runs→10%", "misses", "regret@1", "regret@3",
                                "ceiling"]
        for row, label in ((agent_row, "agent metrics"), (runtime_row, "runtime-only")):
            assert row.startswith(f"{PROFILE:<20} {label}")
            cells = row[len(f"{PROFILE:<20} {label:<14}"):].split()
            assert len(cells) == 8
            p_values = [float(c) for c in cells[:3]]
            assert all(p in (0.0, 1.0) for p in p_values)  # one search: each P is a yes or a no
            assert cells[3] == ">3" or 1 <= int(cells[3]) <= 3
            assert 0.0 <= float(cells[4]) <= 2.0  # at most the two runs the tuner chose
            for regret in cells[5:7]:
                assert regret == "miss" or float(regret.rstrip("%")) >= 0.0  # never cheaper than the oracle
            assert cells[7] in ("0.00", "1.00")  # one profile: the ceiling is a yes or a no
        assert re.fullmatch(r"P>=0\.6 after: agent metrics (\d+|more than 3) runs?, runtime-only (\d+|more than 3)",
                            reach)
    assert re.search(r"agent metrics reach P>=0.6 after (\d+|more than 3) runs vs (\d+|more than 3) runtime-only",
                     out)
    assert list(cache.glob(f"{PROFILE}-day0-*.json")), "the simulated runs were cached"


def test_the_two_modes_see_the_same_runs_with_and_without_agent_data(simulated: tuple[Path, Space]) -> None:
    cache, fresh = simulated
    space = build_space(PROFILE, cache_dir=cache, **SMALL)
    n_stages = len(PROFILES[PROFILE].stages)
    for draws in space.draws.values():
        for d in draws:
            # Through the agent's parser and the planner's translation: one summary per stage.
            assert len(d.agent.stages) == n_stages
            assert d.agent.input_gb is not None and d.agent.input_gb == pytest.approx(PROFILES[PROFILE].input_gb, 0.01)
            assert d.agent.stage_signature is not None
            assert sum(s.task_time_total_s for s in d.agent.stages) > 0
            # The same run as the server sees it without an agent.
            assert d.runtime_only.stages == () and d.runtime_only.input_gb is None
            assert d.runtime_only.stage_signature is None
            assert (d.runtime_only.config_id, d.runtime_only.runtime_s, d.runtime_only.ok) == \
                (d.agent.config_id, d.agent.runtime_s, d.agent.ok)
            # The cluster's setup (the Jobs API's setup_duration) is known with or without the agent.
            assert d.agent.setup_s is not None and 0 < d.agent.setup_s < d.agent.runtime_s
            assert d.runtime_only.setup_s == d.agent.setup_s
    # Configurations really differ in runtime, and noise seeds differ within one configuration.
    means = [space.truth.mean_runtime(c.config_id) for c in space.candidates]
    assert max(m for m in means if m) > 1.2 * min(m for m in means if m)
    assert any(len({d.agent.runtime_s for d in ds}) > 1 for ds in space.draws.values())

    # The cache gives back the very same observations as simulating afresh (every draw of every candidate).
    key = next(iter(fresh.draws))
    assert space.draws[key][0] is not fresh.draws[key][0]  # read back from the file, not handed on
    assert space.draws == fresh.draws

    results = run_all([PROFILE], SMALL["families"], SMALL["n_draws"], cache, 0, [0.5], 1, 3, 1, lambda _: None)
    by_mode = {r.mode: r for r in results}
    assert set(by_mode) == set(MODES)
    assert by_mode["agent"].stages_seen == 3 * n_stages and by_mode["runtime"].stages_seen == 0
    # Same start (the user's configuration) for both modes.
    assert by_mode["agent"].tried[0] == by_mode["runtime"].tried[0]


def test_runs_to_good_counts_until_the_recommendation_stays_good() -> None:
    def result(*good: bool) -> SearchResult:
        return SearchResult("p", "agent", 0.5, 0, tuple(1.0 if g else math.inf for g in good), 0, (), 0)

    assert result(True, True, True).runs_to_good() == 1
    assert result(False, True, False, True, True).runs_to_good() == 4
    assert math.isinf(result(True, True, False).runs_to_good())
    # Within 10% of the oracle's cost counts; more, or an SLA miss (inf), does not.
    assert SearchResult("p", "agent", 0.5, 0, (1.0, 1.05, 1.2, math.inf), 0, (), 0).good == (True, True, False, False)


def _config(config_id: str) -> ClusterConfig:
    return next(cfg for cand, cfg in candidate_space() if cand.config_id == config_id)


def test_runtime_only_twin_of_an_out_of_memory_failure_is_told_so_by_the_jobs_api() -> None:
    # skewed_join's hot task runs out of heap on 8 GiB per 4 vCPUs a year on: the run fails with
    # java.lang.OutOfMemoryError in the Jobs API's state message, which the collector reads with or
    # without an agent. The runtime-only twin must see the label the server derives from it.
    draw = simulate("skewed_join", _config("c5d.xlargex10"), 0, DEFAULT_DAY)
    assert not draw.agent.ok and not draw.runtime_only.ok
    assert OUT_OF_MEMORY in draw.agent.anomalies
    assert OUT_OF_MEMORY in draw.runtime_only.anomalies
    assert draw.runtime_only.stages == () and draw.runtime_only.input_gb is None
    # The same run through the collector's own path, no agent data: the same labels.
    spec = spec_for(_config("c5d.xlargex10"))
    sim = simulate_run(spec, "skewed_join", seed=0, day=DEFAULT_DAY, cluster_id="sim-0", spark_context_id=CONTEXT_ID,
                       start_time_ms=START_MS, job_id=1, run_id=1, app_name="skewed_join")
    assert "OutOfMemoryError" in sim.state_message
    collected = observation(server_run(sim, spec, 1, "sim-0", AgentData()), [], applied_recommendation=True)
    assert collected is not None and collected.anomalies == draw.runtime_only.anomalies


def test_a_run_that_succeeds_carries_no_failure_label_in_either_twin() -> None:
    draw = simulate("skewed_join", _config("r5d.8xlargex2"), 0, DEFAULT_DAY)
    assert draw.agent.ok and draw.runtime_only.ok
    assert draw.agent.anomalies == draw.runtime_only.anomalies == ()
