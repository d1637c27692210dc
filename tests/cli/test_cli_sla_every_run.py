"""`trimtab project set --sla-every-run/--sla-typical-run` over real gRPC: stored, shown, and left alone
when omitted."""

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


def _applies_to(out: str) -> list[str]:
    return [line.split("  ", 1)[1].strip() for line in out.splitlines() if line.startswith("SLA applies to")]


def test_sla_every_run_is_set_shown_and_turned_back(trimtab: Trimtab, project: Project,
                                                    cli_store: Store) -> None:
    assert project.id is not None
    code, out, err = trimtab("--json", "project", "set", str(project.id), "--sla", "45m", "--sla-every-run")
    assert code == 0, err
    assert json.loads(out)["settings"]["sla_every_run"] is True
    assert cli_store.projects.get(project.id).settings.sla_every_run is True
    code, out, _ = trimtab("project", "show", str(project.id))
    assert code == 0 and _applies_to(out) == ["every run"]
    code, out, _ = trimtab("--json", "project", "show", str(project.id))
    assert code == 0 and json.loads(out)["settings"]["sla_every_run"] is True

    # Another setting alone leaves it as it was.
    code, out, err = trimtab("project", "set", str(project.id), "--learning-budget", "5")
    assert code == 0, err
    assert _applies_to(out) == ["every run"]
    assert cli_store.projects.get(project.id).settings.sla_every_run is True

    code, out, err = trimtab("project", "set", str(project.id), "--sla-typical-run")
    assert code == 0, err
    assert _applies_to(out) == ["the typical run"]
    stored = cli_store.projects.get(project.id).settings
    assert stored.sla_every_run is False and stored.sla_seconds == 2700.0 and stored.learning_budget == 5
    code, out, _ = trimtab("--json", "project", "show", str(project.id))
    assert code == 0 and json.loads(out)["settings"]["sla_every_run"] is False


def test_without_an_sla_it_is_accepted_and_not_shown(trimtab: Trimtab, project: Project,
                                                     cli_store: Store) -> None:
    assert project.id is not None
    code, out, err = trimtab("project", "set", str(project.id), "--sla-every-run")
    assert code == 0, err
    assert "none (minimize cost)" in out and _applies_to(out) == []
    assert cli_store.projects.get(project.id).settings.sla_every_run is True
    code, out, _ = trimtab("project", "set", str(project.id), "--sla", "1h")
    assert code == 0 and _applies_to(out) == ["every run"]


def test_help_names_both_meanings(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    assert code == 0 and "--sla-every-run / --sla-typical-run" in out and "typical run" in out
