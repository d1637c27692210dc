"""Clearing a worker bound (review 9): once --max-workers or --min-workers was set, neither the CLI
nor the API could unset it, so the help's "Unset: twice the larger of ..." default could not be had
back. `project set --max-workers none` / `--min-workers none` (proto `clear_max_workers` /
`clear_min_workers`, as `--sla none` / `clear_sla`) clear them. Real server, real CLI."""

from __future__ import annotations

import json

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import Project, ProjectSettings, Workspace
from server.serve import RunningServer
from server.services.projects import apply_changes
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


@pytest.fixture
def project(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def _workers(out: str) -> str:
    (line,) = [x for x in out.splitlines() if x.startswith("workers ")]
    return line.split("  ", 1)[1].strip()


def test_max_workers_none_brings_the_default_maximum_back(trimtab: Trimtab, project: Project,
                                                         cli_store: Store) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--max-workers", "6")
    assert code == 0 and _workers(out) == "1..6", err
    code, out, err = trimtab("project", "set", str(project.id), "--max-workers", "none")
    assert code == 0, err
    assert _workers(out).startswith("1..8 (max by default: 2 x the larger of min_workers"), out
    assert cli_store.projects.get(int(project.id or 0)).settings.max_workers is None
    code, out, _ = trimtab("--json", "project", "show", str(project.id))
    assert code == 0 and "max_workers" not in json.loads(out)["settings"]


def test_min_workers_none_brings_the_floor_of_one_back(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--min-workers", "3", "--max-workers", "6")
    assert code == 0 and _workers(out) == "3..6", err
    code, out, err = trimtab("project", "set", str(project.id), "--min-workers", "None")
    assert code == 0 and _workers(out) == "1..6", err
    assert cli_store.projects.get(int(project.id or 0)).settings.min_workers is None
    # Both at once: the defaults the help describes.
    trimtab("project", "set", str(project.id), "--min-workers", "2")
    code, out, err = trimtab("project", "set", str(project.id), "--min-workers", "none", "--max-workers", "none")
    assert code == 0 and _workers(out).startswith("1..8 (max by default"), err


@pytest.mark.parametrize("value", ["", " ", "0", "-1", "ten", "1.5", "10001", "３"])
def test_anything_else_is_refused_naming_the_option(trimtab: Trimtab, project: Project, value: str) -> None:
    for option in ("--min-workers", "--max-workers"):
        code, out, err = trimtab("project", "set", str(project.id), option, value)
        assert code == 2 and out == "" and f"'{option}'" in err and "'none' to clear it" in err, err


def test_help_says_how_to_clear(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    text = " ".join(out.split())
    assert code == 0 and "--min-workers N|none" in text and "--max-workers N|none" in text
    assert text.count("'none' to clear") >= 3  # --sla, --min-workers, --max-workers


def test_the_api_refuses_a_bound_with_its_clear_flag(cli_server: RunningServer, cli_store: Store,
                                                     project: Project) -> None:
    _, token = cli_store.tokens.create("t", "admin")
    with grpc.insecure_channel(cli_server.address) as channel:
        stub = admin_pb2_grpc.ProjectServiceStub(channel)
        for settings, words in ((admin_pb2.ProjectSettings(max_workers=5, clear_max_workers=True),
                                 "settings.max_workers and settings.clear_max_workers"),
                                (admin_pb2.ProjectSettings(min_workers=2, clear_min_workers=True),
                                 "settings.min_workers and settings.clear_min_workers")):
            with pytest.raises(grpc.RpcError) as caught:
                stub.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(project=str(project.id),
                                                                                  settings=settings),
                                           metadata=[("authorization", f"Bearer {token}")], timeout=30)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert words in (caught.value.details() or "")


def test_apply_changes_clears_a_bound() -> None:
    saved = ProjectSettings(min_workers=3, max_workers=6)
    assert apply_changes(saved, {"max_workers": None}) == ProjectSettings(min_workers=3)
    assert apply_changes(saved, {"min_workers": None}) == ProjectSettings(max_workers=6)
