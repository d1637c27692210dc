"""Small slips in what the CLI prints, through the real CLI against a real server (newcomer review):
"x 1 workers", a timeline "(1 runs)", `run show`'s "0.16 USD" beside "$0.16" everywhere else, a saving
that is not the difference of the costs shown, `app show` refusing the Spark application id."""

from __future__ import annotations

from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run
from server.store import Store
from tests.cli.conftest import Trimtab

T0 = 1_796_000_000_000
ONE = ClusterConfig(node_type_id="c5d.2xlarge", num_workers=1)
ONE_SPEC = {"node_type_id": "c5d.2xlarge", "num_workers": 1, "spark_version": "15.4.x-scala2.12"}


def _project(store: Store) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="tiny",
                                      current_spec=ONE_SPEC, original_spec=ONE_SPEC))


def _run(store: Store, project: Project, cost: float = 0.16) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, start_ms=T0,
                              end_ms=T0 + 600_000, runtime_s=600.0, config=ONE,
                              cost=CostBreakdown(total=cost, dbu_cost=0.04, compute_cost=0.1, storage_cost=0.02,
                                                 currency="USD")))


def test_one_worker_and_one_run_are_singular(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store)
    run = _run(cli_store, project)
    cli_store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), config=ONE, created_at_ms=T0, predicted_runtime_s=600.0,
        runtime_interval_s=(500.0, 700.0), predicted_cost=0.16, cost_interval=(0.14, 0.18), phase="optimizing"))
    shown = {}
    for args in (("recommendation", "show", str(project.id)), ("project", "show", str(project.id)),
                 ("run", "show", str(run.id)), ("timeline", str(project.id))):
        code, out, err = trimtab(*args)
        assert code == 0, err
        assert "1 workers" not in out and "1 runs" not in out, out
        shown[args[0]] = out
    assert "  cluster:  c5d.2xlarge x 1 worker" in shown["recommendation"]
    assert "c5d.2xlarge, 1 worker" in shown["project"]
    assert ", 1 worker, " in shown["run"]
    assert "(1 run)" in shown["timeline"]


def test_run_show_writes_money_as_every_other_command_does(trimtab: Trimtab, cli_store: Store) -> None:
    run = _run(cli_store, _project(cli_store))
    code, out, err = trimtab("run", "show", str(run.id))
    assert code == 0, err
    assert "cost $0.16 (" in out and "USD" not in out, out  # it said "cost 0.16 USD"
    code, out, _ = trimtab("run", "list", "prod/42/main")
    assert code == 0 and "$0.16" in out  # the same run, as the list writes it


def _pending(store: Store, project: Project, predicted: float) -> None:
    store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), config=ClusterConfig(node_type_id="r5.2xlarge", num_workers=2),
        created_at_ms=T0, predicted_runtime_s=500.0, runtime_interval_s=(450.0, 550.0), predicted_cost=predicted,
        cost_interval=(predicted * 0.8, predicted * 1.2), phase="optimizing"))


def _pending_line(trimtab: Trimtab, project: Project) -> str:
    code, out, err = trimtab("project", "show", str(project.id))
    assert code == 0, err
    (line,) = [x for x in out.splitlines() if x.startswith("pending")]
    return line


def test_the_difference_in_cost_is_the_one_of_the_figures_shown(trimtab: Trimtab, cli_store: Store) -> None:
    project = _project(cli_store)
    _run(cli_store, project, cost=0.1651)
    _pending(cli_store, project, 0.1849)  # 0.0198 dearer: "$0.02 a run more: $0.18 against $0.17"
    assert "predicted to cost $0.01 a run more: $0.18 against $0.17 " in _pending_line(trimtab, project)


def test_costs_that_round_alike_are_shown_with_the_digits_that_tell_them_apart(trimtab: Trimtab,
                                                                               cli_store: Store) -> None:
    project = _project(cli_store)
    _run(cli_store, project, cost=0.1749)
    _pending(cli_store, project, 0.1702)  # "$0.00 ... $0.17 against $0.17" read as no saving at all
    assert "predicted saving $0.005 a run (3%): $0.170 against $0.175 " in _pending_line(trimtab, project)


def test_app_show_takes_the_spark_application_id_too(trimtab: Trimtab, cli_store: Store) -> None:
    from server.domain import AgentInfo, Application, IngestBatch, IngestEvent

    start = Application(application_id="5550001", spark_app_id="app-20261207101500-0000", cluster_id="c-1",
                        app_name="nightly", start_time_ms=T0)
    cli_store.ingest.write([IngestBatch(batch_id="b-1", agent=AgentInfo(agent_id="a1", cluster_id="c-1"),
                                        events=(IngestEvent("5550001", "start", "application_start", start),))])
    for given in ("5550001", "app-20261207101500-0000"):
        code, out, err = trimtab("app", "show", given)
        assert code == 0, err  # the Spark id was NOT_FOUND
        assert "application   5550001" in out.splitlines(), out
