"""A job cluster's cluster policy, and whether a recommendation stays inside it (pure).

Databricks checks a job cluster spec that names a ``policy_id`` against that policy's definition
on ``jobs/create|reset|update`` and again when a run's cluster starts; a spec outside it is
refused (400 ``INVALID_PARAMETER_VALUE`` "Cluster validation error: Validation failed for
node_type_id, ..."). The planner therefore only offers configurations whose spec, as applying
them would write it, satisfies the policy.

A definition maps attribute paths (dots for nested fields) to one rule each (Databricks' compute
policy reference). What is judged:

- the rules on the attributes a recommendation writes (`WRITTEN_ATTRIBUTES`) of the types fixed,
  forbidden, allowlist, blocklist, regex, range and unlimited, on the value the spec sets;
- an attribute the spec leaves out (``num_workers`` of an autoscaling cluster, ``autoscale.*`` of a
  fixed-size one): a rule makes its attribute required unless it says ``isOptional: true``. A fixed
  value is filled in by Databricks, and so is the rule's ``defaultValue`` when the spec asks for
  defaults (``apply_policy_default_values: true``; without it only fixed values are applied, as
  the Clusters API says), and the default is then judged by the rule like a value the spec sets.
  ``forbidden`` needs the attribute left out. The node types a pool supplies (``instance_pool_id``)
  count as set, and the driver's type is the workers' when the spec names none and the policy fills
  none in (what it fills in comes first), as Databricks runs it. The sizing of the shape the spec
  does not use (``num_workers`` of an autoscaling spec, ``autoscale.*`` of a fixed-size one) is
  required only under a policy that rules that shape alone, and a value the policy fills in there is
  refused: Databricks refuses autoscale beside num_workers (`ClusterPolicy.sizing_shape`);
- the virtual attribute ``dbus_per_hour`` with a ``range`` rule: the most DBUs per hour the cluster
  can burn, driver included, with every worker up (``autoscale.max_workers`` when it autoscales),
  at the rates of the SKU it runs under (Photon's multiplier included). The rates come from the
  caller (`DbuRate`, the planner's price catalog): without them the rule is not judged, and a node
  type they do not know refuses the configuration (its DBUs cannot be shown to be under the cap);
- an Azure spot cap (``azure_attributes.spot_bid_max_price``) the policy fills into a spec that
  leaves it out (fixed, or a default the spec asks for) is a price of the spec's node types: a
  configuration on other node types is refused (`ClusterPolicy.filled_cap`), as the fixed rule
  refuses the -1 the merge writes over a cap the spec sets.

The rule on the driver's heap (``spark_conf.spark.driver.memory``) is read for the heap it fills in
(`filled_values`: the driver's node must hold it, `server.plan.driver.heap_set_gib`), not judged: a
recommendation never writes spark_conf.

Still ignored: every other attribute (the rest of the spec is the user's, kept as it is by
`server.spec.merge_recommendation`, and whether it passes does not depend on Trimtab); rule types
Trimtab does not know, and ``dbus_per_hour`` rules other than ``range`` (the reference documents
it for ranges only); the virtual attribute ``cluster_type``: a job cluster is ``job`` whatever
Trimtab recommends, so the rule passes or fails the job before and after alike. Refusing every
candidate over a rule Trimtab does not understand would stop the project for nothing.

The rules themselves, read from a definition (`parse_rules`, `Rule`), and the values they judge
(`cluster_dbus_per_hour`, the sizing a spec leaves out) are `server.plan.policy_rules`. This module
is the policy applied to a spec: what it refuses and what it fills in (`ClusterPolicy`), and the
copy of what it fills in that a project keeps (`kept_fills`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.domain import ClusterConfig
from server.errors import FailedPrecondition
from server.plan.policy_rules import (
    CLUSTER_KIND_ATTRIBUTES,
    DBUS_PER_HOUR,
    HEAP_ATTRIBUTES,
    POOL_ATTRIBUTES,
    SPOT_CAP_PATH,
    DbuRate,
    Rule,
    _parse,
    _sizing_words,
    _text,
    cluster_dbus_per_hour,
    parse_rules,
    rules_both_shapes,
    unused_sizing,
)
from server.spec import (
    SPOT_CAP_FIELD,
    flatten,
    merge_recommendation,
    recommendation_overlay,
    spot_cap_node_types,
)

# isort: split
# Moved to `server.plan.policy_rules` with the rest of the rules' vocabulary, and not read here:
# imported only so that callers importing them from `server.plan.policy` keep working.
from server.plan.policy_rules import RULE_TYPES, WRITTEN_ATTRIBUTES  # noqa: F401


@dataclass(frozen=True)
class ClusterPolicy:
    """The rules of one policy on the attributes a recommendation writes, and ``dbus_per_hour``.

    ``dbu_rate`` (see `DbuRate`) is what judging ``dbus_per_hour`` needs; without it that rule is
    not judged."""

    policy_id: str
    name: str = ""
    rules: Mapping[str, Rule] = field(default_factory=dict)
    # The rules on the pools (`POOL_ATTRIBUTES`): not judged (Trimtab never writes a pool), read for
    # the pool a policy puts a spec naming none on (`filled_pool`).
    pool_rules: Mapping[str, Rule] = field(default_factory=dict)
    # The rules on `CLUSTER_KIND_ATTRIBUTES`: not judged, read for what they fill in (`filled_values`).
    kind_rules: Mapping[str, Rule] = field(default_factory=dict)
    # The rule on the driver's heap (`HEAP_ATTRIBUTES`): not judged, read for the heap it fills in,
    # which the driver's node must hold (`server.plan.driver.heap_set_gib`).
    heap_rules: Mapping[str, Rule] = field(default_factory=dict)
    dbu_rate: DbuRate | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_api(cls, policy: Mapping[str, Any], *, dbu_rate: DbuRate | None = None) -> ClusterPolicy:
        """From ``policies/clusters/get``'s answer (``definition`` is a JSON string)."""
        policy_id = str(policy.get("policy_id") or "")
        raw = policy.get("definition") or "{}"
        try:
            definition = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as err:
            raise FailedPrecondition(f"cluster policy {policy_id}: its definition is not JSON: {err}") from err
        if not isinstance(definition, Mapping):
            raise FailedPrecondition(f"cluster policy {policy_id}: its definition is not a JSON object")
        return cls(policy_id=policy_id, name=str(policy.get("name") or ""), rules=parse_rules(definition),
                   pool_rules=_parse(definition, POOL_ATTRIBUTES),
                   kind_rules=_parse(definition, CLUSTER_KIND_ATTRIBUTES),
                   heap_rules=_parse(definition, HEAP_ATTRIBUTES), dbu_rate=dbu_rate)

    @property
    def label(self) -> str:
        return f'cluster policy "{self.name}" ({self.policy_id})' if self.name else f"cluster policy {self.policy_id}"

    def refusals(self, spec: Mapping[str, Any], *, node_types: tuple[str, str] | None = None) -> dict[str, str]:
        """Each judged attribute of ``spec`` the policy refuses, in path order, with why in a person's
        words ("caps dbus_per_hour at 12 (this configuration: 14.5)").

        ``node_types`` (workers', driver's) are those a pool supplies when the spec names none."""
        return {path: f"{rule} ({detail})" for path, (rule, detail) in self._judge(spec, node_types).items()}

    def _judge(self, spec: Mapping[str, Any], node_types: tuple[str, str] | None) -> dict[str, tuple[str, str]]:
        """path -> (the rule that refuses, in words; what it refuses), in path order."""
        flat = flatten(spec)
        pooled = bool(spec.get("instance_pool_id"))
        # What Databricks fills in where the spec leaves an attribute out: applied before anything is
        # judged, as the service does (a fixed driver type is the driver, not the workers' type).
        fills = self.filled_values(spec)
        if pooled:  # the pool supplies the node types, not the policy
            fills = {k: v for k, v in fills.items() if k not in ("node_type_id", "driver_node_type_id")}
        effective = {**flat, **fills}  # what the cluster gets: the spec, plus what Databricks fills in
        if pooled and node_types is not None:
            # Counted for the DBUs only: Trimtab never writes a pool's types, so their own rules
            # pass or fail the job whatever it recommends.
            effective.setdefault("node_type_id", node_types[0])
            effective.setdefault("driver_node_type_id", node_types[1] or node_types[0])
        unused = unused_sizing(flat)
        both = rules_both_shapes(self.rules)
        out: dict[str, tuple[str, str]] = {}
        for path in sorted(self.rules):
            rule = self.rules[path]
            if path == DBUS_PER_HOUR:
                continue
            if path in flat:
                if not rule.allows(flat[path]):
                    out[path] = (rule.describe(path), f"this configuration: {_text(flat[path])}")
            elif pooled and path in ("node_type_id", "driver_node_type_id"):
                continue  # the pool supplies them
            elif path.split(".")[0] in unused and path in fills:
                # The sizing of the other shape filled in beside this one makes the cluster both fixed
                # and autoscaling, which Databricks refuses ("autoscale: cannot be combined with
                # num_workers") when the job is saved or its run starts.
                said = rule.describe(path) if rule.type == "fixed" else \
                    f"fills {path} in with its default {_text(fills[path])}"
                out[path] = (said, f"this configuration sets {_sizing_words(flat)}")
                effective.pop(path, None)
            elif path.split(".")[0] in unused and both:
                continue  # the other shape's sizing, under a policy ruling both: not required
            elif path in fills:
                if not rule.allows(fills[path]):  # a default, judged like a value the spec sets
                    out[path] = (rule.describe(path), f"its default: {_text(fills[path])}")
            elif path == "driver_node_type_id" and "node_type_id" in effective:
                # Databricks runs the driver on the workers' type when the spec names none.
                workers = effective["node_type_id"]
                effective[path] = workers
                if rule.type != "forbidden" and not rule.allows(workers):
                    out[path] = (rule.describe(path), f"this configuration's driver: {_text(workers)}")
            elif rule.type == "forbidden":
                continue
            elif not rule.optional:
                out[path] = (f"requires {path}", "this configuration leaves it out")
        dbus = self.rules.get(DBUS_PER_HOUR)
        if dbus is not None and self.dbu_rate is not None:
            burn = cluster_dbus_per_hour(effective, self.dbu_rate)
            if isinstance(burn, str):
                out[DBUS_PER_HOUR] = (dbus.describe(DBUS_PER_HOUR), burn)
            elif not dbus.allows(burn):
                out[DBUS_PER_HOUR] = (dbus.describe(DBUS_PER_HOUR), f"this configuration: {burn:.4g}")
        return dict(sorted(out.items()))

    def sizing_shape(self, spec: Mapping[str, Any]) -> str | None:
        """The sizing the policy imposes on ``spec``: "autoscale" when it fills ``autoscale.*`` in
        (fixed, or a default the spec asks for), "fixed" when it fills ``num_workers`` in, None when it
        leaves the shape to the spec. A configuration of the other shape is refused (`_judge`): the
        filled value would sit beside the written one."""
        bare = {k: v for k, v in spec.items() if k not in ("num_workers", "autoscale")}
        fills = self.filled_values(bare)
        if any(p.startswith("autoscale.") for p in fills):
            return "autoscale"
        if "num_workers" in fills:
            return "fixed"
        return None

    def fixed_autoscale(self) -> tuple[int, int] | None:
        """The autoscale range the policy fixes (both ends ``fixed``), None when it fixes none."""
        low, high = self.rules.get("autoscale.min_workers"), self.rules.get("autoscale.max_workers")
        if low is None or high is None or low.type != "fixed" or high.type != "fixed":
            return None
        try:
            return int(low.value), int(high.value)
        except (TypeError, ValueError):
            return None

    def forbids(self, path: str) -> bool:
        rule = self.rules.get(path)
        return rule is not None and rule.type == "forbidden"

    def violations(self, spec: Mapping[str, Any]) -> list[str]:
        """The judged attributes of ``spec`` the policy refuses, in path order."""
        return list(self.refusals(spec))

    def allows_spec(self, spec: Mapping[str, Any]) -> bool:
        return not self.refusals(spec)

    def allows_value(self, path: str, value: Any) -> bool:
        rule = self.rules.get(path)
        return rule is None or rule.allows(value)

    def config_refusals(self, config: ClusterConfig, base_spec: Mapping[str, Any], *, azure: bool) -> dict[str, str]:
        """`refusals` of the spec applying ``config`` over ``base_spec`` writes (a pool's node types
        from ``config``, which the planner reads from the pools), and of the spot cap the policy fills
        into it (`filled_cap`)."""
        return {path: f"{rule} ({detail})"
                for path, (rule, detail) in self._judge_config(config, base_spec, azure=azure).items()}

    def _judge_config(self, config: ClusterConfig, base_spec: Mapping[str, Any], *,
                      azure: bool) -> dict[str, tuple[str, str]]:
        """`_judge` of the spec applying ``config`` over ``base_spec`` writes, with `filled_cap`'s refusal."""
        spec = merge_recommendation(base_spec, recommendation_overlay(config, azure=azure))
        out = self._judge(spec, (config.node_type_id, config.driver_node_type_id))
        if azure and (stale := self._stale_filled_cap(base_spec, spec)) is not None:
            out[SPOT_CAP_PATH] = stale
        return dict(sorted(out.items()))

    def filled_values(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """What Databricks fills into ``spec`` from the policy's rules on the attributes a
        recommendation writes, on `CLUSTER_KIND_ATTRIBUTES` and on `HEAP_ATTRIBUTES`, by flattened
        path: each rule's fixed
        value, and its ``defaultValue`` when the spec asks for defaults (``apply_policy_default_values:
        true``; without it only fixed values are applied, as the Clusters API says), where the spec
        leaves the attribute out (or null). What a cluster of ``spec`` runs with:
        `server.spec.unset_attributes` reads an unset availability and ``first_on_demand`` from it
        before the cloud's default."""
        flat = flatten(spec)
        apply_defaults = spec.get("apply_policy_default_values") is True
        out: dict[str, Any] = {}
        for path, rule in {**self.kind_rules, **self.heap_rules, **self.rules}.items():
            if path == DBUS_PER_HOUR or flat.get(path) is not None:
                continue
            if rule.type == "fixed":
                out[path] = rule.value
            elif rule.has_default and apply_defaults:
                out[path] = rule.default
        return out

    def filled_spec(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """``spec`` as Databricks creates the cluster from it: with what the policy fills in
        (`filled_values`) set in it. A pool supplies the node types, and the spec's sizing shape keeps
        the other one's sizing out (Databricks refuses both). For what kind of cluster it is (access
        mode, runtime, engine, single node) and the SKU it is billed under; the spec written back to
        the job stays the user's."""
        out = copy.deepcopy(dict(spec))
        pooled = bool(spec.get("instance_pool_id"))
        autoscaling, fixed = bool(spec.get("autoscale")), spec.get("num_workers") is not None
        for path, value in self.filled_values(spec).items():
            # Two levels at most (`WRITTEN_ATTRIBUTES`, `CLUSTER_KIND_ATTRIBUTES`, `HEAP_ATTRIBUTES`): the
            # rest of a path under spark_conf or custom_tags is one key ("spark.master").
            head, _, leaf = path.partition(".")
            if value is None or (pooled and head in ("node_type_id", "driver_node_type_id")) or \
                    (head == "num_workers" and autoscaling) or (head == "autoscale" and fixed):
                continue
            if leaf:
                block = out.get(head)
                out[head] = {**(block if isinstance(block, Mapping) else {}), leaf: copy.deepcopy(value)}
            else:
                out[head] = copy.deepcopy(value)
        return out

    def filled_pool(self, spec: Mapping[str, Any]) -> str:
        """The instance pool the policy puts a cluster of ``spec`` on when the spec names none (a fixed
        ``instance_pool_id``, or its default the spec asks for); "" when it puts it on none."""
        rule = self.pool_rules.get("instance_pool_id")
        if rule is None or spec.get("instance_pool_id"):
            return ""
        if rule.type == "fixed":
            return str(rule.value or "")
        if rule.has_default and spec.get("apply_policy_default_values") is True:
            return str(rule.default or "")
        return ""

    def filled_cap(self, spec: Mapping[str, Any]) -> tuple[Rule, Any] | None:
        """The Azure spot cap the policy fills into ``spec`` and its rule, None when it fills none: the
        spec leaves the cap out (or null) and the rule fixes it, or gives a ``defaultValue`` the spec
        asks for (``apply_policy_default_values``). Databricks fills it in when the cluster is created,
        so it is as much a price of the spec's node types as a cap the spec sets."""
        rule = self.rules.get(SPOT_CAP_PATH)
        attrs = spec.get("azure_attributes")
        if rule is None or (isinstance(attrs, Mapping) and attrs.get(SPOT_CAP_FIELD) is not None):
            return None
        if rule.type == "fixed":
            return rule, rule.value
        if rule.has_default and spec.get("apply_policy_default_values") is True:
            return rule, rule.default
        return None

    def _stale_filled_cap(self, base_spec: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[str, str] | None:
        """Why ``spec`` (``base_spec`` with a recommendation merged in) is refused for the spot cap the
        policy fills in, None when it is not: the merge resets a cap the spec sets to -1 when the node
        types change (`server.spec.without_stale_spot_cap`), but one the policy fills in is filled in
        again onto the new types, where it is above a smaller type's on-demand price (Databricks
        refuses the cluster) or a small fraction of a bigger one's (spot never acquired while the plan
        priced it). The plan stays on the node types the cap was set for, as for a cap the spec sets
        under a policy fixing it."""
        filled = self.filled_cap(spec)
        if filled is None or spot_cap_node_types(spec) == spot_cap_node_types(base_spec):
            return None
        rule, value = filled
        said = rule.describe(SPOT_CAP_PATH) if rule.type == "fixed" else \
            f"fills {SPOT_CAP_PATH} in with its default {_text(value)}"
        before = ", ".join(dict.fromkeys(str(t) for t in spot_cap_node_types(base_spec)))
        after = ", ".join(dict.fromkeys(str(t) for t in spot_cap_node_types(spec)))
        return said, f"a $/h cap for {before}; this configuration: {after}"

    def allows_config(self, config: ClusterConfig, base_spec: Mapping[str, Any], *, azure: bool) -> bool:
        """Whether applying ``config`` over ``base_spec`` writes a spec inside the policy."""
        return not self.config_refusals(config, base_spec, azure=azure)

    def narrowing(self, configs: Iterable[ClusterConfig], base_spec: Mapping[str, Any], *, azure: bool) -> list[str]:
        """The rules that refuse at least one of ``configs``, each once in a person's words, in path
        order: what kept the plan from them ("caps dbus_per_hour at 12", "requires autoscale.max_workers")."""
        found: dict[str, set[str]] = {}
        for config in configs:
            for path, (rule, _) in self._judge_config(config, base_spec, azure=azure).items():
                found.setdefault(path, set()).add(rule)
        return [rule for path in sorted(found) for rule in sorted(found[path])]

    def refuses_driver(self, driver: str, configs: Iterable[ClusterConfig], base_spec: Mapping[str, Any], *,
                       azure: bool) -> list[str]:
        """The rules that keep every one of ``configs`` out of the policy once ``driver`` is its driver,
        as `narrowing` words them ("caps dbus_per_hour at 12"); empty when one of them is inside it
        (or there are none): the driver leaves the plan room. A driver bigger than the workers can
        push every worker count of the project's bounds over a ``dbus_per_hour`` cap."""
        found: dict[str, set[str]] = {}
        for config in configs:
            config = dataclasses.replace(config, driver_node_type_id=driver)
            judged = self._judge_config(config, base_spec, azure=azure)
            if not judged:
                return []
            for path, (rule, _) in judged.items():
                found.setdefault(path, set()).add(rule)
        return [rule for path in sorted(found) for rule in sorted(found[path])]

    def no_room_words(self, rules: Iterable[str]) -> str:
        """What ``rules`` (from `refuses_driver`) leave no configuration inside, in a person's words:
        "under the policy's dbus_per_hour cap of 12" when the cap is among them."""
        rules = list(rules)
        cap = self.rules.get(DBUS_PER_HOUR)
        if cap is not None and cap.max_value is not None and cap.describe(DBUS_PER_HOUR) in rules:
            return f"under the policy's dbus_per_hour cap of {_text(cap.max_value)}"
        return f"inside the policy ({'; '.join(rules)})" if rules else "inside the policy"


def as_created(policy: ClusterPolicy | None, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` as Databricks creates the cluster under ``policy`` (`ClusterPolicy.filled_spec`) when
    the spec names it; as written without a policy or for a spec under another one (or none)."""
    named = str(spec.get("policy_id") or "")
    if policy is None or not named or (policy.policy_id and policy.policy_id != named):
        return dict(spec)
    return policy.filled_spec(spec)


def filled_into(policy: ClusterPolicy | None, spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """`ClusterPolicy.filled_values` of ``spec`` when ``spec`` names ``policy`` (its ``policy_id``); None
    without a policy or for a spec under another one (or none): nothing of it is filled in then."""
    named = str(spec.get("policy_id") or "")
    if policy is None or not named or (policy.policy_id and policy.policy_id != named):
        return None
    return policy.filled_values(spec)


# Where a project keeps what its cluster policy fills into an availability (`kept_fills`): the planner
# reads the policy from the workspace (`server.plan.planner.Planner`); the savings baseline and a revert,
# which have no workspace to ask, read the project's spec through this copy.
POLICY_FILLS_KEY = "policy_fills"
# The fields a kept copy holds: those that decide which nodes are spot (`server.spec.unset_attributes`),
# and the node types and sizing a policy may supply to a spec that leaves them out: without them the
# savings baseline and `project show` read such a job's imported cluster as node type '', unlike its runs
# (recorded on what the cluster record says ran), and a run whose cluster record is gone has nothing to
# be priced on. And the runtime and its engine: a policy fixing ``runtime_engine: PHOTON`` makes the
# cluster bill under the Photon SKU (2.9x the DBUs on AWS), which a run whose record is gone is priced at.
FILLED_PATHS = (*(f"{block}.{name}" for block in ("aws_attributes", "azure_attributes")
                  for name in ("availability", "first_on_demand")),
                "node_type_id", "driver_node_type_id", "num_workers", "autoscale.min_workers",
                "autoscale.max_workers", "spark_version", "runtime_engine")


def kept_fills(policy: ClusterPolicy) -> dict[str, Any]:
    """The part of ``policy`` a project keeps (`POLICY_FILLS_KEY`), JSON: its id, and the fixed values
    and defaults of its rules on `FILLED_PATHS`."""
    rules = {p: r for p, r in {**policy.kind_rules, **policy.rules}.items() if p in FILLED_PATHS}
    return {"policy_id": policy.policy_id,
            "fixed": {p: r.value for p, r in sorted(rules.items()) if r.type == "fixed"},
            "defaults": {p: r.default for p, r in sorted(rules.items()) if r.type != "fixed" and r.has_default}}


def kept_policy(state: Mapping[str, Any]) -> ClusterPolicy | None:
    """The policy a project keeps (`kept_fills`), as the rules that fill values in; None without one."""
    kept = state.get(POLICY_FILLS_KEY)
    if not isinstance(kept, Mapping):
        return None
    rules = {str(p): Rule(type="fixed", value=v) for p, v in (kept.get("fixed") or {}).items()}
    rules.update({str(p): Rule(type="unlimited", has_default=True, default=v)
                  for p, v in (kept.get("defaults") or {}).items()})
    return ClusterPolicy(policy_id=str(kept.get("policy_id") or ""),
                         rules={p: r for p, r in rules.items() if p not in CLUSTER_KIND_ATTRIBUTES},
                         kind_rules={p: r for p, r in rules.items() if p in CLUSTER_KIND_ATTRIBUTES})


def kept_values(state: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the policy a project keeps (`kept_policy`, from its ``state``) fills into ``spec``
    (`filled_into`): for readers with no workspace to ask (the savings baseline, a revert, the project
    page), as the planner read the policy last."""
    return filled_into(kept_policy(state), spec)


