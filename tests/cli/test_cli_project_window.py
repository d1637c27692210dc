"""`project show` says what the search window is, as the server worked it out (Project.search_window*,
from its own catalog and the runs that confirmed the current cluster): the CLI computed it from its
bundled catalog and the current cluster alone, which an API client could not show and which could
disagree with the server. Real server on 127.0.0.1:0, real gRPC."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import Project, ProjectSettings, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab

EDGE = "; a pick at its edge says so in its reason"


def _project(store: Store, spec: dict, cloud: str = "aws", settings: ProjectSettings | None = None) -> Project:
    if not any(w.name == cloud for w in store.workspaces.list()):
        store.workspaces.add(Workspace(name=cloud, host=f"http://{cloud}", cloud=cloud), "x")
    job = len(store.projects.list()) + 1
    return store.projects.add(Project(workspace=cloud, job_id=job, cluster_key="main", current_spec=spec,
                                      original_spec=spec, settings=settings or ProjectSettings()))


def _shown(trimtab: Trimtab, project: Project) -> str:
    code, out, err = trimtab("project", "show", str(project.id))
    assert code == 0, err
    (line,) = [x.strip() for x in out.splitlines() if x.strip().startswith("search window")]
    return line.split("  ", 1)[1].strip()


@pytest.mark.parametrize(("spec", "cloud", "settings", "said"), [
    ({"node_type_id": "c6id.xlarge", "num_workers": 5}, "aws", None,
     "5..80 worker cores (4x either way of the imported 20)"),
    # The minimum raises the cluster first, as the planner does; an autoscaling cluster counts its max.
    ({"node_type_id": "c6id.xlarge", "num_workers": 5}, "aws", ProjectSettings(min_workers=10),
     "10..160 worker cores (4x either way of the imported 40)"),
    ({"node_type_id": "c6id.xlarge", "autoscale": {"min_workers": 2, "max_workers": 8}}, "aws", None,
     "8..128 worker cores (4x either way of the imported 32)"),
    ({"node_type_id": "Standard_D4ds_v5", "num_workers": 2}, "azure", None,
     "2..32 worker cores (4x either way of the imported 8)"),
])
def test_show_says_the_servers_window(trimtab: Trimtab, cli_store: Store, spec: dict, cloud: str,
                                      settings: ProjectSettings | None, said: str) -> None:
    project = _project(cli_store, {"spark_version": "15.4.x-scala2.12", **spec}, cloud, settings)
    assert _shown(trimtab, project) == said + EDGE


def test_the_window_is_in_the_reply_for_any_client(cli_server: RunningServer, cli_store: Store) -> None:
    project = _project(cli_store, {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge", "num_workers": 10})
    _, token = cli_store.tokens.create("script", "admin")
    with grpc.insecure_channel(cli_server.address) as channel:
        reply = admin_pb2_grpc.ProjectServiceStub(channel).GetProject(
            admin_pb2.GetProjectRequest(project=str(project.id)), metadata=[("authorization", f"Bearer {token}")])
    assert (reply.search_window_low_cores, reply.search_window_high_cores) == (20.0, 320.0)
    assert reply.search_window == "20..320 worker cores (4x either way of the imported 80)"


def test_no_cluster_to_start_from_says_the_rule_alone(trimtab: Trimtab, cli_store: Store) -> None:
    """A pool-backed cluster no run has shown the node type of: the server cannot tell, and says nothing."""
    project = _project(cli_store, {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "pool-1", "num_workers": 2})
    assert _shown(trimtab, project) == ("4x either way of the worker cores of the cluster as imported and of the "
                                        "current one once a run on it succeeded (within the SLA, if any)" + EDGE)
