"""A workspace name typed in another case gets "did you mean" (review clifix 5).

Workspace names are unique whatever their case but looked up exactly: `workspace show SB` and
`project show SB/1/main` answered NOT_FOUND with no hint while workspace ``sb`` was there. Real
server, real CLI.
"""

from __future__ import annotations

import pytest

from server.cli.name_hint import same_but_case
from server.domain import Project, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab

RULE = "workspace names are matched exactly, case included"


@pytest.fixture
def sb(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="sb", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="sb", job_id=1, cluster_key="main", job_name="nightly",
                                          current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))


@pytest.mark.parametrize("args", [["workspace", "show", "SB"], ["workspace", "set", "Sb", "--auto-import", "off"],
                                  ["project", "list", "--workspace", "SB"], ["agent", "list", "--workspace", "SB"]])
def test_a_workspace_in_another_case_gets_did_you_mean(trimtab: Trimtab, sb: Project, args: list[str]) -> None:
    code, out, err = trimtab(*args)
    assert (code, out) == (1, "")
    typed = args[2] if args[1] != "list" else args[3]
    assert err == f"error: workspace {typed!r} not found (NOT_FOUND): did you mean sb? W{RULE[1:]}\n"


@pytest.mark.parametrize("args", [["project", "show", "SB/1/main"], ["run", "list", "SB/1/main"],
                                  ["recommendation", "show", "SB/1/main"], ["savings", "SB/1/main"]])
def test_a_project_of_a_workspace_in_another_case_gets_did_you_mean(trimtab: Trimtab, sb: Project,
                                                                    args: list[str]) -> None:
    code, out, err = trimtab(*args)
    assert (code, out) == (1, "")
    assert err.endswith(f"(NOT_FOUND): did you mean sb/1/main? Its workspace is sb: {RULE}\n"), err
    # And what it suggests is the project.
    code, out, err = trimtab(args[0], args[1], "sb/1/main", *args[3:])
    assert "project 'sb/1/main' not found" not in err and "did you mean" not in err, err


@pytest.mark.parametrize("args", [["workspace", "show", "nope"], ["project", "show", "nope/1/main"],
                                  ["project", "show", "sb/2/main"], ["project", "show", "99"]])
def test_no_hint_where_no_workspace_matches_but_for_case(trimtab: Trimtab, sb: Project, args: list[str]) -> None:
    code, _, err = trimtab(*args)
    assert code == 1 and err.rstrip().endswith("(NOT_FOUND)") and "did you mean" not in err, err


def test_same_but_case() -> None:
    assert same_but_case("SB", ["prod", "sb"]) == "sb"
    assert same_but_case("sb", ["sb", "SB"]) is None  # typed exactly: not this hint's business
    assert same_but_case("Prod", ["sb"]) is None
