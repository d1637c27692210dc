"""A platform engineer's review of `project set/show/list`, `run list` and `recommendation show`, over
real gRPC against a real server (which plans again after a settings change): the default worker
maximum, conflicting bounds, recommendations without a prediction or applied by hand, and the notes
`project set` owes its user."""

from __future__ import annotations

import dataclasses
import json

import pytest

from server.apply import REJECTED_KEY
from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


@pytest.fixture
def project(cli_store: Store, cli_server: RunningServer) -> Project:
    # The workspace is added once the server runs: it prices the project when the server plans it
    # again after a settings change (no host is called: the spec names no policy or pool).
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def _line(out: str, key: str) -> str:
    """The value of ``key``'s line (`project show`'s "key  value", `recommendation show`'s "  key: value")."""
    (found,) = [line.strip() for line in out.splitlines() if line.strip().split("  ", 1)[0] == key]
    return found.split("  ", 1)[1].strip()


def _pending(store: Store, project: Project, workers: int = 4, **fields: object) -> Recommendation:
    return store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), config=ClusterConfig(node_type_id="m5.xlarge", num_workers=workers),
        **fields))


# ------------------------------------------------------------------ 1: the default maximum


def test_a_minimum_above_the_default_maximum_plans_and_shows_the_default(trimtab: Trimtab, project: Project,
                                                                        cli_store: Store) -> None:
    """The review's case: `--sla 15m --min-workers 50` on a 4-worker job. Planning failed ("min_workers
    50, max_workers None ... min <= max"), as the unset maximum stayed max(2 x 4, 8) = 8."""
    _pending(cli_store, project, reason="no usable run yet: measuring m5.xlargex4 first")  # planned before
    code, out, err = trimtab("project", "set", str(project.id), "--sla", "15m", "--min-workers", "50")
    assert code == 0, err
    assert "problem" not in out, out
    assert _line(out, "workers").startswith("50..100 (max by default: 2 x the larger of min_workers")
    rec = cli_store.recommendations.latest(int(project.id or 0))
    assert rec is not None and rec.state == "pending"
    assert rec.config.num_workers >= 50 and rec.config.num_workers <= 100, rec.config


def test_show_says_the_bounds_as_the_planner_reads_them(trimtab: Trimtab, project: Project) -> None:
    code, out, _ = trimtab("project", "show", str(project.id))
    assert code == 0 and _line(out, "workers").startswith("1..8 (max by default")  # max(2 x 4, 8)
    code, out, _ = trimtab("project", "set", str(project.id), "--max-workers", "6")
    assert code == 0 and _line(out, "workers") == "1..6"


def test_set_help_says_what_an_unset_maximum_is(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    text = " ".join(out.split())
    assert code == 0 and "Unset: twice the larger of --min-workers and the cluster's workers when imported" in text


# ------------------------------------------------------------------ 2: the flag the user gave


def test_a_minimum_above_the_saved_maximum_names_the_minimum(trimtab: Trimtab, project: Project,
                                                            cli_store: Store) -> None:
    code, _, err = trimtab("project", "set", str(project.id), "--max-workers", "2")
    assert code == 0, err
    code, _, err = trimtab("project", "set", str(project.id), "--min-workers", "5")
    assert code != 0
    assert "--min-workers" in err and "5 is above max_workers 2, set earlier" in err and "--max-workers too" in err
    assert "settings.max_workers (--max-workers)" not in err
    assert cli_store.projects.get(int(project.id or 0)).settings.min_workers is None
    # Both given: the pair is named.
    code, _, err = trimtab("project", "set", str(project.id), "--min-workers", "5", "--max-workers", "3")
    assert code != 0 and "--max-workers" in err and "(--min-workers) 5" in err


def test_a_maximum_below_the_saved_minimum_names_the_maximum(trimtab: Trimtab, project: Project) -> None:
    assert trimtab("project", "set", str(project.id), "--min-workers", "4")[0] == 0
    code, _, err = trimtab("project", "set", str(project.id), "--max-workers", "3")
    assert code != 0 and "(--max-workers): 3 is below min_workers 4, set earlier" in err
    assert "--min-workers too" in err


# ------------------------------------------------------------------ 3, 4: recommendation show


def test_a_recommendation_without_a_prediction_says_so(trimtab: Trimtab, project: Project,
                                                       cli_store: Store) -> None:
    _pending(cli_store, project, reason="no usable run yet: measuring m5.xlargex4 first")
    code, out, _ = trimtab("recommendation", "show", str(project.id))
    assert code == 0
    assert _line(out, "runtime:").startswith("not predicted yet") and _line(out, "cost:").startswith("not predicted")
    assert "0 s" not in out and "0.00 USD" not in out
    code, out, _ = trimtab("--json", "recommendation", "show", str(project.id))
    shown = json.loads(out)
    assert shown["predicted"] is False
    assert not {"runtime_interval_s", "cost_interval", "predicted_runtime_s", "predicted_cost"} & set(shown)


def test_a_predicted_recommendation_keeps_its_figures(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    _pending(cli_store, project, predicted_runtime_s=610.0, runtime_interval_s=(550.0, 700.0),
             predicted_cost=0.4321, cost_interval=(0.3, 0.61))
    code, out, _ = trimtab("recommendation", "show", str(project.id))
    # As `recommendation list` and the timeline write them (5m38s, $0.18), with the interval's level.
    assert code == 0 and _line(out, "runtime:") == "10m10s, 90% interval [9m10s, 11m40s]"
    assert _line(out, "cost:") == "$0.43/run, 90% interval [$0.30, $0.61]"
    code, out, _ = trimtab("--json", "recommendation", "show", str(project.id))
    shown = json.loads(out)
    assert shown["predicted"] is True and shown["runtime_interval_s"] == {"low": 550.0, "high": 700.0}


def test_an_applied_monitoring_recommendation_no_longer_says_it_is_only_one(trimtab: Trimtab, project: Project,
                                                                           cli_store: Store) -> None:
    import importlib
    import inspect

    from server.cli.recommendation import MONITORING_PREFIX

    # The words matched are models.decide's own (the module's: `models.decide` is the function).
    assert MONITORING_PREFIX in inspect.getsource(importlib.import_module("models.decide"))
    reason = MONITORING_PREFIX + "m5.xlargex4 is the cheapest that meets the SLA"
    rec = _pending(cli_store, project, reason=reason, phase="monitoring")
    code, out, _ = trimtab("recommendation", "show", str(project.id))
    assert code == 0 and _line(out, "why:") == reason  # true while pending
    cli_store.recommendations.set_state(int(rec.id or 0), "applied")
    code, out, _ = trimtab("recommendation", "show", str(project.id))
    assert code == 0 and ": applied (monitoring)" in out
    assert _line(out, "why:") == ("made while auto-apply was off, since applied: m5.xlargex4 is the cheapest "
                                  "that meets the SLA")
    assert "recommendation only" not in out


# ------------------------------------------------------------------ 5, 6: notes from `project set`


def test_turning_auto_apply_on_says_the_pending_recommendation_waits(trimtab: Trimtab, project: Project,
                                                                     cli_store: Store) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--auto-apply", "on")
    assert code == 0 and "recommendation apply" not in err  # nothing planned yet: nothing waits
    # Another cluster than the job's 4 workers (one of them is `test_a_pending_recommendation_of_the_
    # running_cluster_is_nothing_to_apply`'s).
    _pending(cli_store, project, workers=6, reason="no usable run yet: measuring m5.xlargex6 first")
    code, out, err = trimtab("project", "set", str(project.id), "--auto-apply", "on")
    assert code == 0, err
    rec = cli_store.recommendations.latest(int(project.id or 0))
    assert rec is not None and rec.state == "pending"
    assert (f"the next run still uses the current cluster; `trimtab recommendation apply {project.id}` applies "
            f"recommendation {rec.id} now") in err
    code, out, err = trimtab("--json", "project", "set", str(project.id), "--auto-apply", "on")
    assert code == 0 and json.loads(out)["settings"]["auto_apply"] is True and "recommendation apply" in err
    # Any change says so while a recommendation waits (auto-apply off: until it is applied by hand).
    code, _, err = trimtab("project", "set", str(project.id), "--auto-apply", "off")
    assert code == 0 and f"`trimtab recommendation apply {project.id}` applies recommendation " in err


def test_a_pending_recommendation_of_the_running_cluster_is_nothing_to_apply(
        trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    """Review (coherence): after `project set 3 --max-workers 30`, "`trimtab recommendation apply 3` applies
    recommendation 70 now" though recommendation 70 was the live cluster (an apply wrote only its tag).
    Here every other 4-worker m5 cluster was turned down, so the plan made after the change keeps the
    job's own (SPEC: 4 x m5.xlarge on demand)."""
    cli_store.projects.update(dataclasses.replace(project, state={REJECTED_KEY: [
        f"m5.{size}x4" for size in ("large", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")]}))
    _pending(cli_store, project, reason="planned before")
    bounds = ("--min-workers", "4", "--max-workers", "4", "--spot", "off", "--allowed-families", "m5")
    for switch in ("on", "off"):
        code, _, err = trimtab("project", "set", str(project.id), *bounds, "--auto-apply", switch)
        assert code == 0, err
        rec = cli_store.recommendations.latest(int(project.id or 0))
        assert rec is not None and rec.state == "pending" and rec.config.node_type_id == "m5.xlarge"
        assert (f"note: the cluster is unchanged: recommendation {rec.id} keeps the configuration the job runs on "
                "(nothing to apply)") in err, err
        assert "recommendation apply" not in err
    # The driver is part of the cluster: a plan that changes only it is one to apply.
    code, _, err = trimtab("project", "set", str(project.id), "--driver-type", "m5.2xlarge")
    rec = cli_store.recommendations.latest(int(project.id or 0))
    assert rec is not None and rec.config.driver_node_type_id == "m5.2xlarge" and rec.config.num_workers == 4
    assert code == 0 and f"applies recommendation {rec.id} now" in err and "unchanged" not in err, err


def test_sla_every_run_without_an_sla_warns(trimtab: Trimtab, project: Project) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--sla-every-run")
    assert code == 0 and "--sla-every-run has no effect until the project has an SLA (--sla)" in err
    code, _, err = trimtab("project", "set", str(project.id), "--sla", "1h", "--sla-every-run")
    assert code == 0 and "no effect" not in err
    # Accepted, as the recommendation explains an SLA no cluster setup meets.
    code, _, err = trimtab("project", "set", str(project.id), "--sla", "1s")
    assert code == 0, err


# ------------------------------------------------------------------ 7: costs with their sign


def test_costs_in_lists_carry_the_currency_sign_as_savings_does(trimtab: Trimtab, project: Project,
                                                                cli_store: Store) -> None:
    cli_store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, start_ms=1_700_000_000_000,
                           runtime_s=600.0, cost=CostBreakdown(total=1234.5, source="estimate"),
                           config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)))
    code, out, _ = trimtab("project", "list")
    assert code == 0 and "$1,234.50" in out
    code, out, _ = trimtab("project", "show", str(project.id))
    assert code == 0 and _line(out, "latest cost") == "$1,234.50"
    code, out, _ = trimtab("run", "list", str(project.id))
    assert code == 0 and "$1,234.50" in out


def test_driver_type_auto_clears_the_driver(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    """`--driver-type auto` sends clear_driver_node_type_id: the server refuses an empty driver now."""
    code, out, err = trimtab("project", "set", str(project.id), "--driver-type", "m5.2xlarge")
    assert code == 0 and _line(out, "driver") == "m5.2xlarge", err
    code, out, err = trimtab("project", "set", str(project.id), "--driver-type", "auto")
    assert code == 0 and _line(out, "driver") == "chosen by Trimtab", err
    assert cli_store.projects.get(int(project.id or 0)).settings.driver_node_type_id is None
