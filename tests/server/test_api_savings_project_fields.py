"""Fields the CLI needs from the admin API, over real gRPC: the baseline runs behind a saving, and the
default worker maximum as the planner computes it (from the cluster as imported)."""

from __future__ import annotations

import dataclasses

from protos.trimtab.v1 import admin_pb2
from server.domain import Project, ProjectSettings
from server.services.savings import FIRM_RUNS, stored_project_savings
from tests.server.conftest import Harness
from tests.timeline.seed import seed

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def test_savings_carry_the_baseline_runs(harness: Harness) -> None:
    project, _ = seed(harness.store)
    expected = stored_project_savings(harness.store, project)
    assert expected is not None and expected.baseline_runs == 2  # the seed's two runs as found
    reply = harness.projects.GetSavings(admin_pb2.GetSavingsRequest(project=str(project.id)), metadata=harness.admin)
    (p,) = reply.projects
    assert (p.baseline_runs, p.current_runs) == (2, 2)
    assert min(p.baseline_runs, p.current_runs) < FIRM_RUNS  # preliminary, as the service says
    assert expected.preliminary


def test_an_unset_maximum_is_sent_from_the_cluster_as_imported(harness: Harness) -> None:
    p = harness.store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main",
                                           original_spec=SPEC, current_spec=SPEC))
    md = harness.admin
    shown = harness.projects.GetProject(admin_pb2.GetProjectRequest(project=str(p.id)), metadata=md)
    assert shown.HasField("default_max_workers") and shown.default_max_workers == 8  # max(2 x 4, 8)
    # A recommendation moved the job to 20 workers: the planner still starts from the 4 imported.
    harness.store.projects.update(dataclasses.replace(p, current_spec={**SPEC, "num_workers": 20}))
    shown = harness.projects.GetProject(admin_pb2.GetProjectRequest(project=str(p.id)), metadata=md)
    assert shown.default_max_workers == 8 and shown.current_config.num_workers == 20
    # A minimum above the cluster moves the start up to it (the planner's rule, not copied here).
    harness.store.projects.update_settings(int(p.id or 0), ProjectSettings(min_workers=50))
    [listed] = harness.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=md).projects
    assert listed.default_max_workers == 100
    # A maximum that is set is the bound: no default is sent.
    harness.store.projects.update_settings(int(p.id or 0), ProjectSettings(max_workers=6))
    shown = harness.projects.GetProject(admin_pb2.GetProjectRequest(project=str(p.id)), metadata=md)
    assert not shown.HasField("default_max_workers") and shown.settings.max_workers == 6


def test_no_default_without_a_cluster(harness: Harness) -> None:
    p = harness.store.projects.add(Project(workspace="prod", job_id=43, cluster_key="main"))
    shown = harness.projects.GetProject(admin_pb2.GetProjectRequest(project=str(p.id)), metadata=harness.admin)
    assert not shown.HasField("default_max_workers")
