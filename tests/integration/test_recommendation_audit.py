"""Who changed a job, and when: a hand apply and its revert are recorded on the recommendation (applied_at/by,
reverted_at/by, state "reverted" apart from "rejected"), shown by `recommendation show`, and each writes one
INFO line naming the project, old -> new and who; so does `project set` (review diag F6). Through the real CLI,
gRPC server and workspace emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from server.domain import ClusterConfig, Project, Recommendation
from server.store import Store

Cli = Callable[..., tuple[int, str, str]]


def _import(trimtab: Cli, store: Store, job_id: int) -> Project:
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0 and "created" in out, err
    (project,) = [p for p in store.projects.list("sbx") if p.job_id == job_id]
    return project


def _lines(caplog: pytest.LogCaptureFixture, project: Project, what: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.INFO and r.getMessage().startswith(f"project {project.name}: {what}")]


def test_apply_and_revert_record_when_and_who(trimtab: Cli, store: Store, cli_workspace: str,
                                              job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    project = _import(trimtab, store, job_ids[0])
    (token,) = [t for t in store.tokens.list() if t.name == "cli"]
    who = f"cli (token {token.token_id})"
    config = ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2, availability="ON_DEMAND", first_on_demand=1)
    rec = store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))

    code, out, err = trimtab("recommendation", "apply", project.name)
    assert code == 0, err
    applied = store.recommendations.get(int(rec.id or 0))
    assert (applied.state, applied.applied_by) == ("applied", who) and applied.applied_at_ms
    (line,) = _lines(caplog, project, "applied recommendation")
    assert line == (f"project {project.name}: applied recommendation {rec.id} (m5d.xlarge x 4 workers, spot -> "
                    f"m5d.2xlarge x 2 workers) by {who}"), line

    code, out, err = trimtab("recommendation", "revert", project.name)
    assert code == 0, err
    reverted = store.recommendations.get(int(rec.id or 0))
    assert (reverted.state, reverted.reverted_by, reverted.applied_by) == ("reverted", who, who)
    assert reverted.reverted_at_ms is not None and reverted.reverted_at_ms >= int(applied.applied_at_ms or 0)
    (line,) = _lines(caplog, project, "reverted recommendation")
    assert line.startswith(f"project {project.name}: reverted recommendation {rec.id} (m5d.2xlarge x 2 workers")
    assert line.endswith(f"-> m5d.xlarge x 4 workers, spot) by {who}"), line

    code, out, err = trimtab("recommendation", "show", project.name)
    assert code == 0, err
    assert f"recommendation {rec.id} for project {project.id}: reverted (learning)" in out
    assert [x.strip() for x in out.splitlines() if x.strip().startswith(("applied:", "reverted:"))] == [
        f"applied:  {_utc(applied.applied_at_ms)} by {who}", f"reverted: {_utc(reverted.reverted_at_ms)} by {who}"]
    code, out, _ = trimtab("--json", "recommendation", "show", project.name)
    shown = json.loads(out)
    assert (shown["state"], shown["applied_by"], shown["reverted_by"]) == ("reverted", who, who)
    assert int(shown["applied_at_ms"]) == applied.applied_at_ms


def test_project_set_logs_what_changed_and_who(trimtab: Cli, store: Store, cli_workspace: str,
                                               job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    project = _import(trimtab, store, job_ids[0])
    (token,) = [t for t in store.tokens.list() if t.name == "cli"]
    code, _, err = trimtab("project", "set", project.name, "--sla", "900s", "--auto-apply", "on")
    assert code == 0, err
    (line,) = _lines(caplog, project, "settings changed")
    assert line == (f"project {project.name}: settings changed (sla_seconds unset -> 900, auto_apply off -> on) "
                    f"by cli (token {token.token_id})"), line
    caplog.clear()
    code, _, err = trimtab("project", "set", project.name, "--sla", "900s")  # the same again: no change, no line
    assert code == 0 and _lines(caplog, project, "settings changed") == [], err


def _utc(ms: int | None) -> str:
    from server.cli.run import utc

    return utc(int(ms or 0))
