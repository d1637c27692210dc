"""The words of the log line each change to a project's settings writes: what changed, old -> new."""

from __future__ import annotations

import dataclasses

from server.domain import ProjectSettings


def _value(value: object) -> str:
    """A setting as the line says it: unset as "unset", a list of families joined, the rest as typed."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "any"
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_change(before: ProjectSettings, after: ProjectSettings) -> str:
    """Each setting that differs, "sla_seconds 900 -> 600, auto_apply off -> on"; "" when none does."""
    return ", ".join(f"{f.name} {_value(getattr(before, f.name))} -> {_value(getattr(after, f.name))}"
                     for f in dataclasses.fields(before) if getattr(before, f.name) != getattr(after, f.name))
