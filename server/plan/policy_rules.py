"""A cluster policy's definition read into rules, and the values its rules judge (pure).

A definition maps attribute paths (dots for nested fields) to one rule each (Databricks' compute
policy reference). `parse_rules` reads the rules a `server.plan.policy.ClusterPolicy` judges: those of
the types in `RULE_TYPES` on the attributes a recommendation writes (`WRITTEN_ATTRIBUTES`), and a
``range`` on the virtual attribute ``dbus_per_hour``, whose value for a spec is
`cluster_dbus_per_hour`. Everything else in a definition is ignored: other attributes, rule types
Trimtab does not know, ``dbus_per_hour`` rules other than ``range`` (why: `server.plan.policy`). The
rules on `POOL_ATTRIBUTES`, `CLUSTER_KIND_ATTRIBUTES` and `HEAP_ATTRIBUTES` are read apart, for what
they fill in, and never judged.

`Rule.allows` judges one value as Databricks does (numbers by value, the rest as text, a regex
anchored at both ends); `unused_sizing` and `rules_both_shapes` say which sizing a spec leaves out
and whether the rules still require it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from server.spec import SPOT_CAP_FIELD

# What `server.spec.recommendation_overlay` can write: the only paths a recommendation changes.
WRITTEN_ATTRIBUTES = frozenset({
    "node_type_id", "driver_node_type_id", "num_workers", "autoscale.min_workers", "autoscale.max_workers",
    "spark_version",
    "aws_attributes.availability", "aws_attributes.first_on_demand", "aws_attributes.ebs_volume_type",
    "aws_attributes.ebs_volume_count", "aws_attributes.ebs_volume_size",
    # gp3's, written with the storage advice (`server.spec.ebs_overlay`).
    "aws_attributes.ebs_volume_iops", "aws_attributes.ebs_volume_throughput",
    "azure_attributes.availability", "azure_attributes.first_on_demand",
    # -1 when the node types change under a cap (`server.spec.merge_recommendation`): a policy that
    # fixes the cap keeps the plan on the node types the cap was set for, also when the spec leaves
    # the cap for the policy to fill in (`ClusterPolicy.filled_cap`).
    "azure_attributes.spot_bid_max_price",
})
SPOT_CAP_PATH = f"azure_attributes.{SPOT_CAP_FIELD}"
# The pools a policy may put a cluster on: read, never judged (`ClusterPolicy.filled_pool`).
POOL_ATTRIBUTES = frozenset({"instance_pool_id", "driver_instance_pool_id"})
# What a policy may fill in that decides what kind of cluster a spec makes, none of which a
# recommendation writes: its access mode (standard access runs only allowlisted init scripts), its
# runtime and engine (Photon is billed under its own SKU), whether Spark runs on the driver alone
# (Databricks' "Single Node" policy fixes the profile, spark.master, the ResourceClass tag and
# num_workers 0). Read, never judged (`ClusterPolicy.filled_spec`): import, the planner and pricing
# must see the cluster Databricks creates, not the spec as written, and whether a spec passes these
# rules does not depend on Trimtab.
CLUSTER_KIND_ATTRIBUTES = frozenset({
    "data_security_mode", "runtime_engine", "kind", "use_ml_runtime", "is_single_node",
    "spark_conf.spark.databricks.cluster.profile", "spark_conf.spark.master", "custom_tags.ResourceClass",
})
# The driver's heap a policy may set (spark_conf keys are policy attributes ``spark_conf.<key>``): read
# for what it fills in, never judged (`ClusterPolicy.filled_values`). The driver JVM gets that heap on
# any node, so the planner keeps the driver on a node that holds it (`server.plan.driver.heap_set_gib`);
# a recommendation never writes spark_conf, so whether a spec passes the rule does not depend on Trimtab.
DRIVER_HEAP_PATH = "spark_conf.spark.driver.memory"
HEAP_ATTRIBUTES = frozenset({DRIVER_HEAP_PATH})
RULE_TYPES = frozenset({"fixed", "forbidden", "allowlist", "blocklist", "regex", "range", "unlimited"})
# The virtual attribute a recommendation changes: the cluster's DBUs per hour at its largest.
DBUS_PER_HOUR = "dbus_per_hour"

# DBUs per hour of one node of a type under the cluster's SKU (its multiplier included); None when
# the type is not known. Plain data from the caller keeps the judge free of the price catalog.
DbuRate = Callable[[str], float | None]


@dataclass(frozen=True)
class Rule:
    """One attribute's limitation, as the definition states it."""

    type: str
    value: Any = None
    values: tuple[Any, ...] = ()
    pattern: str = ""
    min_value: float | None = None
    max_value: float | None = None
    optional: bool = False  # isOptional: the spec may leave the attribute out
    has_default: bool = False  # defaultValue given (it may be 0 or false, hence the flag)
    default: Any = None

    def allows(self, value: Any) -> bool:
        if self.type == "fixed":
            return _same(value, self.value)
        if self.type == "forbidden":
            return False
        if self.type == "allowlist":
            return any(_same(value, v) for v in self.values)
        if self.type == "blocklist":
            return not any(_same(value, v) for v in self.values)
        if self.type == "regex":
            # Databricks anchors the pattern at both ends of the value.
            return re.fullmatch(self.pattern, _text(value)) is not None
        if self.type == "range":
            try:
                number = float(value)
            except (TypeError, ValueError):
                return False
            return (self.min_value is None or number >= self.min_value) and \
                (self.max_value is None or number <= self.max_value)
        return True  # unlimited

    def describe(self, path: str) -> str:
        """The rule in a person's words, naming the attribute: "caps dbus_per_hour at 12"."""
        if self.type == "fixed":
            return f"fixes {path} at {_text(self.value)}"
        if self.type == "forbidden":
            return f"forbids {path}"
        if self.type == "allowlist":
            return f"allows {path} only in [{', '.join(_text(v) for v in self.values)}]"
        if self.type == "blocklist":
            return f"refuses {path} in [{', '.join(_text(v) for v in self.values)}]"
        if self.type == "regex":
            return f'allows {path} only matching "{self.pattern}"'
        if self.type == "range":
            if self.min_value is not None and self.max_value is not None:
                return f"keeps {path} between {_text(self.min_value)} and {_text(self.max_value)}"
            if self.max_value is not None:
                return f"caps {path} at {_text(self.max_value)}"
            if self.min_value is not None:
                return f"keeps {path} at {_text(self.min_value)} or more"
        return f"requires {path}"  # unlimited, or a range without bounds: only presence is ruled


def unused_sizing(flat: Mapping[str, Any]) -> frozenset[str]:
    """The sizing field of the shape a flattened spec does not use: ``num_workers`` when it
    autoscales, ``autoscale`` when it has a fixed size (or none)."""
    if any(p.startswith("autoscale.") for p in flat):
        return frozenset({"num_workers"})
    return frozenset({"autoscale"})


def rules_both_shapes(paths: Iterable[str]) -> bool:
    """Whether a definition rules both sizings (``num_workers`` and ``autoscale.*``): then the one a
    spec does not use is not required (no cluster could have both); ruling one only, it is."""
    paths = list(paths)
    return "num_workers" in paths and any(p.startswith("autoscale.") for p in paths)


def _sizing_words(flat: Mapping[str, Any]) -> str:
    if any(p.startswith("autoscale.") for p in flat):
        return "autoscale, which Databricks refuses beside num_workers"
    return f"num_workers {_text(flat.get('num_workers'))}, which Databricks refuses beside autoscale"


def cluster_dbus_per_hour(flat: Mapping[str, Any], dbu_rate: DbuRate) -> float | str:
    """The most DBUs per hour a cluster of flattened spec ``flat`` burns: its driver plus every worker
    it may have (``autoscale.max_workers`` when it autoscales); a sentence when it cannot be known."""
    node = str(flat.get("node_type_id") or "")
    driver = str(flat.get("driver_node_type_id") or "") or node
    if not node:
        return "the workers' node type is not known"
    workers = flat.get("autoscale.max_workers") if "autoscale.max_workers" in flat else flat.get("num_workers")
    try:
        count = float(workers or 0)
    except (TypeError, ValueError):
        return f"the number of workers is not a number: {_text(workers)}"
    rates = {t: dbu_rate(t) for t in dict.fromkeys((node, driver))}
    unknown = [t for t, r in rates.items() if r is None]
    if unknown:
        return f"the DBUs per hour of {', '.join(unknown)} are not known"
    return float(rates[driver] or 0.0) + count * float(rates[node] or 0.0)


def parse_rules(definition: Mapping[str, Any]) -> dict[str, Rule]:
    """The rules on `WRITTEN_ATTRIBUTES` of known types, and a ``dbus_per_hour`` range; everything
    else is ignored (module doc)."""
    return _parse(definition, WRITTEN_ATTRIBUTES)


def _parse(definition: Mapping[str, Any], attributes: frozenset[str]) -> dict[str, Rule]:
    """The rules on ``attributes`` of known types (a ``dbus_per_hour`` range with `WRITTEN_ATTRIBUTES`)."""
    rules: dict[str, Rule] = {}
    with_dbus = attributes is WRITTEN_ATTRIBUTES
    for path, raw in definition.items():
        if not isinstance(raw, Mapping) or raw.get("type") not in RULE_TYPES:
            continue
        if path not in attributes and not (with_dbus and path == DBUS_PER_HOUR and raw.get("type") == "range"):
            continue
        values = raw.get("values")
        rules[path] = Rule(type=str(raw["type"]), value=raw.get("value"),
                           values=tuple(values) if isinstance(values, list) else (),
                           pattern=str(raw.get("pattern") or ""),
                           min_value=_number(raw.get("minValue")), max_value=_number(raw.get("maxValue")),
                           optional=raw.get("isOptional") is True, has_default="defaultValue" in raw,
                           default=raw.get("defaultValue"))
    return rules


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _same(value: Any, expected: Any) -> bool:
    """Numbers compare by value (4 and 4.0), everything else as text (true and "true")."""
    if not isinstance(value, bool) and not isinstance(expected, bool) \
            and isinstance(value, int | float) and isinstance(expected, int | float):
        return float(value) == float(expected)
    return _text(value) == _text(expected)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
