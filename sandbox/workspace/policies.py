"""Cluster policies: `policies/clusters/create|edit|get`, and a job cluster spec checked against its
policy, on jobs/create|reset|update and again when a run's cluster is created.

A policy definition maps attribute paths (dots for nested fields: ``aws_attributes.availability``)
to one rule each; attributes it does not name are not limited (Databricks' compute policy
reference). The rule types emulated: ``fixed`` (``value``), ``forbidden``, ``allowlist`` and
``blocklist`` (``values``), ``regex`` (``pattern``, matched against the whole value), ``range``
(``minValue``/``maxValue``, either may be left out) and ``unlimited``. A rule makes its attribute
required: a spec that leaves it out is refused ("the value must be present") unless the rule says
``isOptional: true``, is ``forbidden``, fixes the value (the service fills it in), or has a
``defaultValue`` and the spec asks for defaults (``apply_policy_default_values: true``; the default
is then judged like a value the spec sets). What the policy fills in comes first, then the pools are
resolved, then the cluster is validated (`as_created`, `refusal`): a fixed autoscale range beside the
spec's num_workers, or a pool it fixes beside the spec's node type, is refused; the sizing of the
shape the spec does not use is not required under a definition ruling both. The driver's type is
the workers' when the spec names none and the policy fills none in, and a pool supplies the node
types of a spec that names one. The virtual attribute
``dbus_per_hour`` is the most DBUs per hour the cluster burns: its driver plus every worker
(``autoscale.max_workers`` when it autoscales), at the node types' DBU rates (`sandbox.nodes`),
times Photon's multiplier when the cluster runs Photon (``runtime_engine: PHOTON``, the spec's or one
the policy fills in, or a ``-photon-`` runtime with no engine set); its rule judges that number. The virtual
``cluster_type`` is not emulated (every spec checked here is a job cluster's). A spec that names
an unknown policy is refused as the service refuses it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from sandbox.nodes import PHOTON_DBU_MULTIPLIER, UnknownNodeType, get_node_type
from sandbox.sim.cluster import spot_cap_refusal, validate_cluster_spec
from sandbox.workspace import pools
from sandbox.workspace.errors import ApiError, invalid

RULE_TYPES = frozenset({"fixed", "forbidden", "allowlist", "blocklist", "regex", "range", "unlimited"})
DBUS_PER_HOUR = "dbus_per_hour"
# Virtual attributes: computed from the spec, never set in it, so never "missing".
VIRTUAL = frozenset({DBUS_PER_HOUR, "cluster_type"})
SPOT_CAP_PATH = "azure_attributes.spot_bid_max_price"
CAP_ONLY = frozenset({SPOT_CAP_PATH})


def _policies(data: dict[str, Any]) -> dict[str, Any]:
    # State files written before policies existed have no such key: created on first use.
    return data.setdefault("policies", {})


def policy_missing(policy_id: object) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Can't find a cluster policy with id: {policy_id}.")


def create_policy(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``POST policies/clusters/create {name, definition}`` -> ``{policy_id}``."""
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise invalid("Missing required field: name (1 to 100 characters)")
    if any(p["name"] == name for p in _policies(data).values()):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Policy with name {name} already exists.")
    text = body.get("definition") or "{}"
    definition = parse_definition(text)
    counters = data["counters"]
    counters["policy_id"] = int(counters.get("policy_id", 0)) + 1
    # The service's ids are 16 hex digits.
    policy_id = f"{0xE0000000000000 + counters['policy_id']:016X}"
    _policies(data)[policy_id] = {"policy_id": policy_id, "name": name,
                                  "definition": json.dumps(definition)}
    return {"policy_id": policy_id}


def get_policy(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``GET policies/clusters/get?policy_id=`` -> ``{policy_id, name, definition}``."""
    return dict(_policy(data, params.get("policy_id")))


def _policy(data: dict[str, Any], policy_id: Any) -> dict[str, Any]:
    """The stored policy ``policy_id`` names; 400 without one, 404 for an unknown one."""
    if not policy_id:
        raise invalid("Missing required field: policy_id")
    policy = _policies(data).get(str(policy_id))
    if policy is None:
        raise policy_missing(policy_id)
    return policy


def parse_definition(text: Any) -> dict[str, dict[str, Any]]:
    """A definition as sent (a JSON string): each attribute's rule an object with a known type."""
    try:
        definition = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        raise invalid(f"Invalid policy definition: {exc}") from exc
    if not isinstance(definition, dict):
        raise invalid("Invalid policy definition: it must be a JSON object")
    for path, rule in definition.items():
        if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES:
            raise invalid(f"Invalid policy definition for {path}: unknown policy type "
                          f"{rule.get('type') if isinstance(rule, dict) else rule!r}")
    return definition


def check_spec(data: dict[str, Any], spec: Mapping[str, Any]) -> None:
    """Refuse a cluster spec its policy does not allow (400 ``INVALID_PARAMETER_VALUE``)."""
    why = refusal(data, spec)
    if why is not None:
        raise invalid(why)


def refusal(data: dict[str, Any], spec: Mapping[str, Any]) -> str | None:
    """The service's message refusing ``spec`` under its policy as the policy stands now ("Cluster
    validation error: Validation failed for num_workers, ..."); None when it is allowed or names no
    policy. Judged on ``jobs/create|reset|update`` and again when a run's cluster is created, so a
    policy edited since the job was saved fails the run at start."""
    policy_id = spec.get("policy_id")
    if not policy_id:
        return None
    policy = _policies(data).get(str(policy_id))
    if policy is None:
        return f"Cluster validation error: Can't find a cluster policy with id: {policy_id}."
    definition = json.loads(policy["definition"])
    filled = with_policy_values(data, spec, spec)
    try:
        # The node types the cluster gets: a pool's (the spec's or one the policy fills in) fill in
        # those the spec leaves to it.
        resolved = pools.resolve_spec(data, filled)
    except ValueError:
        resolved = filled  # an unknown pool is refused by `pools.check_spec` with its own message
    problems = violations(definition, spec, resolved=resolved)
    if filled_in(definition, spec, _flatten(spec)):
        # What the policy fills in is the cluster's like what the spec sets: a fixed autoscale range
        # beside the spec's num_workers, or a pool beside its node type, is refused like the spec's own.
        try:
            pools.check_spec(data, filled)
            # A spot cap filled in is judged above, in its own words.
            validate_cluster_spec(pools.resolve_spec(data, with_policy_values(data, spec, spec, but=CAP_ONLY)))
        except ApiError as exc:
            problems.append(exc.message)
        except ValueError as exc:
            problems.append(str(exc.args[0] if exc.args else exc))
    # A value the policy fills in is the cluster's like one the spec sets: an Azure spot cap above the
    # workers' on-demand price is refused as the spec's own is (`sandbox.sim.cluster`).
    try:
        own = pools.resolve_spec(data, spec)  # a pool's own cap is the cluster's: none filled in over it
    except ValueError:
        own = dict(spec)
    cap = filled_in(definition, spec, _flatten(own)).get(SPOT_CAP_PATH)
    if cap is not None and (why := spot_cap_refusal(cap, resolved.get("node_type_id"))) is not None:
        problems.append(f"Invalid {why} (filled in by the policy)")
    return "Cluster validation error: " + "; ".join(problems) if problems else None


def edit_policy(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``POST policies/clusters/edit {policy_id, name?, definition?}`` -> ``{}``: the policy's name and
    definition replaced (one left out is kept). Jobs already saved under it are not re-checked (as the service does): their
    next run's cluster is, when it is created."""
    policy = _policy(data, body.get("policy_id"))
    # The SDK sends name and definition as optional fields: one left out is kept.
    name = body.get("name", policy["name"])
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise invalid("Invalid field: name (1 to 100 characters)")
    if any(p["name"] == name and pid != policy["policy_id"] for pid, p in _policies(data).items()):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Policy with name {name} already exists.")
    definition = parse_definition(body.get("definition") or policy["definition"])
    policy.update({"name": name, "definition": json.dumps(definition)})
    return {}


def violations(definition: Mapping[str, Mapping[str, Any]], spec: Mapping[str, Any], *,
               resolved: Mapping[str, Any] | None = None) -> list[str]:
    """The service's sentence for each attribute of ``spec`` its rule refuses, in path order.

    ``resolved`` is ``spec`` with its pools' node types filled in (`pools.resolve_spec`)."""
    flat = _flatten(spec)
    cluster = _flatten(resolved if resolved is not None else spec)  # what the cluster runs on
    cluster.update(filled_in(definition, spec, cluster))
    # The sizing field of the shape the spec does not use (``num_workers`` of an autoscaling spec,
    # ``autoscale.*`` of a fixed-size one) is not required when the definition rules both shapes (no
    # cluster could have both); ruling that shape only, it is.
    unused = {"num_workers"} if any(p.startswith("autoscale.") for p in flat) else {"autoscale"}
    if not ("num_workers" in definition and any(p.startswith("autoscale.") for p in definition)):
        unused = set()
    out = []
    for path in sorted(definition):
        rule = definition[path]
        if path == DBUS_PER_HOUR:
            why = _dbus_refusal(rule, cluster)
        elif path in VIRTUAL or rule.get("type") == "forbidden" and path not in flat:
            why = None
        elif path in flat:
            why = _refusal(rule, flat[path])
        elif path in ("node_type_id", "driver_node_type_id") and cluster.get("instance_pool_id"):
            why = None  # the pool supplies the node types
        elif path.split(".")[0] in unused:
            why = None  # the other shape's sizing (one filled in beside the spec's is refused: `refusal`)
        elif path in cluster:
            # Filled in (before the driver falls back to the workers' type): a fixed value passes, a
            # default is judged.
            why = _refusal(rule, cluster[path])
        elif path == "driver_node_type_id" and "node_type_id" in cluster:
            why = _refusal(rule, cluster["node_type_id"])  # the driver runs on the workers' type
        elif rule.get("isOptional") is True:
            why = None
        else:
            why = "the value must be present"
        if why is not None:
            out.append(f"Validation failed for {path}, {why}")
    return out


def filled_in(definition: Mapping[str, Mapping[str, Any]], spec: Mapping[str, Any],
              cluster: Mapping[str, Any]) -> dict[str, Any]:
    """What the service fills into ``spec`` (``cluster`` its flattened paths, a pool's node types
    included) before judging it and when it creates the cluster: fixed values always, defaults when
    the spec asks for them (``apply_policy_default_values``), each only where the spec leaves it out."""
    apply_defaults = spec.get("apply_policy_default_values") is True
    out: dict[str, Any] = {}
    for path, rule in definition.items():
        if path in VIRTUAL or path in cluster:
            continue
        if rule.get("type") == "fixed":
            out[path] = rule.get("value")
        elif "defaultValue" in rule and apply_defaults:
            out[path] = rule["defaultValue"]
    if cluster.get("instance_pool_id") or out.get("instance_pool_id"):
        # A pool supplies the node types: the policy's are not filled in beside it.
        out = {k: v for k, v in out.items() if k not in ("node_type_id", "driver_node_type_id")}
    return out


# Map attributes whose keys hold dots themselves ("spark_conf.spark.sql.shuffle.partitions"): the
# rest of a path under one of them is a single key.
_MAP_ATTRIBUTES = frozenset({"spark_conf", "spark_env_vars", "custom_tags"})


def with_policy_values(data: dict[str, Any], spec: Mapping[str, Any], resolved: Mapping[str, Any], *,
                       but: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``resolved`` (``spec`` with its pools' node types and attributes, `pools.resolve_spec`) with what
    its cluster policy fills in where it leaves an attribute out (`filled_in`: fixed values always,
    defaults when the spec asks for them): what the service creates the cluster with, so what it runs
    on (a policy fixing ``aws_attributes.availability`` to ON_DEMAND runs every node on demand) and
    what its ``clusters/get`` record shows. ``resolved`` as it is when the spec names no policy or an
    unknown one (refused by `refusal`). Array paths (``init_scripts.0.…``, ``*``) and the virtual
    ``cluster_log_conf.*`` ones are not filled in: not emulated, nor the paths in ``but``."""
    out = copy.deepcopy(dict(resolved))
    policy = _policies(data).get(str(spec.get("policy_id") or ""))
    if policy is None:
        return out
    for path, value in filled_in(json.loads(policy["definition"]), spec, _flatten(resolved)).items():
        parts = path.split(".")
        if path in but or parts[0] == "cluster_log_conf" or any(p == "*" or p.isdigit() for p in parts):
            continue
        if parts[0] in _MAP_ATTRIBUTES:
            parts = [parts[0], ".".join(parts[1:])]
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
    return out


def as_created(data: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster the service creates from ``spec``: what its policy fills in first (a pool it fixes
    among them), then its pools' node types and attributes (`pools.resolve_spec`). Raises ValueError
    for an unknown pool."""
    return pools.resolve_spec(data, with_policy_values(data, spec, spec))


def _dbus_refusal(rule: Mapping[str, Any], cluster: Mapping[str, Any]) -> str | None:
    """The ``dbus_per_hour`` rule judged on the cluster's DBUs per hour with every worker up.

    ``cluster``: the flattened cluster as created, what the policy fills in included: a policy fixing
    ``runtime_engine: PHOTON`` makes it burn Photon's DBUs, though the spec says nothing of it."""
    node = str(cluster.get("node_type_id") or "")
    driver = str(cluster.get("driver_node_type_id") or "") or node
    workers = cluster.get("autoscale.max_workers", cluster.get("num_workers", 0))
    try:
        burn = get_node_type(driver).dbus_per_hour + float(workers or 0) * get_node_type(node).dbus_per_hour
    except (UnknownNodeType, TypeError, ValueError):
        return f'the value must be a number (is "{_text(workers)} workers of {node or "no node type"}")'
    if _photon(cluster):
        burn *= PHOTON_DBU_MULTIPLIER[get_node_type(node).cloud]
    return _refusal(rule, round(burn, 4))


def _photon(cluster: Mapping[str, Any]) -> bool:
    """Whether the cluster runs Photon. Clusters API, ``runtime_engine``: "If left unspecified, the
    runtime engine defaults to standard unless the spark_version contains -photon-"."""
    engine = str(cluster.get("runtime_engine") or "").upper()
    return engine == "PHOTON" if engine else "-photon-" in str(cluster.get("spark_version") or "").lower()


def _refusal(rule: Mapping[str, Any], value: Any) -> str | None:
    kind = rule.get("type")
    shown = f'(is "{_text(value)}")'
    if kind == "fixed":
        return None if _same(value, rule.get("value")) else f"the value must be {_text(rule.get('value'))} {shown}"
    if kind == "forbidden":
        return "the value must not be present"
    if kind == "allowlist":
        allowed = list(rule.get("values") or [])
        return None if any(_same(value, v) for v in allowed) else \
            f"the value must be one of [{', '.join(_text(v) for v in allowed)}] {shown}"
    if kind == "blocklist":
        blocked = list(rule.get("values") or [])
        return f"the value must not be one of [{', '.join(_text(v) for v in blocked)}] {shown}" \
            if any(_same(value, v) for v in blocked) else None
    if kind == "regex":
        pattern = str(rule.get("pattern") or "")
        # The service anchors the pattern at both ends of the value.
        return None if re.fullmatch(pattern, _text(value)) else \
            f'the value must match the regular expression "{pattern}" {shown}'
    if kind == "range":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"the value must be a number {shown}"
        low, high = rule.get("minValue"), rule.get("maxValue")
        if low is not None and number < float(low):
            return f"the value must be at least {_text(low)} {shown}"
        if high is not None and number > float(high):
            return f"the value must be at most {_text(high)} {shown}"
    return None


def _same(value: Any, expected: Any) -> bool:
    """Policy values compare as the service compares them: numbers by value, the rest as text."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return _text(value) == _text(expected)
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return float(value) == float(expected)
    return _text(value) == _text(expected)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
