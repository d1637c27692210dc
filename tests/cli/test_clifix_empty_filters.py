"""A filter or pin given empty is a usage error, not "left out" (review clifix 1).

``recommendation reject P --id "$REC_ID"`` with the variable unset rejected whatever was pending
(exit 0): the pin exists so a script acts only on the recommendation it reviewed. Filters given
empty (``project list --workspace ""``, ``agent list --cluster ""``, ``prices show --region ''``,
``savings ''``) listed everything. Now each is refused (exit 2) naming the option, before any call.
Real server, real CLI.
"""

from __future__ import annotations

import pytest

from server.domain import ClusterConfig, Project, Recommendation, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab
from tests.inprocess_cli import run_cli

UNSET = "an empty value is most often an unset shell variable"


@pytest.fixture
def pending(cli_store: Store, cli_server: RunningServer) -> tuple[Project, Recommendation]:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    project = cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                             current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))
    rec = cli_store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), reason="planned", predicted_cost=0.5, predicted_runtime_s=600.0,
        config=ClusterConfig(node_type_id="r5.xlarge", num_workers=2, spark_version="15.4.x-scala2.12")))
    return project, rec


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize("command", [["apply"], ["apply", "--dry-run"], ["reject"], ["revert"],
                                     ["revert", "--dry-run"]])
def test_an_empty_pin_is_refused_and_the_pending_recommendation_is_untouched(
        trimtab: Trimtab, cli_store: Store, pending: tuple[Project, Recommendation], command: list[str],
        blank: str) -> None:
    project, rec = pending
    code, out, err = trimtab("recommendation", command[0], str(project.id), *command[1:], "--id", blank)
    assert (code, out) == (2, ""), err
    assert err.startswith("error: Invalid value for '--id': ") and UNSET in err
    assert len(err.splitlines()) == 1
    assert cli_store.recommendations.get(int(rec.id or 0)).state == "pending"


def test_a_pin_left_out_still_acts_on_the_pending_one(trimtab: Trimtab, cli_store: Store,
                                                      pending: tuple[Project, Recommendation]) -> None:
    project, rec = pending
    code, out, err = trimtab("recommendation", "reject", str(project.id))
    assert code == 0, err
    assert out == f"rejected recommendation {rec.id}\n"
    assert cli_store.recommendations.get(int(rec.id or 0)).state == "rejected"


@pytest.mark.parametrize("args", [
    ["project", "list", "--workspace", ""],
    ["project", "list", "--workspace= "],
    ["agent", "list", "--workspace", ""],
    ["agent", "list", "--cluster", ""],
])
def test_an_empty_filter_is_refused_naming_it(trimtab: Trimtab, pending: tuple[Project, Recommendation],
                                              args: list[str]) -> None:
    code, out, err = trimtab(*args)
    option = args[2].split("=")[0]
    assert (code, out) == (2, ""), out
    assert err.startswith(f"error: Invalid value for '{option}': ") and UNSET in err


def test_savings_of_an_empty_project_is_refused(trimtab: Trimtab, pending: tuple[Project, Recommendation]) -> None:
    code, out, err = trimtab("savings", "")
    assert (code, out) == (2, "")
    assert err.startswith("error: Invalid value for '[PROJECT]': ") and UNSET in err
    code, _, err = trimtab("savings")  # left out: every project
    assert code == 0, err


def test_filters_given_still_filter(trimtab: Trimtab, pending: tuple[Project, Recommendation]) -> None:
    code, out, err = trimtab("project", "list", "--workspace", "prod")
    assert code == 0 and "prod/42/main" in out, err


@pytest.mark.parametrize("args", [["prices", "show", "--region", ""], ["prices", "update", "--region", " "],
                                  ["token", "create", "--name", "a", "--scope", "agent", "--workspace", ""],
                                  ["token", "revoke", ""]])
def test_local_commands_refuse_an_empty_filter_too(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = run_cli(capsys, *args)
    assert (code, out) == (2, ""), err
    assert err.startswith("error: Invalid value for ") and UNSET in err
