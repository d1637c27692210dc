"""Numbers past the server's caps (review 9): `project set 2 --max-workers 3000000000`, `run list 1
--limit 3000000000` and `app list --limit 3000000000` printed ``error: Value out of range: 3000000000``
(protobuf's int32 check on the client) naming no option. The CLI now refuses any value past the
server's cap as a usage error naming the option, and --help states the caps."""

from __future__ import annotations

import pytest

from server.cli import project as project_cli
from server.cli import run as run_cli
from server.domain import Project, Workspace
from server.serve import RunningServer
from server.services import projects, runs
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.fixture
def project(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def test_the_cli_caps_are_the_servers() -> None:
    assert project_cli.MAX_WORKERS == projects.MAX_WORKERS
    assert project_cli.MAX_LEARNING_BUDGET == projects.MAX_LEARNING_BUDGET
    assert run_cli.MAX_PAGE == runs.MAX_PAGE


@pytest.mark.parametrize(("option", "value", "cap"), [
    ("--max-workers", "3000000000", projects.MAX_WORKERS),
    ("--max-workers", str(projects.MAX_WORKERS + 1), projects.MAX_WORKERS),
    ("--min-workers", "3000000000", projects.MAX_WORKERS),
    ("--learning-budget", "3000000000", projects.MAX_LEARNING_BUDGET),
    ("--learning-budget", str(projects.MAX_LEARNING_BUDGET + 1), projects.MAX_LEARNING_BUDGET),
])
def test_project_set_names_the_option_past_its_cap(trimtab: Trimtab, project: Project, option: str,
                                                   value: str, cap: int) -> None:
    code, out, err = trimtab("project", "set", str(project.id), option, value)
    assert code == 2 and out == ""
    assert f"'{option}'" in err and value in err and str(cap) in err, err
    assert "Value out of range" not in err


def test_project_set_takes_the_cap_itself(trimtab: Trimtab, project: Project) -> None:
    code, _, err = trimtab("project", "set", str(project.id), "--max-workers", str(projects.MAX_WORKERS),
                           "--learning-budget", str(projects.MAX_LEARNING_BUDGET))
    assert code == 0, err


@pytest.mark.parametrize("args", [("run", "list", "1"), ("app", "list")])
def test_list_limits_name_the_option_past_the_servers_page(trimtab: Trimtab, project: Project,
                                                           args: tuple[str, ...]) -> None:
    for value in ("3000000000", str(runs.MAX_PAGE + 1)):
        code, out, err = trimtab(*args, "--limit", value)
        assert code == 2 and out == "" and "'--limit'" in err and str(runs.MAX_PAGE) in err, err
        assert "Value out of range" not in err
    code, _, err = trimtab(*args, "--limit", str(runs.MAX_PAGE))
    assert code == 0, err


@pytest.mark.parametrize(("args", "words"), [
    (("project", "set"), (f"1 to {projects.MAX_WORKERS}", f"0 to {projects.MAX_LEARNING_BUDGET}")),
    (("run", "list"), (f"1 to {runs.MAX_PAGE}",)),
    (("app", "list"), (f"1 to {runs.MAX_PAGE}",)),
])
def test_help_states_the_caps(trimtab: Trimtab, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    code, out, _ = trimtab(*args, "--help")
    text = " ".join(out.split())
    assert code == 0 and all(w in text for w in words), text
