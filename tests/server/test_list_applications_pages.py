"""ListApplications in pages and by filter (review grpcapi t_apps_many): it answered at most 500
applications, newest first, with no page token and no filter, so with more than 500 the oldest could
not be reached, nor one run's or one cluster's. Applications arrive here as agents send them (real
ingest), on a real server over SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, ingest_pb2
from server.domain import Project, Run, Workspace
from tests.server.conftest import Harness, StartHarness

T0 = 1_796_000_000_000


@pytest.fixture
def h(start_harness: StartHarness, migrated_db_url: str) -> Harness:
    return start_harness(migrated_db_url, collect=0)


def _send(h: Harness, cluster: str, count: int, first: int = 0, start_ms: int | None = None) -> list[str]:
    """``count`` applications started on ``cluster`` a second apart (or all at ``start_ms``), as an
    agent sends them; their ids."""
    ids = [f"{cluster}-app-{n:04d}" for n in range(first, first + count)]
    events = [ingest_pb2.Event(key=f"start/{app}", application_id=app, application_start=ingest_pb2.ApplicationStart(
        application_id=app, app_name="etl", cluster_id=cluster,
        start_time_ms=start_ms if start_ms is not None else T0 + n * 1000))
        for n, app in zip(range(first, first + count), ids, strict=True)]
    for at in range(0, len(events), 200):
        h.ingest.SendBatch(ingest_pb2.EventBatch(batch_id=f"{cluster}-{first}-{at}", agent=ingest_pb2.AgentInfo(
            agent_id=f"agent-{cluster}", cluster_id=cluster), events=events[at:at + 200]), metadata=h.agent)
    return ids


def _all(h: Harness, limit: int, **filters: object) -> tuple[list[str], int]:
    seen: list[str] = []
    token, pages = "", 0
    while True:
        reply = h.runs.ListApplications(admin_pb2.ListApplicationsRequest(limit=limit, page_token=token, **filters),
                                        metadata=h.admin)
        seen += [a.application_id for a in reply.applications]
        pages += 1
        if not (token := reply.next_page_token):
            return seen, pages


def _refused(h: Harness, **fields: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as refused:
        h.runs.ListApplications(admin_pb2.ListApplicationsRequest(**fields), metadata=h.admin)
    return refused.value.code(), refused.value.details() or ""


def test_more_than_500_are_all_reached_newest_first(h: Harness) -> None:
    ids = _send(h, "c-1", 520)
    newest_first = ids[::-1]
    assert _all(h, 500) == (newest_first, 2)
    assert _all(h, 0)[0] == newest_first  # 0 is 50 a page
    assert _all(h, 0)[1] == 11
    first = h.runs.ListApplications(admin_pb2.ListApplicationsRequest(limit=7), metadata=h.admin)
    assert [a.application_id for a in first.applications] == newest_first[:7]
    # Received meanwhile (newer), they neither repeat nor shift the next page.
    _send(h, "c-1", 3, first=600)
    after = h.runs.ListApplications(admin_pb2.ListApplicationsRequest(limit=7, page_token=first.next_page_token),
                                    metadata=h.admin)
    assert [a.application_id for a in after.applications] == newest_first[7:14]


def test_ties_on_start_page_by_id(h: Harness) -> None:
    ids = _send(h, "c-1", 5, start_ms=T0)
    assert _all(h, 2) == (sorted(ids), 3)


def test_filters_by_cluster_run_and_not_tied(h: Harness) -> None:
    ones = _send(h, "c-1", 4)
    twos = _send(h, "c-2", 3, first=10)
    h.store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws"), "enc")
    project = h.store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main"))
    run = h.store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, start_ms=T0, end_ms=T0 + 60_000,
                               runtime_s=60.0, outcome="succeeded", cluster_id="c-2",
                               application_ids=(twos[0], twos[2])))

    assert _all(h, 1, cluster_id="c-2") == (twos[::-1], 3)
    assert _all(h, 1, run_id=str(run.id))[0] == [twos[2], twos[0]]
    assert _all(h, 2, unassigned=True)[0] == [twos[1], *ones[::-1]]
    tied = h.runs.ListApplications(admin_pb2.ListApplicationsRequest(run_id=str(run.id)), metadata=h.admin)
    assert {a.run_id for a in tied.applications} == {str(run.id)}

    assert _refused(h, run_id="99999") == (grpc.StatusCode.NOT_FOUND, "run 99999 not found")
    assert _refused(h, run_id="x")[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert _refused(h, run_id=str(run.id), unassigned=True)[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert _refused(h, limit=-1) == (grpc.StatusCode.INVALID_ARGUMENT, "limit: must not be negative")


def test_a_token_of_another_listing_or_never_issued_is_refused(h: Harness) -> None:
    _send(h, "c-1", 4)
    every = h.runs.ListApplications(admin_pb2.ListApplicationsRequest(limit=1), metadata=h.admin).next_page_token
    ones = h.runs.ListApplications(admin_pb2.ListApplicationsRequest(limit=1, cluster_id="c-1"),
                                   metadata=h.admin).next_page_token
    assert every and ones
    for fields in ({"cluster_id": "c-1", "page_token": every}, {"page_token": ones},
                   {"unassigned": True, "page_token": every}):
        code, said = _refused(h, **fields)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and said.startswith("page_token: not a token of this listing")
    for token in ("abc", "1", every[:-3], every[:-2] + ("AA" if not every.endswith("AA") else "BB")):
        assert _refused(h, page_token=token)[0] == grpc.StatusCode.INVALID_ARGUMENT, token
