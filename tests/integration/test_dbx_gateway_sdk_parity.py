"""The gateway does what databricks-sdk does, against the sandbox emulator through the real SDK.

run-now's idempotency token (the SDK retries POSTs itself), clusters/events paging (the SDK's
iterator follows ``next_page``), 2.2 array pages (the SDK merges only the paginated arrays),
and a 403 on a secret scope (a permission, not a refused token).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.databricks.errors import WorkspaceAuthError
from server.databricks.gateway import DatabricksPermissionDenied


def _sdk(emulator: RunningWorkspace) -> WorkspaceClient:
    return WorkspaceClient(host=emulator.host, token=emulator.token, auth_type="pat")


def _post(emulator: RunningWorkspace, endpoint: str, body: dict[str, Any], version: str = "2.0") -> dict[str, Any]:
    request = urllib.request.Request(f"{emulator.host}/api/{version}/{endpoint}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {emulator.token}",
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read() or b"{}"))


def _cluster_with_events(emulator: RunningWorkspace, count: int) -> str:
    """A cluster record with ``count`` events, written into the emulator's state directly."""
    ws = emulator.workspace
    with ws.store.lock:
        ws.store.data["clusters"]["c-events"] = {"cluster_id": "c-events", "state": "TERMINATED"}
        ws.store.data["events"]["c-events"] = [
            {"cluster_id": "c-events", "timestamp": 1000 + i, "type": "RUNNING", "details": {"i": i}}
            for i in range(count)]
        ws.store.save()
    return "c-events"


def test_cluster_events_follow_all_pages_as_the_sdk_does(emulator: RunningWorkspace,
                                                         gateway: DatabricksGateway) -> None:
    cluster_id = _cluster_with_events(emulator, 7)
    # The SDK's own iterator (it follows next_page) over page_size pages of 3.
    sdk_events = list(_sdk(emulator).clusters.events(cluster_id, page_size=3))
    assert [e.timestamp for e in sdk_events] == [1006 - i for i in range(7)]  # DESC: the default order
    got = gateway.cluster_events(cluster_id, page_size=3)
    assert [e["details"]["i"] for e in got] == list(range(7))


def test_the_emulator_refuses_page_tokens_mixed_with_the_deprecated_limit(emulator: RunningWorkspace) -> None:
    cluster_id = _cluster_with_events(emulator, 3)
    first = _post(emulator, "clusters/events", {"cluster_id": cluster_id, "page_size": 2}, "2.1")
    assert first["next_page_token"] and first["next_page"]["page_token"] == first["next_page_token"]
    with pytest.raises(urllib.error.HTTPError) as err:
        _post(emulator, "clusters/events", {"cluster_id": cluster_id, "limit": 2,
                                            "page_token": first["next_page_token"]}, "2.1")
    assert err.value.code == 400


def test_run_now_twice_with_one_idempotency_token_is_one_run(emulator: RunningWorkspace,
                                                              gateway: DatabricksGateway,
                                                              job_ids: list[int]) -> None:
    first = gateway.run_now(job_ids[0], idempotency_token="tt-once")
    again = gateway.run_now(job_ids[0], idempotency_token="tt-once")
    assert first == again
    assert [r["run_id"] for r in gateway.list_runs(job_ids[0])] == [first]
    assert gateway.run_now(job_ids[0]) != first  # a token of its own per call otherwise


class _Pages(BaseHTTPRequestHandler):
    """Two jobs/get and runs/get pages; the second repeats a list field that is not paginated."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        second = "page_token" in self.path
        if "/jobs/runs/get" in self.path:
            body: dict[str, Any] = {"run_id": 9, "tasks": [{"task_key": "b" if second else "a"}],
                                    "job_parameters": [{"name": "p2" if second else "p1"}]}
            if not second:
                body["next_page_token"] = "2"
            else:
                body["schedule_tags"] = ["not-paged"]
        else:
            settings: dict[str, Any] = {"tasks": [{"task_key": "b" if second else "a"}],
                                        "tags_list": ["not-paged"]}
            body = {"job_id": 1, "settings": settings}
            if not second:
                body["next_page_token"] = "2"
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def paged_gateway() -> Iterator[DatabricksGateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield DatabricksGateway(GatewayConfig(f"http://127.0.0.1:{server.server_address[1]}", "t"),
                                clock=FakeClock())
    finally:
        server.shutdown()
        server.server_close()


def test_only_the_paginated_arrays_are_merged(paged_gateway: DatabricksGateway) -> None:
    job = paged_gateway.get_job(1)
    assert [t["task_key"] for t in job["settings"]["tasks"]] == ["a", "b"]
    assert job["settings"]["tags_list"] == ["not-paged"]  # not doubled: the SDK merges named arrays only
    run = paged_gateway.get_run(9)
    assert [t["task_key"] for t in run["tasks"]] == ["a", "b"]
    assert [p["name"] for p in run["job_parameters"]] == ["p1", "p2"]
    assert "schedule_tags" not in run


def test_a_403_on_a_secret_scope_names_the_permission_not_a_refused_token(
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    gateway.put_secret("locked", "k", "v")
    _post(emulator, "secrets/acls/put", {"scope": "locked", "principal": "admins", "permission": "MANAGE"})
    _post(emulator, "secrets/acls/delete", {"scope": "locked", "principal": "sandbox@trimtab.local"})
    with pytest.raises(DatabricksPermissionDenied, match="READ on the scope") as err:
        gateway.has_secret("locked", "k")
    assert "refused the token" not in err.value.message and "'locked'" in err.value.message
    emulator.revoke_token(emulator.token)
    with pytest.raises(WorkspaceAuthError):  # a token refused outright is still said so
        gateway.has_secret("locked", "k")
