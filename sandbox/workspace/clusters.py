"""Clusters API views: the ClusterDetails record of a job cluster and its event stream."""

from __future__ import annotations

import copy
import hashlib
import time
from typing import Any

from sandbox.nodes import UnknownNodeType, get_node_type
from sandbox.workspace.errors import cluster_missing, invalid
from sandbox.workspace.paging import decode_token, encode_token, int_param

# Spec fields copied from the job's new_cluster onto ClusterDetails.
SPEC_FIELDS = (
    "spark_version", "node_type_id", "driver_node_type_id", "num_workers", "autoscale",
    "aws_attributes", "azure_attributes", "gcp_attributes", "spark_conf", "spark_env_vars",
    "custom_tags", "init_scripts", "cluster_log_conf", "runtime_engine", "enable_elastic_disk",
    "enable_local_disk_encryption", "policy_id", "instance_pool_id", "driver_instance_pool_id",
    "data_security_mode", "single_user_name", "ssh_public_keys", "workload_type",
)


def make_cluster_id(start_ms: int, *salt: object) -> str:
    """Databricks-looking id: MMDD-HHMMSS-<8 chars>, unique per (run, cluster key)."""
    stamp = time.strftime("%m%d-%H%M%S", time.gmtime(start_ms / 1000))
    digest = hashlib.sha1(repr(salt).encode()).hexdigest()
    return f"{stamp}-{digest[:8]}"


def make_spark_context_id(*salt: object) -> str:
    digest = hashlib.sha1(("ctx", *salt).__repr__().encode()).hexdigest()
    return str(int(digest[:15], 16))


def new_cluster_record(cluster_id: str, spec: dict[str, Any], *, job_id: int, run_name: str,
                       task_run_id: int, start_ms: int, user_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cluster's ``clusters/get`` record: its fields as it runs (``spec``: what its cluster policy
    fills in included), and ``spec`` the user's settings (``user_spec``, without the policy's values;
    ``spec`` when not given)."""
    name = f"job-{job_id}-run-{task_run_id}"
    asked = spec if user_spec is None else user_spec
    record: dict[str, Any] = {k: copy.deepcopy(spec[k]) for k in SPEC_FIELDS if k in spec}
    record.setdefault("driver_node_type_id", spec.get("node_type_id"))
    record.update({
        "cluster_id": cluster_id,
        "cluster_name": name,
        "creator_user_name": "sandbox@trimtab.local",
        "cluster_source": "JOB",
        "state": "PENDING",
        "state_message": "Starting Spark",
        "start_time": start_ms,
        # As the user sent it: a pool-backed spec names the pools, not the types they supplied.
        "spec": {k: copy.deepcopy(v) for k, v in asked.items()
                 if not (asked.get("instance_pool_id") and k in ("node_type_id", "driver_node_type_id"))},
        "default_tags": {
            "Vendor": "Databricks", "Creator": "sandbox@trimtab.local", "ClusterName": name,
            "ClusterId": cluster_id, "JobId": str(job_id), "RunName": run_name,
        },
    })
    record.setdefault("custom_tags", {})
    return record


def spark_node(node: Any) -> dict[str, Any]:
    """A ``SparkNode``: ``node_aws_attributes`` on an AWS node type only, whatever attributes block
    the spec has (an Azure spec may have none: Databricks' defaults apply)."""
    out: dict[str, Any] = {
        "node_id": hashlib.sha1(node.instance_id.encode()).hexdigest()[:32],
        "instance_id": node.instance_id,
        "private_ip": node.private_ip,
        "host_private_ip": node.private_ip,
        "start_timestamp": node.start_ms,
        "node_type_id": node.node_type_id,
    }
    if _on_aws(node.node_type_id):
        out["node_aws_attributes"] = {"is_spot": bool(node.spot)}
    return out


def _on_aws(node_type_id: str) -> bool:
    """Whether the node type is an AWS one (the cloud is the node type's, as Databricks knows it)."""
    try:
        return get_node_type(node_type_id).cloud == "aws"
    except UnknownNodeType:
        return not node_type_id.startswith("Standard_")  # every Azure VM size is named Standard_*


def set_nodes(record: dict[str, Any], nodes: list[Any], at_ms: int) -> None:
    """Driver and executors alive at `at_ms` (lost or released nodes drop out)."""
    alive = [n for n in nodes if n.start_ms <= at_ms < n.end_ms]
    driver = next((n for n in nodes if n.is_driver), None)
    if driver is not None:
        record["driver"] = spark_node(driver)
    record["executors"] = [spark_node(n) for n in alive if not n.is_driver]


def event_dict(cluster_id: str, event: Any) -> dict[str, Any]:
    return {"cluster_id": cluster_id, "timestamp": int(event.timestamp_ms), "type": event.type,
            "details": copy.deepcopy(event.details)}


def get_cluster(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    cluster_id = params.get("cluster_id")
    if not cluster_id:
        raise invalid("Missing required field: cluster_id")
    record = data["clusters"].get(str(cluster_id))
    if record is None:
        raise cluster_missing(cluster_id)
    return record


def list_events(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """POST clusters/events: filter, order, and page.

    Two ways to page, as the REST reference has them: the deprecated ``limit``/``offset`` (the
    answer's ``next_page`` is the next request's whole body), and ``page_size`` with
    ``page_token`` (the answer's ``next_page_token``, and a ``next_page`` carrying it, which is
    what databricks-sdk's ``clusters.events`` iterator follows). Mixing the two is refused."""
    get_cluster(data, body)
    events = list(data["events"].get(str(body["cluster_id"]), []))
    start = int_param(body, "start_time")
    end = int_param(body, "end_time")
    types = set(body.get("event_types") or [])
    events = [e for e in events
              if (start is None or e["timestamp"] >= start)
              and (end is None or e["timestamp"] <= end)
              and (not types or e["type"] in types)]
    order = str(body.get("order") or "DESC").upper()
    if order not in {"ASC", "DESC"}:
        raise invalid(f"Invalid order: {order}")
    events.sort(key=lambda e: e["timestamp"], reverse=order == "DESC")
    tokens = body.get("page_size") is not None or bool(body.get("page_token"))
    if tokens:
        if body.get("limit") is not None or body.get("offset") is not None:
            raise invalid("page_token and page_size cannot be used with the deprecated limit and offset")
        limit = int_param(body, "page_size", 0) or 50
        offset = decode_token(str(body["page_token"])) if body.get("page_token") else 0
    else:
        limit = int_param(body, "limit", 50) or 50
        offset = int_param(body, "offset", 0) or 0
    if not 1 <= limit <= 500:
        raise invalid(f"{'page_size' if tokens else 'limit'} must be between 1 and 500, got {limit}")
    out: dict[str, Any] = {"events": events[offset:offset + limit], "total_count": len(events)}
    if offset + limit < len(events):
        nxt = dict(body)
        if tokens:
            out["next_page_token"] = encode_token(offset + limit)
            nxt.update({"page_token": out["next_page_token"], "page_size": limit})
        else:
            nxt.update({"offset": offset + limit, "limit": limit})
        out["next_page"] = nxt
    if tokens and offset > 0:
        out["prev_page_token"] = encode_token(max(0, offset - limit))
    return out
