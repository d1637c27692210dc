"""`trimtab demo` with small settings, twice (the second resumes), checked from the stores themselves."""

from __future__ import annotations

import contextlib
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.workspace import start_workspace
from server.cli.main import main
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway, GatewayConfig
from server.demo import DEMO_JOBS, GROUND_TRUTH_FILE
from server.domain import Project, Run
from server.onboard import RECOMMENDATION_TAG
from server.plan.candidates import driver_of
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store, open_store
from tests.e2e.eventlogs import written_by_cluster

FIRST_ROUNDS, SECOND_ROUNDS = 4, 2  # learning budget 3: rounds 5 and 6 are model-driven
# Twice the demo's default. Every agent is up before its run ends at any speed: the emulator runs
# the init script in the run's own thread, so the cluster goes on only once the script returned,
# a second after it launched the agent (its check that the agent stayed up); the agent keeps a
# SIGTERM that comes while it starts, then reads the rest of the log before it exits (the slower
# 70x here predates that). At this speed a run's remaining moments are all due by the time the
# install returns, so each agent reads its whole log at termination, as every one did at 70x on a
# loaded machine (installs of 12-24 s there). What the speed shortens is the simulated provisioning
# (150-300 s) before the install and what is left of the run after it.
SPEED = "200"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("demo")
    for rounds in (FIRST_ROUNDS, SECOND_ROUNDS):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["demo", "--runs", str(rounds), "--state-dir", str(state_dir), "--speed", SPEED]) == 0
        (state_dir / "printed.txt").write_text(printed.getvalue())  # the second invocation's summary
    return state_dir


@pytest.fixture(scope="module")
def store(demo_dir: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{demo_dir / 'trimtab.db'}", upgrade=False)
    try:
        yield opened
    finally:
        opened.close()


def _history(store: Store) -> dict[str, tuple[Project, list[Run]]]:
    return {p.job_name: (p, store.runs.history(int(p.id or 0))) for p in store.projects.list()}


def test_every_run_of_both_invocations_was_collected_once(store: Store) -> None:
    history = _history(store)
    assert sorted(history) == sorted(j.name for j in DEMO_JOBS)  # the second invocation made no new projects
    for _project, runs in history.values():
        assert len(runs) == FIRST_ROUNDS + SECOND_ROUNDS
        assert len({r.databricks_run_id for r in runs}) == len(runs)
        assert all(r.cost is not None and r.cost.total > 0 for r in runs)


def test_every_simulated_run_was_ingested_completely(store: Store, demo_dir: Path) -> None:
    written = written_by_cluster(demo_dir / "workspace")
    runs = [r for _, rs in _history(store).values() for r in rs]
    assert len(written) == len(runs)  # one simulated cluster per run
    for run in runs:
        expected = written[run.cluster_id]
        assert expected.stages > 0 and len(run.application_ids) == 1, run
        (app_id,) = run.application_ids
        assert len(store.applications.stages(app_id)) == expected.stages, run.cluster_id
        assert len(store.applications.executors(app_id)) == expected.executors, run.cluster_id
    assert (demo_dir / GROUND_TRUTH_FILE).is_file()


def test_the_jobs_in_the_workspace_hold_the_applied_configuration(store: Store, demo_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    emulator = start_workspace(demo_dir / "workspace")
    try:
        from server.clock import SystemClock

        gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token), clock=SystemClock())
        for project, runs in _history(store).values():
            applied = store.recommendations.latest(int(project.id or 0), state="applied")
            assert applied is not None, project.name
            live = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
            assert live is not None
            assert live["custom_tags"][RECOMMENDATION_TAG] == str(applied.id)
            assert live["node_type_id"] == applied.config.node_type_id
            if applied.config.autoscale_max:
                assert live["autoscale"] == {"min_workers": applied.config.autoscale_min,
                                             "max_workers": applied.config.autoscale_max}
            else:
                assert live["num_workers"] == applied.config.num_workers
            assert live.get("driver_node_type_id", live["node_type_id"]) == \
                (applied.config.driver_node_type_id or applied.config.node_type_id)
            assert live == project.current_spec
            assert any(r.recommendation_id is not None for r in runs)  # the next runs used what was applied
    finally:
        emulator.stop()


def test_cost_fell_and_the_sla_job_met_its_sla_while_optimizing(store: Store) -> None:
    history = _history(store)
    start = sum(runs[0].cost.total for _, runs in history.values() if runs[0].cost)
    latest = sum(runs[-1].cost.total for _, runs in history.values() if runs[-1].cost)
    assert latest < start
    sla_jobs = [(p, runs) for p, runs in history.values() if p.settings.sla_seconds is not None]
    assert len(sla_jobs) == 1
    project, runs = sla_jobs[0]
    optimizing = [r for r in runs if r.phase == "optimizing"]
    assert optimizing, [r.phase for r in runs]
    assert all(r.outcome == "succeeded" and r.runtime_s <= (project.settings.sla_seconds or 0) for r in optimizing)


def test_drivers_shrank_to_what_they_used_and_none_died(store: Store) -> None:
    """The demo jobs' drivers start on their worker type; their heap peaks say a smaller one will do."""
    catalog = load_catalog()
    shrunk = 0
    for _project, runs in _history(store).values():
        assert not any("driver_lost" in r.anomalies for r in runs)
        memory = [catalog.node_type("aws", driver_of(r.config)).memory_gb for r in runs if r.config]
        assert memory[-1] <= memory[0]
        shrunk += memory[-1] < memory[0]
    assert shrunk >= 2


def test_timeline_files_hold_every_run(store: Store, demo_dir: Path) -> None:
    for project, runs in _history(store).values():
        html = (demo_dir / "timelines" / f"{project.job_name}.html").read_text()
        svg = ET.fromstring(html[html.index("<svg"):html.index("</svg>") + 6])
        assert svg.get("data-points") == str(len(runs))
        ids = {c.get("data-run-id") for c in svg.iter() if "runtime" in (c.get("class") or "").split()
               and c.tag.endswith("circle")}
        assert ids == {str(r.id) for r in runs}
        png = (demo_dir / "timelines" / f"{project.job_name}.png").read_bytes()
        assert png[:4] == b"\x89PNG" and len(png) > 10_000


def test_projects_keep_the_demo_schedules_and_savings_count_a_year_from_them(store: Store) -> None:
    from server.domain import JobSchedule
    from server.services.savings import project_savings

    crons = {job.name: job.cron for job in DEMO_JOBS}
    scheduled = 0
    for name, (project, runs) in _history(store).items():
        assert project.schedule == JobSchedule(crons[name], "UTC", paused=False)
        savings = project_savings(project, runs)
        if savings is None:
            continue
        scheduled += 1
        # Not the demo's accelerated gaps (tens of thousands a year): nightly, or every six hours.
        assert savings.cadence_basis == "schedule"
        assert savings.runs_per_year == (4 * 365 if "*/6" in crons[name] else 365)
    assert scheduled >= 1


def test_the_summary_shows_projected_savings_a_year_and_their_cadence(demo_dir: Path) -> None:
    printed = (demo_dir / "printed.txt").read_text()
    assert "PROJECTED/YEAR" in printed
    assert "runs, schedule)" in printed


def test_the_summary_shows_each_jobs_cluster_as_imported_and_now(demo_dir: Path, store: Store) -> None:
    printed = (demo_dir / "printed.txt").read_text()
    lines = printed[printed.index("Clusters, imported -> now:"):].splitlines()
    for project in store.projects.list():
        line = next(x for x in lines if x.strip().startswith(f"{project.job_name}: "))
        before, now = line.split(": ", 1)[1].split(" -> ")
        assert before.startswith(str(project.original_spec["node_type_id"]))
        assert now.startswith(str(project.current_spec["node_type_id"]))
        assert now.endswith(f"(driver {driver_of(config_from_spec(project.current_spec))})")


def test_a_demo_project_detached_between_two_demos_is_taken_back(tmp_path: Path) -> None:
    """Review: import leaves detached projects alone, and the demo, which re-imports its own jobs
    each time, then failed with a KeyError on the one a user had detached."""
    import dataclasses

    from server.demo import DemoConfig, run_demo

    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", upgrade=False)) as opened:
        project = opened.projects.list()[0]
        opened.projects.update(dataclasses.replace(project, detached=True))  # as `trimtab project detach` leaves it
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", upgrade=False)) as opened:
        again = opened.projects.get(int(project.id or 0))
        assert not again.detached and len(opened.projects.list()) == len(DEMO_JOBS)


def test_a_demo_workspace_re_pointed_elsewhere_is_taken_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fresh-clone review (ninth session): after `workspace set --host` (as operations.md shows),
    the next demo failed with 'start over with a new --state-dir', throwing the demo's state away."""
    from server.demo import WORKSPACE_NAME, DemoConfig, run_demo

    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", upgrade=False)) as opened:
        home = opened.workspaces.get(WORKSPACE_NAME).host
        opened.workspaces.set_host(WORKSPACE_NAME, "http://127.0.0.1:9", "x", "****")
    capsys.readouterr()
    run_demo(DemoConfig(state_dir=tmp_path, runs=0))
    assert f"the demo's workspace was at http://127.0.0.1:9: back at its emulator, {home}" in capsys.readouterr().out
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", upgrade=False)) as opened:
        assert opened.workspaces.get(WORKSPACE_NAME).host == home
