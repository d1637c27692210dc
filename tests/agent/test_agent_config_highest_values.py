"""Every numeric agent setting has a highest value. The agent waits on `threading` events, which
refuse a timeout past `threading.TIMEOUT_MAX` with OverflowError, and reads its read budget and line
limit in one piece: a poll interval or a backoff of 1e10 s was taken at start and then killed the
agent's worker thread on the cluster."""

from __future__ import annotations

import threading

import pytest

from agent.config import SETTINGS, ConfigError, load_config

NUMERIC = [s for s in SETTINGS if s.type in (int, float)]


def test_every_numeric_setting_has_a_highest_value() -> None:
    assert [s.name for s in NUMERIC if s.high is None] == []
    for s in NUMERIC:
        if s.name.endswith("_s"):
            assert s.high is not None and s.high < threading.TIMEOUT_MAX


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda s: s.name)
def test_a_huge_value_is_refused_naming_the_setting_and_its_highest(setting) -> None:  # type: ignore[no-untyped-def]
    assert setting.high is not None
    value = "1e10" if setting.type is float else str(int(setting.high) + 1)
    with pytest.raises(ConfigError, match=rf"setting {setting.name} \(env {setting.env}\).*at most"):
        load_config({}, env={setting.env: value})
    kept = load_config({}, env={setting.env: str(setting.type(setting.high))})
    assert getattr(kept, setting.name) == setting.high
