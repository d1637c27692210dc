"""ListRuns' order and page tokens (review rev15a finding 1), on SQLite and PostgreSQL.

ListRuns said "newest first" but ordered by id: past runs backfilled after newer ones came first.
A page token that named no run of the project (never issued, or another project's) was answered
with a page.
"""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2
from server.domain import Project, Run
from tests.server.conftest import Harness, StartHarness

HOUR_MS = 3_600_000
T0 = 1_796_000_000_000


@pytest.fixture
def h(start_harness: StartHarness, migrated_db_url: str) -> Harness:
    return start_harness(migrated_db_url, collect=0)


def _project(h: Harness, key: str) -> Project:
    return h.store.projects.add(Project(workspace="ws", job_id=10, cluster_key=key, job_name="nightly"))


def _run(h: Harness, p: Project, databricks_run_id: int, start_h: int) -> int:
    run = h.store.runs.add(Run(project_id=p.id, databricks_run_id=databricks_run_id,
                               start_ms=T0 + start_h * HOUR_MS, runtime_s=600.0))
    assert run.id is not None
    return run.id


def _refused(h: Harness, request: admin_pb2.ListRunsRequest) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        h.runs.ListRuns(request, metadata=h.admin)
    return raised.value.code(), raised.value.details() or ""


def test_backfilled_past_runs_sort_by_start_and_pages_follow(h: Harness) -> None:
    p = _project(h, "backfilled")
    # Collected first: the two recent runs; backfilled later: two older ones, and one that started
    # at the same moment as a recent one (ties go by id, highest first).
    _run(h, p, 400, 100)
    _run(h, p, 401, 124)
    _run(h, p, 10, 0)
    _run(h, p, 11, 24)
    _run(h, p, 12, 100)
    pages, token = [], ""
    while True:
        page = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id), page_size=2, page_token=token),
                               metadata=h.admin)
        pages.append([r.databricks_run_id for r in page.runs])
        starts = [r.start_time_ms for r in page.runs]
        assert starts == sorted(starts, reverse=True)
        token = page.next_page_token
        if not token:
            break
    assert pages == [[401, 12], [400, 11], [10]]
    whole = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id)), metadata=h.admin)
    assert [r.databricks_run_id for r in whole.runs] == [401, 12, 400, 11, 10]


def test_a_token_naming_no_run_of_the_project_is_refused(h: Harness) -> None:
    p, other = _project(h, "a"), _project(h, "b")
    for i in range(3):
        _run(h, p, i, i)
    theirs = _run(h, other, 99, 5)
    first = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id), page_size=1), metadata=h.admin)
    assert first.next_page_token
    for token in (str(theirs), str(theirs + 1000), "abc"):
        code, details = _refused(h, admin_pb2.ListRunsRequest(project=str(p.id), page_token=token))
        assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token this server issued")
    # The other project's own token is refused for this project too.
    theirs_first = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(other.id), page_size=1), metadata=h.admin)
    assert theirs_first.next_page_token == ""  # a single run: one page
    code, _ = _refused(h, admin_pb2.ListRunsRequest(project=str(other.id), page_token=first.next_page_token))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # What this project issued still answers.
    rest = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id), page_token=first.next_page_token),
                           metadata=h.admin)
    assert [r.databricks_run_id for r in rest.runs] == [1, 0]


def test_page_size_zero_is_fifty_and_large_is_five_hundred(h: Harness) -> None:
    p = _project(h, "many")
    for i in range(501):
        h.store.runs.add(Run(project_id=p.id, databricks_run_id=i, start_ms=T0 + i))
    assert len(h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id)), metadata=h.admin).runs) == 50
    big = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id), page_size=10_000), metadata=h.admin)
    assert len(big.runs) == 500 and big.next_page_token
