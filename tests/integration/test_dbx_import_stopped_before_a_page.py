"""`trimtab workspace import` stopped by Ctrl-C before the first call answered: the stop message says
what the server does with the call under way, and the command that finishes the import (commit
c0d3fd5: it said "the server finishes the part under way (...)", a part the person never saw, and a
dry run's stop promised a server side that changes nothing anyway). Real parts: the gRPC server on
127.0.0.1:0, the CLI, the sandbox workspace emulator over HTTP; the Ctrl-C is raised where the CLI
waits for the first answer, after the server did the call (as a call cancelled mid-way is finished)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from server.cli.main import INTERRUPTED_LINE
from server.databricks import DatabricksGateway
from server.store import Store
from tests.integration.conftest import etl_job

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
JOBS = 3


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the message is the CLI's; the store's engines are tested by import itself."""
    return sqlite_store


@pytest.fixture
def jobs(cli_workspace: str, gateway: DatabricksGateway) -> list[int]:
    return [gateway.create_job(etl_job(dict(SPEC), name=f"job-{n}")) for n in range(JOBS)]


@pytest.fixture
def ctrl_c_at_the_first_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli import workspace as cli_workspace

    real_rpc = cli_workspace.rpc
    imports: list[Any] = []

    def interrupted(ctx: Any, stub: str, method: str, request: Any) -> Any:
        answer = real_rpc(ctx, stub, method, request)
        if method == "ImportJobs":
            imports.append(request)
            if len(imports) == 1:
                raise KeyboardInterrupt  # the person's Ctrl-C before the CLI read the first page
        return answer

    monkeypatch.setattr(cli_workspace, "rpc", interrupted)


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry run"])
def test_ctrl_c_before_the_first_page_says_what_the_server_does_and_how_to_finish(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, jobs: list[int], dry_run: bool,
        ctrl_c_at_the_first_answer: None) -> None:
    command = ["workspace", "import", "sbx", *(["--dry-run"] if dry_run else [])]
    code, out, err = trimtab(*command)
    assert code == 130 and err.rstrip().endswith(INTERRUPTED_LINE), err  # Ctrl-C's status
    what = "a dry run changes nothing" if dry_run else "the server finishes the call under way, which may import some jobs"
    said = (f"import of sbx interrupted: {what}; run `trimtab {' '.join(command)}` again to finish it: jobs "
            "imported already are left as they are")
    assert said in err.splitlines(), err
    assert "created" not in out and "exists" not in out  # no page answered: nothing to list
    # What the message says the server did: the call's jobs imported (none for a dry run).
    assert len(store.projects.list("sbx")) == (0 if dry_run else JOBS)

    # The command it names finishes the import (the jobs the interrupted call imported are found as they are).
    code, out, err = trimtab(*command)
    assert code == 0, err
    assert out.count("would create" if dry_run else "exists") == JOBS and "created" not in out, out
