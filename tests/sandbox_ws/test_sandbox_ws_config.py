"""The sandbox process config: flag > environment > default, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.workspace.config import SETTINGS, load


def test_flags_win_over_environment_which_wins_over_defaults(tmp_path: Path) -> None:
    env = {"TRIMTAB_SANDBOX_SPEED": "50", "TRIMTAB_SANDBOX_PORT": "8123",
           "TRIMTAB_SANDBOX_SEED": "no", "TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path)}
    config = load({"speed": 7.5, "port": None}, env)
    assert config.speed == 7.5             # flag
    assert config.port == 8123             # environment
    assert config.seed is False and config.state_dir == tmp_path
    assert config.rate_limit is None       # default
    defaults = load({}, {})
    assert defaults.speed == 600.0 and defaults.port == 0 and defaults.seed is True
    # `sandbox up` fires schedules unless told not to (the Python API's default is off).
    assert defaults.schedules is True
    assert load({}, {"TRIMTAB_SANDBOX_SCHEDULES": "0"}).schedules is False
    assert load({"schedules": True}, {"TRIMTAB_SANDBOX_SCHEDULES": "off"}).schedules is True
    assert all(s.env.startswith("TRIMTAB_SANDBOX_") and not s.sensitive for s in SETTINGS)


@pytest.mark.parametrize("env, words", [
    ({"TRIMTAB_SANDBOX_SPEED": "fast"}, "TRIMTAB_SANDBOX_SPEED"),
    ({"TRIMTAB_SANDBOX_SPEED": "0"}, "speed must be > 0"),
    ({"TRIMTAB_SANDBOX_PORT": "70000"}, "port"),
    ({"TRIMTAB_SANDBOX_RATE_LIMIT": "0"}, "rate limit"),
])
def test_bad_values_name_the_setting(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        load({}, env)
