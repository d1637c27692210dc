"""The sandbox process config: flag > environment > default, with clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.mark.parametrize("name", ["TRIMTAB_SANDBOX_SEED", "TRIMTAB_SANDBOX_SCHEDULES"])
def test_on_off_words_are_read_whatever_their_case(name: str) -> None:
    field = "seed" if name.endswith("SEED") else "schedules"
    for word in ("1", "true", "Yes", " ON "):
        assert getattr(load({}, {name: word}), field) is True
    for word in ("0", "FALSE", "no", "Off "):
        assert getattr(load({}, {name: word}), field) is False


@pytest.mark.parametrize("name", ["TRIMTAB_SANDBOX_SEED", "TRIMTAB_SANDBOX_SCHEDULES"])
@pytest.mark.parametrize("word", ["maybe", "Y", "enable", "2"])
def test_an_unrecognised_on_off_value_is_refused_not_read_as_off(name: str, word: str) -> None:
    # It was read as "off": TRIMTAB_SANDBOX_SEED=maybe started with 0 jobs, for good (seeding is
    # only on a state directory's first start).
    with pytest.raises(ValueError) as caught:
        load({}, {name: word})
    message = str(caught.value)
    assert name in message and repr(word) in message
    assert "1, true, yes, on" in message and "0, false, no, off" in message


@pytest.mark.parametrize("command, name, word", [
    (["-m", "server.cli.entry", "sandbox", "up"], "TRIMTAB_SANDBOX_SEED", "maybe"),
    (["-m", "sandbox"], "TRIMTAB_SANDBOX_SCHEDULES", "enable"),
])
def test_sandbox_up_refuses_a_bad_on_off_value(command: list[str], name: str, word: str,
                                               tmp_path: Path) -> None:
    # A process of its own with a bound: read as "off", the value started a workspace serving until
    # stopped, so the old behaviour fails here by its timeout rather than hanging the run.
    env = {**os.environ, name: word}
    done = subprocess.run([sys.executable, *command, "--state-dir", str(tmp_path / "sb")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{name}: expected one of 1, true, yes, on (on) or 0, false, no, off (off), got {word!r}" \
        in done.stderr
    assert not (tmp_path / "sb").exists()  # refused before the first (seeding) start
