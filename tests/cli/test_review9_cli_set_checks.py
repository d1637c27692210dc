"""`project set` checks (review 9): keep_autoscaling on with min_workers == max_workers was accepted,
and planning then refused it at the next run (an autoscale range needs max > min): refused at `project
set` now, naming the option given. And `project set` on a detached project succeeded without a word:
still accepted, with a note that nothing is planned until the project is imported again. Real server,
real CLI."""

from __future__ import annotations

import dataclasses

import pytest

from server.domain import Project, ProjectSettings, Workspace
from server.errors import InvalidArgument
from server.serve import RunningServer
from server.services.projects import apply_changes
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 2, "max_workers": 8},
        "spark_version": "15.4.x-scala2.12", "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


@pytest.fixture
def project(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def test_keep_autoscaling_with_equal_bounds_is_refused(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--keep-autoscaling", "on",
                             "--min-workers", "4", "--max-workers", "4")
    assert code == 2 and out == ""
    assert "settings.keep_autoscaling (--keep-autoscaling on)" in err
    assert "min_workers 4 and max_workers 4 leave no autoscale range" in err and "INVALID_ARGUMENT" in err
    assert cli_store.projects.get(int(project.id or 0)).settings == ProjectSettings()  # nothing saved


def test_the_bound_that_closes_the_range_is_the_one_named(trimtab: Trimtab, project: Project) -> None:
    code, _, err = trimtab("project", "set", str(project.id), "--keep-autoscaling", "on", "--min-workers", "4",
                           "--max-workers", "6")
    assert code == 0, err
    code, _, err = trimtab("project", "set", str(project.id), "--max-workers", "4")
    assert code == 2 and "settings.max_workers (--max-workers): keep_autoscaling is on" in err
    code, _, err = trimtab("project", "set", str(project.id), "--min-workers", "6")
    assert code == 2 and "settings.min_workers (--min-workers)" in err and "fixed cluster of 6 workers" in err
    # With autoscaling off the same bounds are a fixed cluster: accepted.
    code, _, err = trimtab("project", "set", str(project.id), "--keep-autoscaling", "off", "--max-workers", "4")
    assert code == 0, err


def test_a_maximum_of_one_with_no_minimum_has_no_range_either() -> None:
    with pytest.raises(InvalidArgument, match="min_workers 1 and max_workers 1"):
        apply_changes(ProjectSettings(keep_autoscaling=True), {"max_workers": 1})
    # An unset maximum is the planner's default, above the minimum: nothing to refuse.
    assert apply_changes(ProjectSettings(max_workers=3), {"keep_autoscaling": True, "max_workers": None}).keep_autoscaling


def test_set_on_a_detached_project_says_nothing_is_planned(trimtab: Trimtab, project: Project,
                                                           cli_store: Store) -> None:
    cli_store.projects.update(dataclasses.replace(cli_store.projects.get(int(project.id or 0)), detached=True))
    code, out, err = trimtab("project", "set", str(project.id), "--sla", "30m")
    assert code == 0 and "detached" in out  # the phase line
    assert f"note: {project.name} is detached: its settings are saved, but nothing is planned or applied until " \
           "it is imported again (`trimtab workspace import prod --job 42`)" in err
    assert cli_store.projects.get(int(project.id or 0)).settings.sla_seconds == 1800.0
    # A managed project gets no such note.
    cli_store.projects.update(dataclasses.replace(cli_store.projects.get(int(project.id or 0)), detached=False))
    code, _, err = trimtab("project", "set", str(project.id), "--sla", "20m")
    assert code == 0 and "is detached" not in err
