"""A workspace name typed in another case (review clifix 5, then review grpcapi).

Workspace names are unique whatever their case; `workspace show SB` and `project show SB/1/main` were
NOT_FOUND while workspace ``sb`` was there, first with no hint, then with the CLI's "did you mean sb?".
The server now finds the workspace in any case wherever one is named, so these commands answer for
``sb``, and the hint is gone: it fired on any NOT_FOUND naming a project (`recommendation show SB/1/main`
with no recommendation yet said "names are matched exactly"). Real server, real CLI.
"""

from __future__ import annotations

import pytest

from server.domain import Project, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab


@pytest.fixture
def sb(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="sb", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="sb", job_id=1, cluster_key="main", job_name="nightly",
                                          current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))


@pytest.mark.parametrize("args", [["workspace", "show", "SB"], ["workspace", "set", "Sb", "--auto-import", "off"],
                                  ["project", "list", "--workspace", "SB"], ["agent", "list", "--workspace", "SB"]])
def test_a_workspace_in_another_case_is_found(trimtab: Trimtab, sb: Project, args: list[str]) -> None:
    code, out, err = trimtab(*args)
    assert code == 0 and "not found" not in err and "did you mean" not in err, err
    if args[:2] in (["workspace", "show"], ["workspace", "set"]):
        assert out.splitlines()[0].split() == ["name:", "sb"], out
    if args[:2] == ["project", "list"]:
        assert "sb/1/main" in out, out


@pytest.mark.parametrize("args", [["project", "show", "SB/1/main"], ["run", "list", "SB/1/main"],
                                  ["recommendation", "show", "SB/1/main"], ["savings", "SB/1/main"]])
def test_a_project_of_a_workspace_in_another_case_is_found(trimtab: Trimtab, sb: Project, args: list[str]) -> None:
    code, out, err = trimtab(*args)
    assert "project 'SB/1/main' not found" not in err and "did you mean" not in err, err
    # Answered as for the project's own name.
    assert (code, out, err) == trimtab(*["sb/1/main" if a == "SB/1/main" else a for a in args])


@pytest.mark.parametrize("args", [["workspace", "show", "nope"], ["project", "show", "nope/1/main"],
                                  ["project", "show", "sb/2/main"], ["project", "show", "99"]])
def test_no_hint_where_no_workspace_matches_but_for_case(trimtab: Trimtab, sb: Project, args: list[str]) -> None:
    code, _, err = trimtab(*args)
    assert code == 1 and err.rstrip().endswith("(NOT_FOUND)") and "did you mean" not in err, err
