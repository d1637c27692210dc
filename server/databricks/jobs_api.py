"""The gateway's calls on jobs, runs and clusters (with cluster policies and instance pools): the
Jobs and Clusters APIs, their pages merged into one answer, a 403 on one job told from a refused
token. Part of :class:`server.databricks.gateway.DatabricksGateway`, the one class callers use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from server.databricks.errors import WorkspaceAuthError
from server.databricks.paths import CLUSTERS, INSTANCE_POOLS, JOBS, POLICIES
from server.databricks.translate import DatabricksPermissionDenied, _message, lacks_permission
from server.databricks.transport import Transport


class JobsApi(Transport):
    """Jobs, runs and clusters of one workspace, as plain dicts."""

    # ------------------------------------------------------------ jobs

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job with its tasks and clusters (all pages)."""
        return self._every_job()

    def list_job_settings(self) -> list[dict[str, Any]]:
        """Every job with its tasks and clusters, as the collector looks over them each poll: the same
        listing as `list_jobs` (auto-import's), apart so that each can be told apart and counted.
        API 2.2 cuts a job's arrays at 100 entries here; such a job says ``has_more``."""
        return self._every_job()

    def _every_job(self) -> list[dict[str, Any]]:
        return list(self._pages("GET", f"{JOBS}/list", "jobs", {"limit": 100, "expand_tasks": True},
                                dedupe_key="job_id"))

    def get_job(self, job_id: int) -> dict[str, Any]:
        """``jobs/get`` with the 2.2 array pages (tasks, job_clusters...) merged into one."""
        job = self._job_call(job_id, "CAN_VIEW", "GET", f"{JOBS}/get", query={"job_id": job_id})
        token = job.pop("next_page_token", None)
        while token:
            page = self._job_call(job_id, "CAN_VIEW", "GET", f"{JOBS}/get",
                                  query={"job_id": job_id, "page_token": token})
            _merge_array_pages(job.setdefault("settings", {}), page.get("settings") or {}, JOB_PAGED_ARRAYS)
            token = page.get("next_page_token")
        job.pop("has_more", None)
        return job

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        """Partial update: top-level fields replaced, ``tasks``/``job_clusters`` merged by key."""
        self._job_call(job_id, "CAN_MANAGE", "POST", f"{JOBS}/update",
                       body={"job_id": job_id, "new_settings": new_settings})

    def _job_call(self, job_id: int, needs: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call on one job whose 403 may be that job's alone: the token's principal lacks ``needs``
        on it (jobs/list shows jobs it may only view) while every other call works (`_resource_call`)."""
        return self._resource_call(_needs(needs, job_id), method, path, **kwargs)

    def create_job(self, settings: dict[str, Any]) -> int:
        return int(self._do("POST", f"{JOBS}/create", body=settings, retry_5xx=False)["job_id"])

    def delete_job(self, job_id: int) -> None:
        self._do("POST", f"{JOBS}/delete", body={"job_id": job_id})

    def run_now(self, job_id: int, idempotency_token: str | None = None) -> int:
        """Start a run; retried like any call, since the SDK retries this POST itself anyway (on a
        429, a 503 or a connection aborted, any of which may follow a run already started). The
        ``idempotency_token`` (one per call unless given) makes every retry return the run the
        first attempt started instead of starting another."""
        token = idempotency_token or uuid.uuid4().hex
        body = {"job_id": job_id, "idempotency_token": token}
        return int(self._do("POST", f"{JOBS}/run-now", body=body)["run_id"])

    # ------------------------------------------------------------ runs

    def list_runs(self, job_id: int, *, newer_than_run_id: int | None = None,
                  completed_only: bool = False) -> list[dict[str, Any]]:
        """Runs of a job newer than a run id, newest first, each once (pages can repeat runs).

        Run ids grow with time and the list is newest first, so paging stops at
        the first page that reaches ``newer_than_run_id``: a job's long history
        is not re-read on every poll.
        """
        query: dict[str, Any] = {"job_id": job_id, "limit": 20}
        if completed_only:
            query["completed_only"] = True
        out = []
        for run in self._pages("GET", f"{JOBS}/runs/list", "runs", query, dedupe_key="run_id",
                               stop=lambda r: newer_than_run_id is not None
                               and int(r["run_id"]) <= newer_than_run_id, lacking=_needs("CAN_VIEW", job_id)):
            if newer_than_run_id is None or int(run["run_id"]) > newer_than_run_id:
                out.append(run)
        return out

    def list_workspace_runs(self, *, started_from_ms: int | None = None,
                            active_only: bool = False) -> list[dict[str, Any]]:
        """Runs of every job (``runs/list`` without ``job_id``) that started at or after
        ``started_from_ms`` (Databricks' clock; None: any), or only those still going, newest first,
        each once, every page (25 runs a page, the API's most)."""
        query: dict[str, Any] = {"limit": 25}
        if started_from_ms is not None:
            query["start_time_from"] = started_from_ms
        if active_only:
            query["active_only"] = True
        return list(self._pages("GET", f"{JOBS}/runs/list", "runs", query, dedupe_key="run_id"))

    def newest_run(self) -> dict[str, Any] | None:
        """The workspace's run that started last (any job, any state), or None: one page of one run."""
        runs = self._do("GET", f"{JOBS}/runs/list", query={"limit": 1}).get("runs") or []
        return runs[0] if runs else None

    def latest_run_id(self, job_id: int) -> int | None:
        """The newest run of a job (any state), or None when it never ran: one page only."""
        page = self._resource_call(_needs("CAN_VIEW", job_id), "GET", f"{JOBS}/runs/list",
                                   query={"job_id": job_id, "limit": 1})
        runs = page.get("runs") or []
        return max((int(r["run_id"]) for r in runs), default=None)

    def get_run(self, run_id: int) -> dict[str, Any]:
        # include_history: the repair history is sent only when asked for (the collector reads it).
        run = self._run_call(run_id, query={"run_id": run_id, "include_history": "true"})
        token = run.pop("next_page_token", None)
        # As the SDK's get_run: a for-each task's run pages its iterations (its one task is on the
        # first page only); any other run pages its tasks.
        paged = ("iterations",) if run.get("iterations") else ("tasks",)
        while token:
            page = self._run_call(run_id, query={"run_id": run_id, "page_token": token, "include_history": "true"})
            _merge_array_pages(run, page, paged + RUN_PAGED_ARRAYS)
            token = page.get("next_page_token")
        run.pop("has_more", None)
        return run

    def _run_call(self, run_id: int, **kwargs: Any) -> dict[str, Any]:
        return self._resource_call(
            f"the token's principal may not read run {run_id} (it needs CAN_VIEW on the run's job)",
            "GET", f"{JOBS}/runs/get", **kwargs)

    # ------------------------------------------------------------ clusters

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        return self._resource_call(
            f"the token's principal may not read cluster {cluster_id} (a job's cluster: it needs CAN_VIEW on "
            "the job)", "GET", f"{CLUSTERS}/get", query={"cluster_id": cluster_id})

    def cluster_events(self, cluster_id: str, *, start_time_ms: int | None = None,
                       end_time_ms: int | None = None, page_size: int = 500) -> list[dict[str, Any]]:
        """Every event of a cluster, oldest first, following all pages.

        Pages as the SDK's ``clusters.events`` iterator does: the next request is the answer's
        ``next_page`` (the complete body of the next request) while there is one. An answer with
        only a ``next_page_token`` is followed with ``page_token`` and the same ``page_size``:
        never with the deprecated ``limit``/``offset``, which the REST reference says not to mix
        with tokens."""
        body: dict[str, Any] = {"cluster_id": cluster_id, "order": "ASC", "page_size": page_size}
        if start_time_ms is not None:
            body["start_time"] = start_time_ms
        if end_time_ms is not None:
            body["end_time"] = end_time_ms
        events: list[dict[str, Any]] = []
        request: dict[str, Any] | None = body
        while request is not None:
            page = self._resource_call(
                f"the token's principal may not read the events of cluster {cluster_id} (a job's cluster: it "
                "needs CAN_VIEW on the job)", "POST", f"{CLUSTERS}/events", body=request)
            events.extend(page.get("events") or [])
            if isinstance(page.get("next_page"), dict) and page["next_page"]:
                request = page["next_page"]
            elif page.get("next_page_token"):
                request = {**body, "page_token": page["next_page_token"]}
            else:
                request = None
        return events

    def get_cluster_policy(self, policy_id: str) -> dict[str, Any]:
        """``policies/clusters/get``: ``{policy_id, name, definition}``, the definition a JSON string.

        An unknown id is :class:`DatabricksNotFound` (404) or :class:`DatabricksRejected` (400). A 403
        while the token works is this policy's alone (its principal lacks CAN_USE on it):
        :class:`DatabricksPermissionDenied`, which leaves the workspace's status alone; a token refused
        outright is still :class:`WorkspaceAuthError` (`check_token` tells them apart)."""
        try:
            return self._do("GET", f"{POLICIES}/get", query={"policy_id": policy_id})
        except WorkspaceAuthError as err:
            if lacks_permission(err):
                self.check_token()  # raises WorkspaceAuthError when the token itself is refused
                raise DatabricksPermissionDenied(self._principal_words(
                    f"the token's principal cannot read cluster policy {policy_id} (CAN_USE on it, or workspace "
                    f"admin): {_message(err.__cause__)}")) from err.__cause__
            raise

    def get_instance_pool(self, pool_id: str) -> dict[str, Any]:
        """``instance-pools/get``: the pool (``instance_pool_id``, ``node_type_id``, ``max_capacity``...).

        An unknown id is :class:`DatabricksNotFound` (404) or :class:`DatabricksRejected` (400)."""
        return self._do("GET", f"{INSTANCE_POOLS}/get", query={"instance_pool_id": pool_id})


# The arrays a 2.2 jobs/get and runs/get answer pages (databricks-sdk mixins/jobs.py `get` and
# `get_run`): only these are appended from later pages; any other list a later page carries is
# the same field again, not more of it.
JOB_PAGED_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
RUN_PAGED_ARRAYS = ("job_clusters", "job_parameters", "repair_history")


def _needs(permission: str, job_id: int) -> str:
    """What a 403 on one job's call says the token's principal lacks."""
    return (f"the token's principal needs {permission} on job {job_id} (a job owner or workspace admin can "
            "grant it in the job's permissions)")


def _merge_array_pages(into: dict[str, Any], page: dict[str, Any], arrays: Iterable[str]) -> None:
    """Append a 2.2 page's named arrays to the first page's."""
    for key in arrays:
        value = page.get(key)
        if isinstance(value, list):
            into.setdefault(key, [])
            into[key].extend(value)
