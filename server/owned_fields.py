"""The fields a recommendation owns in a cluster spec, and moving them from one spec to another."""

from __future__ import annotations

import copy
import json
from typing import Any

from server.spec import GP3_FIELDS, POOL_ID_FIELDS, SIZING_FIELDS, SPOT_CAP_FIELD, pool_fields


def _put_or_drop(spec: dict[str, Any], key: str, value: Any, original: dict[str, Any]) -> None:
    """``spec[key] = value``, or the key left out when ``value`` is empty and ``original`` had none."""
    if value or key in original:
        spec[key] = value
    else:
        spec.pop(key, None)


def _with_tag(tags: dict[str, Any] | None, source: dict[str, Any], tag: str) -> dict[str, Any]:
    """``tags`` with ``tag`` as ``source``'s custom_tags have it (removed when they lack it)."""
    out = dict(tags or {})
    value = (source.get("custom_tags") or {}).get(tag)
    if value is None:
        out.pop(tag, None)
    else:
        out[tag] = value
    return out


# What a recommendation sets (`server.spec.recommendation_overlay`) and so what revert and detach
# put back: the sizing, the node types, and the availability and disks of the cloud's attributes,
# and Azure's spot price cap, which an apply that changes the node types sets to -1
# (`server.spec.SPOT_CAP_FIELD`): the user's cap comes back with the node type it was set for.
# Not spark_version: a recommendation carries the job's own (the planner never changes it), so a
# different one on the job is the user's.
OWNED_NODE_FIELDS = ("node_type_id", "driver_node_type_id")


OWNED_ATTRIBUTES = ("availability", "first_on_demand", "ebs_volume_type", "ebs_volume_count", "ebs_volume_size",
                    *GP3_FIELDS, SPOT_CAP_FIELD)


def owned_from(base: dict[str, Any], target: dict[str, Any], *, cloud: str) -> dict[str, Any]:
    """``base`` (the live spec) with the fields Trimtab owns as ``target`` has them (removed where it
    lacks them); every other field of ``base``, the user's edits included, stays. As an apply merges
    a recommendation (`server.spec.merge_recommendation`): over an instance pool, or back to one,
    only the sizing (the pool owns the node types and availability)."""
    out = copy.deepcopy(base)
    if any(k in target for k in SIZING_FIELDS):
        for key in SIZING_FIELDS:
            out.pop(key, None)
        out.update({k: copy.deepcopy(target[k]) for k in SIZING_FIELDS if k in target})
    if pool_fields(base) or pool_fields(target):
        return out
    for key in OWNED_NODE_FIELDS:
        if key in target:
            out[key] = target[key]
        else:
            out.pop(key, None)
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    attrs = dict(out.get(block) or {})
    wanted = target.get(block) or {}
    for key in OWNED_ATTRIBUTES:
        if key in wanted:
            attrs[key] = copy.deepcopy(wanted[key])
        else:
            attrs.pop(key, None)
    _put_or_drop(out, block, attrs, target)
    return out


def _owned_label(spec: dict[str, Any], cloud: str) -> str:
    """The fields Trimtab owns of ``spec`` in a few words (a refusal names what to put back)."""
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    parts = [f"{key} {json.dumps(spec[key], sort_keys=True)}" for key in (*SIZING_FIELDS, *POOL_ID_FIELDS,
                                                                         *OWNED_NODE_FIELDS) if key in spec]
    attrs = spec.get(block) or {}
    parts += [f"{block}.{key} {json.dumps(attrs[key])}" for key in OWNED_ATTRIBUTES if key in attrs]
    return ", ".join(parts) or "none recorded"


def owned_drift(drift: list[str], live: dict[str, Any], written: dict[str, Any], *, cloud: str) -> list[str]:
    """The paths of ``drift`` (`server.spec.spec_drift`) that are fields Trimtab owns (`owned_from`:
    sizing, node types, availability and disks, and which instance pools back the cluster): a
    user's edit of one of them is a choice a revert must not write over."""
    block = "azure_attributes" if cloud == "azure" else "aws_attributes"
    attrs = {f"{block}.{key}" for key in OWNED_ATTRIBUTES}
    pooled = bool(pool_fields(live) or pool_fields(written))
    out = []
    for path in drift:
        top = path.split(".")[0]
        if top in SIZING_FIELDS or top in POOL_ID_FIELDS:
            out.append(path)
        elif not pooled and (top in OWNED_NODE_FIELDS or any(path == a or path.startswith(f"{a}.") for a in attrs)):
            # Over an instance pool the pool owns the node types and availability (`owned_from`).
            out.append(path)
    return out
