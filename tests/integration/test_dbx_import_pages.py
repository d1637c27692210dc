"""`trimtab workspace import` of a workspace with many jobs: one call per page, each bounded by the server.

Finding (scale): the whole import was one RPC. 1,500 jobs is ~7,500 Databricks calls, past the CLI's
10-minute deadline against a real workspace, and the person saw DEADLINE_EXCEEDED with the import half
done. Now the CLI asks for a paged import; each call starts jobs for `import_page_seconds` and answers
with a token for the rest. Real parts: the gRPC server on 127.0.0.1:0, the CLI, the sandbox workspace
emulator over HTTP; the server's clock ticks a second at every read so a 4-second page holds a few jobs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server.cli.main import INTERRUPTED_LINE
from server.clock import FakeClock
from server.databricks import DatabricksGateway
from server.serve import RunningServer
from server.services import workspaces
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import etl_job

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
# Enough for several pages of ~4 jobs (the tests ask for at least three): each job imported costs about
# a dozen emulator calls, so every job more is wall time in each test.
JOBS = 15
SP = "6f4a1c2e-0b1d-4e5f-9a7b-1c2d3e4f5a6b"  # a service principal's application id
PROGRESS = re.compile(r"^(imported|checked) ([\d,]+) of ([\d,]+) jobs \((\d+) project\(s\), (\d+) skipped so far\)$")


class TickingClock(FakeClock):
    """Every read of the monotonic clock is a second later: a page's budget runs out after a few jobs."""

    def monotonic(self) -> float:
        self.advance(1.0)
        return super().monotonic()


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: paging is the server's and the CLI's; the store's engines are tested by import itself."""
    return sqlite_store


@pytest.fixture
def many_jobs(cli_workspace: str, gateway: DatabricksGateway, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``JOBS`` qualified one-cluster jobs in workspace "sbx", and a server importing ~4 s (4 jobs) a call."""
    ids = [gateway.create_job(etl_job(dict(SPEC), name=f"job-{n:02d}")) for n in range(JOBS)]
    monkeypatch.setattr(workspaces._integration, "clock", TickingClock())
    monkeypatch.setattr(workspaces._integration, "import_page_s", 4.0, raising=False)
    return ids


def _progress(err: str) -> list[tuple[str, int, int]]:
    found = [PROGRESS.match(line) for line in err.splitlines()]
    return [(m[1], int(m[2].replace(",", "")), int(m[3].replace(",", ""))) for m in found if m]


def _onboarded(gateway: DatabricksGateway, job_id: int) -> bool:
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], "main") or {}
    return "trimtab:project-id" in (spec.get("custom_tags") or {})


@pytest.fixture
def call(server: RunningServer, store: Store) -> Callable[..., Any]:
    """One ImportJobs call over real gRPC, as a script using the API makes it."""
    _, token = store.tokens.create("script", "admin")

    def run(request: admin_pb2.ImportJobsRequest) -> admin_pb2.ImportJobsResponse:
        with grpc.insecure_channel(server.address) as channel:
            return admin_pb2_grpc.WorkspaceServiceStub(channel).ImportJobs(
                request, metadata=[("authorization", f"Bearer {token}")], timeout=120)

    return run


def test_jobs_import_across_pages_with_one_progress_line_each(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, gateway: DatabricksGateway,
        many_jobs: list[int]) -> None:
    code, out, err = trimtab("workspace", "import", "sbx")
    assert code == 0, err
    progress = _progress(err)
    assert len(progress) >= 3, err  # several pages, one line each
    assert [p[2] for p in progress] == [JOBS] * len(progress)
    done = [p[1] for p in progress]
    assert done == sorted(done) and done[-1] == JOBS and done[0] < JOBS
    # The merged answer, as an import in one call prints it: every job once, in order.
    created = [line for line in out.splitlines() if line.startswith("created")]
    assert [line.split("(")[-1].rstrip(")") for line in created] == [f"job-{n:02d}" for n in range(JOBS)]
    assert len(store.projects.list("sbx")) == JOBS
    assert all(_onboarded(gateway, job_id) for job_id in many_jobs)
    # The workspace was prepared once a page, but the token secret written once: one agent token.
    assert [t.name for t in store.tokens.list() if t.scope == "agent"] == ["agent-sbx"]

    # Again, as a person finishing a stopped import would: nothing new, every project found as it is.
    code, out, err = trimtab("workspace", "import", "sbx")
    assert code == 0, err
    assert out.count("exists") == JOBS and "created" not in out and len(store.projects.list("sbx")) == JOBS


def test_the_read_a_first_page_granted_is_recorded_as_trimtabs_on_every_page(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, gateway: DatabricksGateway,
        many_jobs: list[int]) -> None:
    # Every job runs as a service principal holding nothing on the scope: the first page grants it READ,
    # later pages find it held. In one call, every project records the READ as Trimtab's (a detach of the
    # last takes it back); so must they across pages, or the READ stayed after every job was detached.
    for job_id in many_jobs:
        gateway.update_job(job_id, {"run_as": {"service_principal_name": SP}})
    code, _, err = trimtab("workspace", "import", "sbx")
    assert code == 0 and len(_progress(err)) >= 3, err
    assert gateway.secret_acl("trimtab", SP) == "READ"
    records = [p.state.get("secret_reader") for p in store.projects.list("sbx")]
    assert records == [{"scope": "trimtab", "principal": SP, "granted": True}] * JOBS


def test_a_take_over_across_pages_writes_the_token_secret_once(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, many_jobs: list[int]) -> None:
    code, _, err = trimtab("workspace", "import", "sbx", "--take-over")
    assert code == 0 and len(_progress(err)) >= 3, err
    # --take-over writes this server's token over whatever the secret held: on the first page only (each
    # page made one more agent token and wrote it over the last, its agents' token gone stale).
    assert [t.name for t in store.tokens.list() if t.scope == "agent"] == ["agent-sbx"]


def test_json_is_one_merged_document(trimtab: Callable[..., tuple[int, str, str]], many_jobs: list[int]) -> None:
    code, out, err = trimtab("--json", "workspace", "import", "sbx")
    assert code == 0, err
    answer = json.loads(out)  # one document, not one per page
    assert [p["project"]["job_id"] for p in answer["projects"]] == many_jobs
    assert (answer["jobs_total"], answer["jobs_remaining"], answer["next_page_token"]) == (JOBS, 0, "")
    assert _progress(err) == []  # stderr stays quiet for scripts, as the "Importing..." line does


def test_a_dry_run_stays_one_across_pages(trimtab: Callable[..., tuple[int, str, str]], store: Store,
                                          gateway: DatabricksGateway, many_jobs: list[int],
                                          call: Callable[..., Any]) -> None:
    code, out, err = trimtab("workspace", "import", "sbx", "--dry-run")
    assert code == 0, err
    assert len(_progress(err)) >= 3 and {p[0] for p in _progress(err)} == {"checked"}
    assert out.count("would create") == JOBS
    assert store.projects.list("sbx") == [] and not any(_onboarded(gateway, j) for j in many_jobs)
    # A continuation that would write what the person only looked at is refused, naming why.
    first = call(admin_pb2.ImportJobsRequest(workspace="sbx", dry_run=True, paged=True))
    assert first.next_page_token and first.jobs_remaining == JOBS - len(first.projects)
    with pytest.raises(grpc.RpcError) as refused:
        call(admin_pb2.ImportJobsRequest(workspace="sbx", dry_run=False, paged=True, page_token=first.next_page_token))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "dry_run" in (refused.value.details() or "")
    assert store.projects.list("sbx") == [] and not any(_onboarded(gateway, j) for j in many_jobs)
    with pytest.raises(grpc.RpcError) as both:  # the token holds the jobs: naming others beside it is refused
        call(admin_pb2.ImportJobsRequest(workspace="sbx", dry_run=True, paged=True, job_ids=[many_jobs[0]],
                                         page_token=first.next_page_token))
    assert both.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "job_ids" in (both.value.details() or "")
    with pytest.raises(grpc.RpcError) as forged:
        call(admin_pb2.ImportJobsRequest(workspace="sbx", paged=True, page_token=first.next_page_token[:-8] + "AAAAAAAA"))
    assert forged.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_token_without_paged_is_refused(store: Store, gateway: DatabricksGateway, many_jobs: list[int],
                                          call: Callable[..., Any]) -> None:
    """paged=false asks for the whole import in one call: a token beside it imported one page and left
    the rest unsaid to a caller that does not read next_page_token (review grpcapi t_paged2)."""
    first = call(admin_pb2.ImportJobsRequest(workspace="sbx", dry_run=True, paged=True))
    assert first.next_page_token
    with pytest.raises(grpc.RpcError) as refused:
        call(admin_pb2.ImportJobsRequest(workspace="sbx", dry_run=True, paged=False, page_token=first.next_page_token))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "paged" in (refused.value.details() or "")
    assert store.projects.list("sbx") == [] and not any(_onboarded(gateway, j) for j in many_jobs)


def test_continuing_never_reattaches_a_job_the_person_did_not_name(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, gateway: DatabricksGateway,
        many_jobs: list[int]) -> None:
    code, _, err = trimtab("workspace", "import", "sbx")
    assert code == 0, err
    last = store.projects.get_by_key("sbx", many_jobs[-1], "main")
    assert last is not None
    code, _, err = trimtab("project", "detach", last.name)
    assert code == 0, err
    # Every job again, in pages: the detached one (on the last page) is left as it is.
    code, out, err = trimtab("workspace", "import", "sbx")
    assert code == 0 and len(_progress(err)) >= 3, err
    assert f"job {many_jobs[-1]} (job-{JOBS - 1:02d}): project {last.name} is detached" in out
    assert not _onboarded(gateway, many_jobs[-1]) and "re-attached" not in out
    # Named, in pages too: the named jobs are re-attached and a job not found fails the command.
    named = [*many_jobs[-8:], 987654321]
    code, out, err = trimtab("workspace", "import", "sbx", *(f"--job={j}" for j in named))
    assert len(_progress(err)) >= 2, err
    assert code == 1 and "job 987654321 not found in workspace sbx" in err
    assert "re-attached" in out and _onboarded(gateway, many_jobs[-1])


def test_a_failure_on_a_later_page_keeps_the_earlier_ones_and_says_how_to_finish(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, emulator: RunningWorkspace,
        gateway: DatabricksGateway, many_jobs: list[int]) -> None:
    # The last job's read refused as with a revoked token: the workspace's trouble, which ends the import.
    fault = emulator.inject_fault("GET", "jobs/get", status=401, error_code="UNAUTHENTICATED", job_id=many_jobs[-1])
    code, out, err = trimtab("workspace", "import", "sbx")
    assert code == 1
    (line,) = [e for e in err.splitlines() if e.startswith("error:")]
    assert "FAILED_PRECONDITION" in line and "Traceback" not in err
    stopped = re.search(rf"import of sbx stopped: imported (\d+) of {JOBS} jobs before that \((\d+) project\(s\), 0 "
                        r"skipped; the call under way may have imported more\); run `trimtab workspace import sbx` "
                        r"again to finish it: jobs imported already are left as they are", err)
    assert stopped, err
    kept = len(store.projects.list("sbx"))
    assert 0 < int(stopped[2]) <= kept < JOBS  # the earlier pages' projects stay, and are listed
    assert out.count("created") == int(stopped[2])
    emulator.clear_fault(fault)
    # Running it again finishes it: the projects made are found as they are, the rest created.
    code, out, err = trimtab("workspace", "import", "sbx")
    assert code == 0, err
    assert out.count("exists") == kept and out.count("created") == JOBS - kept
    assert len(store.projects.list("sbx")) == JOBS and all(_onboarded(gateway, j) for j in many_jobs)


def test_ctrl_c_between_pages_says_what_was_done_and_how_to_finish(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, many_jobs: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli import workspace as cli_workspace

    calls: list[str] = []
    real_rpc = cli_workspace.rpc

    def interrupted_at_the_third_call(ctx: Any, stub: str, method: str, request: Any) -> Any:
        calls.append(method)
        if method == "ImportJobs" and calls.count("ImportJobs") == 3:
            raise KeyboardInterrupt  # the person's Ctrl-C while the CLI waits for the third page
        return real_rpc(ctx, stub, method, request)

    monkeypatch.setattr(cli_workspace, "rpc", interrupted_at_the_third_call)
    code, out, err = trimtab("workspace", "import", "sbx")
    assert code == 130 and err.rstrip().endswith(INTERRUPTED_LINE)  # Ctrl-C's status (`server.cli.main`)
    assert re.search(rf"import of sbx interrupted: imported \d+ of {JOBS} jobs before that .*; run `trimtab workspace "
                     r"import sbx` again to finish it", err), err
    assert out.count("created") == len(store.projects.list("sbx")) > 0


def test_a_call_that_does_not_ask_for_pages_imports_everything_at_once(
        call: Callable[..., Any], store: Store, many_jobs: list[int]) -> None:
    answer = call(admin_pb2.ImportJobsRequest(workspace="sbx"))  # a script written before paging
    assert len(answer.projects) == JOBS and len(store.projects.list("sbx")) == JOBS
    assert (answer.next_page_token, answer.jobs_total, answer.jobs_remaining) == ("", JOBS, 0)
