"""A job cluster's cluster policy, and whether a recommendation stays inside it (pure).

Databricks checks a job cluster spec that names a ``policy_id`` against that policy's definition
on ``jobs/create|reset|update`` and again when a run's cluster starts; a spec outside it is
refused (400 ``INVALID_PARAMETER_VALUE`` "Cluster validation error: Validation failed for
node_type_id, ..."). The planner therefore only offers configurations whose spec, as applying
them would write it, satisfies the policy.

A definition maps attribute paths (dots for nested fields) to one rule each (Databricks' compute
policy reference). Only the attributes a recommendation writes are judged
(`WRITTEN_ATTRIBUTES`): the rest of the spec is the user's, kept as it is by
`server.spec.merge_recommendation`, and whether it passes does not depend on Trimtab. Rule
types other than fixed, forbidden, allowlist, blocklist, regex, range and unlimited, and
virtual attributes (``dbus_per_hour``, ``cluster_type``), are ignored: Trimtab cannot evaluate
them, and refusing every candidate over a rule it does not understand would stop the project
for nothing. A rule judges a value the spec sets; an attribute the spec leaves out (``num_workers``
of an autoscaling cluster) is filled in by Databricks from the policy's fixed value or default.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.domain import ClusterConfig
from server.errors import FailedPrecondition
from server.spec import flatten, merge_recommendation, recommendation_overlay

# What `server.spec.recommendation_overlay` can write: the only paths a recommendation changes.
WRITTEN_ATTRIBUTES = frozenset({
    "node_type_id", "driver_node_type_id", "num_workers", "autoscale.min_workers", "autoscale.max_workers",
    "spark_version",
    "aws_attributes.availability", "aws_attributes.first_on_demand", "aws_attributes.ebs_volume_type",
    "aws_attributes.ebs_volume_count", "aws_attributes.ebs_volume_size",
    "azure_attributes.availability", "azure_attributes.first_on_demand",
})
RULE_TYPES = frozenset({"fixed", "forbidden", "allowlist", "blocklist", "regex", "range", "unlimited"})


@dataclass(frozen=True)
class Rule:
    """One attribute's limitation, as the definition states it."""

    type: str
    value: Any = None
    values: tuple[Any, ...] = ()
    pattern: str = ""
    min_value: float | None = None
    max_value: float | None = None

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


@dataclass(frozen=True)
class ClusterPolicy:
    """The rules of one policy on the attributes a recommendation writes."""

    policy_id: str
    name: str = ""
    rules: Mapping[str, Rule] = field(default_factory=dict)

    @classmethod
    def from_api(cls, policy: Mapping[str, Any]) -> ClusterPolicy:
        """From ``policies/clusters/get``'s answer (``definition`` is a JSON string)."""
        policy_id = str(policy.get("policy_id") or "")
        raw = policy.get("definition") or "{}"
        try:
            definition = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as err:
            raise FailedPrecondition(f"cluster policy {policy_id}: its definition is not JSON: {err}") from err
        if not isinstance(definition, Mapping):
            raise FailedPrecondition(f"cluster policy {policy_id}: its definition is not a JSON object")
        return cls(policy_id=policy_id, name=str(policy.get("name") or ""), rules=parse_rules(definition))

    @property
    def label(self) -> str:
        return f'cluster policy "{self.name}" ({self.policy_id})' if self.name else f"cluster policy {self.policy_id}"

    def violations(self, spec: Mapping[str, Any]) -> list[str]:
        """The written attributes of ``spec`` the policy refuses, in path order."""
        flat = flatten(spec)
        return [path for path in sorted(self.rules) if path in flat and not self.rules[path].allows(flat[path])]

    def allows_spec(self, spec: Mapping[str, Any]) -> bool:
        return not self.violations(spec)

    def allows_value(self, path: str, value: Any) -> bool:
        rule = self.rules.get(path)
        return rule is None or rule.allows(value)

    def allows_config(self, config: ClusterConfig, base_spec: Mapping[str, Any], *, azure: bool) -> bool:
        """Whether applying ``config`` over ``base_spec`` writes a spec inside the policy."""
        return self.allows_spec(merge_recommendation(base_spec, recommendation_overlay(config, azure=azure)))


def parse_rules(definition: Mapping[str, Any]) -> dict[str, Rule]:
    """The rules on `WRITTEN_ATTRIBUTES` of known types; everything else is ignored (module doc)."""
    rules: dict[str, Rule] = {}
    for path, raw in definition.items():
        if path not in WRITTEN_ATTRIBUTES or not isinstance(raw, Mapping) or raw.get("type") not in RULE_TYPES:
            continue
        values = raw.get("values")
        rules[path] = Rule(type=str(raw["type"]), value=raw.get("value"),
                           values=tuple(values) if isinstance(values, list) else (),
                           pattern=str(raw.get("pattern") or ""),
                           min_value=_number(raw.get("minValue")), max_value=_number(raw.get("maxValue")))
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
