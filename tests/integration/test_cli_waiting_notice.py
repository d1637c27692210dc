"""A CLI call that talks to Databricks says on stderr, once, that it is still waiting when the server
takes longer than `context.WAITING_NOTICE_AFTER_S` (review "failures": an apply against a workspace
answering 500 was silent for 121 s, read as a hung CLI); stdout, which scripts read, is unchanged.
The real CLI, server and emulator; the notice's delay set to 0 so every call that is not answered at
once (all of them: the server calls the emulator) passes it, and to the default so none does."""

from __future__ import annotations

import json

import pytest

from server.cli import context
from server.domain import ClusterConfig, Recommendation
from server.store import Store
from tests.integration.conftest import NOOP_INIT


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def _imported(trimtab, store: Store, emulator, gateway, job_id: int, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    assert trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                   "--cloud", "aws", "--region", "us-east-1")[0] == 0
    assert trimtab("workspace", "import", "sbx", "--job", str(job_id))[0] == 0
    (project,) = store.projects.list()
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="fewer, larger nodes",
                                             config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2)))
    return project.name


def test_a_databricks_call_past_the_notice_says_it_is_waiting_on_stderr_only(
        trimtab, store: Store, emulator, gateway, job_ids: list[int],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = _imported(trimtab, store, emulator, gateway, job_ids[0], monkeypatch)
    monkeypatch.setattr(context, "WAITING_NOTICE_AFTER_S", 0.0)
    code, out, err = trimtab("--json", "recommendation", "apply", name)
    assert code == 0 and json.loads(out)["applied"] is True
    assert err.count("still waiting: the server is calling Databricks") == 1
    assert "at most 600 s" in err
    # A call answered from the server's own database waits for nothing: never the notice.
    code, out, err = trimtab("project", "list")
    assert code == 0 and name in out and err == ""


def test_a_databricks_call_answered_in_time_says_nothing_and_errors_stay_one_line(
        trimtab, store: Store, emulator, gateway, job_ids: list[int],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = _imported(trimtab, store, emulator, gateway, job_ids[0], monkeypatch)
    code, out, err = trimtab("recommendation", "apply", name)
    assert code == 0 and "applied recommendation" in out and err == ""
    # A refusal read through the waiting path is the same one-line error (the future's RpcError).
    monkeypatch.setattr(context, "WAITING_NOTICE_AFTER_S", 0.0)
    code, _, err = trimtab("recommendation", "apply", name, "--id", "999999")
    assert code == 1 and "Traceback" not in err
    assert "999999" in err.splitlines()[-1] and "NOT_FOUND" in err.splitlines()[-1]
