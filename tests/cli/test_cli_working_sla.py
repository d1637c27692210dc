"""`trimtab project set --working-sla/--no-working-sla` over real gRPC: on by default, stored, shown
beside the SLA, left alone when omitted, and a note when there is no SLA for it to act on."""

from __future__ import annotations

import json

from server.domain import Project
from server.store import Store
from tests.cli.conftest import Trimtab, shown


def test_working_sla_is_on_by_default_and_turned_off_and_on(trimtab: Trimtab, nightly: Project,
                                                            cli_store: Store) -> None:
    assert nightly.id is not None
    code, out, err = trimtab("project", "set", str(nightly.id), "--sla", "45m")
    assert code == 0, err
    assert shown(out, "SLA out of reach") == ["aim at a working SLA"]
    assert cli_store.projects.get(nightly.id).settings.working_sla is True

    code, out, err = trimtab("--json", "project", "set", str(nightly.id), "--no-working-sla")
    assert code == 0, err
    assert json.loads(out)["settings"]["working_sla"] is False
    stored = cli_store.projects.get(nightly.id).settings
    assert stored.working_sla is False and stored.sla_seconds == 2700.0
    code, out, _ = trimtab("project", "show", str(nightly.id))
    assert code == 0 and shown(out, "SLA out of reach") == ["run the fastest"]

    # Another setting alone leaves it as it was.
    code, out, err = trimtab("project", "set", str(nightly.id), "--learning-budget", "5")
    assert code == 0, err
    assert shown(out, "SLA out of reach") == ["run the fastest"]
    assert cli_store.projects.get(nightly.id).settings.working_sla is False

    code, out, err = trimtab("project", "set", str(nightly.id), "--working-sla")
    assert code == 0, err
    assert shown(out, "SLA out of reach") == ["aim at a working SLA"] and "note:" not in err
    assert cli_store.projects.get(nightly.id).settings.working_sla is True


def test_without_an_sla_it_is_stored_hidden_and_noted(trimtab: Trimtab, nightly: Project,
                                                      cli_store: Store) -> None:
    assert nightly.id is not None
    code, out, err = trimtab("project", "set", str(nightly.id), "--no-working-sla")
    assert code == 0, err
    assert shown(out, "SLA out of reach") == []
    assert "note: --[no-]working-sla has no effect until the project has an SLA (--sla)" in err
    assert cli_store.projects.get(nightly.id).settings.working_sla is False


def test_help_says_what_each_side_does(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    assert code == 0 and "--working-sla / --no-working-sla" in out and "fastest measured" in out
