"""Jobs API through the real databricks-sdk: CRUD, paging, update merge semantics, errors."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceDoesNotExist
from databricks.sdk.service.compute import ClusterSpec
from databricks.sdk.service.jobs import JobCluster, JobSettings, SparkPythonTask, Task

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws.conftest import client


def spec(node: str = "m5d.xlarge", workers: int = 2, **extra: object) -> dict:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": node, "num_workers": workers,
            "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1},
            **extra}


def two_cluster_settings(name: str = "pipeline") -> JobSettings:
    return JobSettings.from_dict({
        "name": name,
        "job_clusters": [{"job_cluster_key": "a", "new_cluster": spec("m5d.xlarge", 2)},
                         {"job_cluster_key": "b", "new_cluster": spec("r5d.xlarge", 3)}],
        "tasks": [{"task_key": "t1", "job_cluster_key": "a",
                   "spark_python_task": {"python_file": "dbfs:/a.py"}},
                  {"task_key": "t2", "job_cluster_key": "b", "depends_on": [{"task_key": "t1"}],
                   "spark_python_task": {"python_file": "dbfs:/b.py"}}],
        "tags": {"sandbox:profile": "sort", "team": "x"},
    })


def create(w: object, settings: JobSettings) -> int:
    fields = {k: getattr(settings, k) for k in ("name", "job_clusters", "tasks", "tags")}
    return w.jobs.create(**fields).job_id  # type: ignore[attr-defined]


def raw(ws: RunningWorkspace, method: str, path: str, **kw: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {ws.token}"}
    return requests.request(method, ws.host + path, headers=headers, timeout=10, **kw)


def test_create_get_and_list_with_pagination(ws: RunningWorkspace) -> None:
    w = client(ws)
    ids = [w.jobs.create(**{"name": f"job-{i}", "tasks": [Task(
        task_key="main", new_cluster=ClusterSpec.from_dict(spec()),
        spark_python_task=SparkPythonTask(python_file="dbfs:/x.py"))]}).job_id for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    job = w.jobs.get(ids[2])
    assert job.settings.name == "job-2"
    assert job.settings.tasks[0].new_cluster.node_type_id == "m5d.xlarge"
    assert job.creator_user_name and job.created_time > 0

    # The SDK follows next_page_token: limit 2 over 5 jobs takes three pages.
    listed = list(w.jobs.list(limit=2))
    assert [j.job_id for j in listed] == ids
    assert all(not j.settings.tasks for j in listed)  # not expanded
    assert list(w.jobs.list(limit=2, expand_tasks=True))[0].settings.tasks[0].task_key == "main"
    page1 = raw(ws, "GET", "/api/2.1/jobs/list", params={"limit": 2}).json()
    assert page1["has_more"] is True and len(page1["jobs"]) == 2
    page3 = raw(ws, "GET", "/api/2.2/jobs/list", params={"limit": 2, "page_token": raw(
        ws, "GET", "/api/2.2/jobs/list", params={"limit": 2, "page_token": page1[
            "next_page_token"]}).json()["next_page_token"]}).json()
    assert page3["has_more"] is False and [j["job_id"] for j in page3["jobs"]] == ids[4:]
    assert [j.job_id for j in w.jobs.list(name="JOB-3")] == [ids[3]]


def test_update_merges_arrays_by_key_and_replaces_entries_whole(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, two_cluster_settings())
    # Send only cluster "b", without its aws_attributes: the entry is replaced whole.
    w.jobs.update(job_id, new_settings=JobSettings(
        job_clusters=[JobCluster(job_cluster_key="b", new_cluster=ClusterSpec.from_dict(
            {"spark_version": "15.4.x-scala2.12", "node_type_id": "c5d.2xlarge",
             "num_workers": 6}))],
        tags={"sandbox:profile": "sort"}))
    settings = w.jobs.get(job_id).settings
    by_key = {jc.job_cluster_key: jc.new_cluster for jc in settings.job_clusters}
    assert by_key["a"].node_type_id == "m5d.xlarge"  # untouched entry kept
    assert by_key["b"].node_type_id == "c5d.2xlarge" and by_key["b"].num_workers == 6
    assert by_key["b"].aws_attributes is None       # no deep merge of nested specs
    assert settings.tags == {"sandbox:profile": "sort"}  # top-level field replaced
    assert [t.task_key for t in settings.tasks] == ["t1", "t2"]
    assert settings.name == "pipeline"

    # A new key is appended; fields_to_remove drops top-level fields and keyed entries.
    w.jobs.update(job_id, new_settings=JobSettings(tasks=[Task(
        task_key="t3", job_cluster_key="a", spark_python_task=SparkPythonTask(
            python_file="dbfs:/c.py"))]), fields_to_remove=["tags", "tasks/t2"])
    settings = w.jobs.get(job_id).settings
    assert [t.task_key for t in settings.tasks] == ["t1", "t3"]
    assert settings.tags is None


def test_reset_replaces_everything_and_delete_removes(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = create(w, two_cluster_settings())
    w.jobs.reset(job_id, new_settings=JobSettings(name="fresh", tasks=[Task(
        task_key="only", new_cluster=ClusterSpec.from_dict(spec("i3.xlarge", 1)),
        spark_python_task=SparkPythonTask(python_file="dbfs:/x.py"))]))
    settings = w.jobs.get(job_id).settings
    assert settings.name == "fresh" and not settings.job_clusters and settings.tags is None
    w.jobs.delete(job_id)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(job_id)


def test_unknown_job_errors_look_like_the_service(ws: RunningWorkspace) -> None:
    w = client(ws)
    reply = raw(ws, "GET", "/api/2.2/jobs/get", params={"job_id": 999})
    assert reply.status_code == 400
    assert reply.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                            "message": "Job 999 does not exist."}
    with pytest.raises(ResourceDoesNotExist):  # the SDK's override for this exact message
        w.jobs.get(999)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(12345)
    with pytest.raises(InvalidParameterValue, match="Job 999 does not exist"):
        w.jobs.update(999, new_settings=JobSettings(name="x"))
    with pytest.raises(InvalidParameterValue):
        w.jobs.run_now(999)
    with pytest.raises(ResourceDoesNotExist):
        w.clusters.get("0101-000000-nothere")
    assert raw(ws, "GET", "/api/2.2/jobs/nosuch").status_code == 404
    with pytest.raises(NotFound):
        w.api_client.do("GET", "/api/2.2/jobs/nosuch")


@pytest.mark.parametrize("bad, words", [
    ({"node_type_id": "zz.nothing"}, "zz.nothing"),
    ({"num_workers": 100_000}, "num_workers"),
    ({"num_workers": None, "autoscale": {"min_workers": 5, "max_workers": 2}}, "autoscale"),
])
def test_bad_cluster_specs_are_rejected(ws: RunningWorkspace, bad: dict, words: str) -> None:
    w = client(ws)
    cluster = {k: v for k, v in {**spec(), **bad}.items() if v is not None}
    with pytest.raises(InvalidParameterValue, match=words):
        w.jobs.create(name="bad", job_clusters=[JobCluster.from_dict(
            {"job_cluster_key": "a", "new_cluster": cluster})], tasks=[Task(
                task_key="t", job_cluster_key="a",
                spark_python_task=SparkPythonTask(python_file="dbfs:/x.py"))])
    good = create(w, two_cluster_settings())
    with pytest.raises(InvalidParameterValue, match=words):
        w.jobs.update(good, new_settings=JobSettings(job_clusters=[JobCluster.from_dict(
            {"job_cluster_key": "a", "new_cluster": cluster})]))
    assert w.jobs.get(good).settings.job_clusters[0].new_cluster.node_type_id == "m5d.xlarge"


def test_task_must_reference_a_defined_job_cluster(ws: RunningWorkspace) -> None:
    w = client(ws)
    with pytest.raises(InvalidParameterValue, match="'ghost'"):
        w.jobs.create(name="x", tasks=[Task(task_key="t", job_cluster_key="ghost",
                                            spark_python_task=SparkPythonTask(python_file="f"))])


def test_api_2_2_pages_long_task_lists(ws: RunningWorkspace) -> None:
    w = client(ws)
    tasks = [{"task_key": f"t{i:03d}", "job_cluster_key": "a"} for i in range(130)]
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "wide", "job_clusters": [{"job_cluster_key": "a", "new_cluster": spec()}],
        "tasks": tasks})["job_id"]
    first = raw(ws, "GET", "/api/2.2/jobs/get", params={"job_id": job_id}).json()
    assert len(first["settings"]["tasks"]) == 100 and first["has_more"] is True
    second = raw(ws, "GET", "/api/2.2/jobs/get", params={
        "job_id": job_id, "page_token": first["next_page_token"]}).json()
    assert [t["task_key"] for t in second["settings"]["tasks"]] == [
        f"t{i:03d}" for i in range(100, 130)]
    assert "next_page_token" not in second
    assert len(raw(ws, "GET", "/api/2.1/jobs/get", params={"job_id": job_id}).json()[
        "settings"]["tasks"]) == 130  # 2.1 never pages
    # The SDK merges the pages back, for jobs/get, jobs/list and runs/get alike.
    assert len(w.jobs.get(job_id).settings.tasks) == 130
    listed, = w.jobs.list(expand_tasks=True)
    assert len(listed.settings.tasks) == 130
    run_id = w.jobs.run_now(job_id).run_id
    assert ws.wait_idle(10)
    run = w.jobs.get_run(run_id)
    assert len(run.tasks) == 130 and len({t.run_id for t in run.tasks}) == 130
    assert len({t.cluster_instance.cluster_id for t in run.tasks}) == 1


def test_a_request_cut_off_mid_body_is_not_acted_on(ws: RunningWorkspace) -> None:
    """A demo stopped by Ctrl-C while it sent jobs/create left a job with no name or settings: the
    emulator read the missing body as an empty one and created a job from it."""
    import socket
    import time

    host, port = ws.host.rsplit("/", 1)[1].rsplit(":", 1)
    body = b'{"name": "cut-off", "max_concurrent_runs": 1}'
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"POST /api/2.1/jobs/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {ws.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body[:10])
        conn.shutdown(socket.SHUT_WR)  # gone before the rest of the body
        conn.settimeout(10)
        assert conn.recv(1024) == b""  # no reply: the connection is closed without one
    time.sleep(0.1)
    assert raw(ws, "GET", "/api/2.1/jobs/list").json().get("jobs", []) == []
    # A whole request on a new connection still works.
    assert raw(ws, "POST", "/api/2.1/jobs/create", json={"name": "whole"}).json()["job_id"] >= 1
