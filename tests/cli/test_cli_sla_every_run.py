"""`trimtab project set --sla-every-run/--sla-typical-run` over real gRPC: stored, shown, and left alone
when omitted."""

from __future__ import annotations

import json

from server.domain import Project
from server.store import Store
from tests.cli.conftest import Trimtab, shown


def test_sla_every_run_is_set_shown_and_turned_back(trimtab: Trimtab, nightly: Project,
                                                    cli_store: Store) -> None:
    assert nightly.id is not None
    code, out, err = trimtab("--json", "project", "set", str(nightly.id), "--sla", "45m", "--sla-every-run")
    assert code == 0, err
    assert json.loads(out)["settings"]["sla_every_run"] is True
    assert cli_store.projects.get(nightly.id).settings.sla_every_run is True
    code, out, _ = trimtab("project", "show", str(nightly.id))
    assert code == 0 and shown(out, "SLA applies to") == ["every run"]
    code, out, _ = trimtab("--json", "project", "show", str(nightly.id))
    assert code == 0 and json.loads(out)["settings"]["sla_every_run"] is True

    # Another setting alone leaves it as it was.
    code, out, err = trimtab("project", "set", str(nightly.id), "--learning-budget", "5")
    assert code == 0, err
    assert shown(out, "SLA applies to") == ["every run"]
    assert cli_store.projects.get(nightly.id).settings.sla_every_run is True

    code, out, err = trimtab("project", "set", str(nightly.id), "--sla-typical-run")
    assert code == 0, err
    assert shown(out, "SLA applies to") == ["the typical run"]
    stored = cli_store.projects.get(nightly.id).settings
    assert stored.sla_every_run is False and stored.sla_seconds == 2700.0 and stored.learning_budget == 5
    code, out, _ = trimtab("--json", "project", "show", str(nightly.id))
    assert code == 0 and json.loads(out)["settings"]["sla_every_run"] is False


def test_without_an_sla_it_is_accepted_and_not_shown(trimtab: Trimtab, nightly: Project,
                                                     cli_store: Store) -> None:
    assert nightly.id is not None
    code, out, err = trimtab("project", "set", str(nightly.id), "--sla-every-run")
    assert code == 0, err
    assert "none (minimize cost)" in out and shown(out, "SLA applies to") == []
    assert cli_store.projects.get(nightly.id).settings.sla_every_run is True
    code, out, _ = trimtab("project", "set", str(nightly.id), "--sla", "1h")
    assert code == 0 and shown(out, "SLA applies to") == ["every run"]


def test_help_names_both_meanings(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    assert code == 0 and "--sla-every-run / --sla-typical-run" in out and "typical run" in out
