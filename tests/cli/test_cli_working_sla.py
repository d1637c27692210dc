"""`trimtab project set --working-sla/--no-working-sla` over real gRPC: on by default, stored, shown
beside the SLA, left alone when omitted, and a note when there is no SLA for it to act on."""

from __future__ import annotations

import json

import pytest

from server.domain import Project
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.fixture
def project(cli_store: Store) -> Project:
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def _out_of_reach(out: str) -> list[str]:
    return [line.split("  ", 1)[1].strip() for line in out.splitlines() if line.startswith("SLA out of reach")]


def test_working_sla_is_on_by_default_and_turned_off_and_on(trimtab: Trimtab, project: Project,
                                                            cli_store: Store) -> None:
    assert project.id is not None
    code, out, err = trimtab("project", "set", str(project.id), "--sla", "45m")
    assert code == 0, err
    assert _out_of_reach(out) == ["aim at a working SLA"]
    assert cli_store.projects.get(project.id).settings.working_sla is True

    code, out, err = trimtab("--json", "project", "set", str(project.id), "--no-working-sla")
    assert code == 0, err
    assert json.loads(out)["settings"]["working_sla"] is False
    stored = cli_store.projects.get(project.id).settings
    assert stored.working_sla is False and stored.sla_seconds == 2700.0
    code, out, _ = trimtab("project", "show", str(project.id))
    assert code == 0 and _out_of_reach(out) == ["run the fastest"]

    # Another setting alone leaves it as it was.
    code, out, err = trimtab("project", "set", str(project.id), "--learning-budget", "5")
    assert code == 0, err
    assert _out_of_reach(out) == ["run the fastest"]
    assert cli_store.projects.get(project.id).settings.working_sla is False

    code, out, err = trimtab("project", "set", str(project.id), "--working-sla")
    assert code == 0, err
    assert _out_of_reach(out) == ["aim at a working SLA"] and "note:" not in err
    assert cli_store.projects.get(project.id).settings.working_sla is True


def test_without_an_sla_it_is_stored_hidden_and_noted(trimtab: Trimtab, project: Project,
                                                      cli_store: Store) -> None:
    assert project.id is not None
    code, out, err = trimtab("project", "set", str(project.id), "--no-working-sla")
    assert code == 0, err
    assert _out_of_reach(out) == []
    assert "note: --[no-]working-sla has no effect until the project has an SLA (--sla)" in err
    assert cli_store.projects.get(project.id).settings.working_sla is False


def test_help_says_what_each_side_does(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    assert code == 0 and "--working-sla / --no-working-sla" in out and "fastest measured" in out
