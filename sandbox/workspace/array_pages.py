"""API 2.2 paging of a job's or run's arrays: at most 100 entries each per response.

`jobs/get` and `runs/get` return the first 100 tasks (job clusters, parameters, ...)
with a `next_page_token`; the next request with `page_token` gets the following 100 of
every array that still has some. API 2.0/2.1 always return the arrays whole.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.workspace.paging import decode_token, encode_token

PAGE_SIZE = 100
JOB_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
RUN_ARRAYS = ("tasks", "job_clusters", "job_parameters", "repair_history", "iterations")


def page_arrays(obj: dict[str, Any], container: str | None, arrays: tuple[str, ...],
                page_token: str | None, id_field: str) -> dict[str, Any]:
    """The page of `obj` that `page_token` names (None: the first page, with every field)."""
    start = decode_token(page_token) if page_token else 0
    holder = obj.get(container, {}) if container else obj
    lengths = [len(holder.get(a) or []) for a in arrays]
    if page_token:
        out: dict[str, Any] = {id_field: obj[id_field]}
        body: dict[str, Any] = {}
        for a in arrays:
            chunk = (holder.get(a) or [])[start:start + PAGE_SIZE]
            if chunk:
                body[a] = copy.deepcopy(chunk)
        if container:
            out[container] = body
        else:
            out.update(body)
    else:
        out = copy.deepcopy(obj)
        target = out.get(container, {}) if container else out
        for a in arrays:
            if a in target:
                target[a] = target[a][:PAGE_SIZE]
    more = any(n > start + PAGE_SIZE for n in lengths)
    out["has_more"] = more
    if more:
        out["next_page_token"] = encode_token(start + PAGE_SIZE)
    return out


def truncated(job: dict[str, Any]) -> dict[str, Any]:
    """A job as jobs/list shows it with expand_tasks in 2.2: first 100 of each array."""
    first = page_arrays(job, "settings", JOB_ARRAYS, None, "job_id")
    first.pop("next_page_token", None)
    return first
