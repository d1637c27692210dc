"""The sandbox's speed (review 13): `sandbox up` and `demo` took --speed nan, inf and 1e308 (click's
FloatRange lets NaN and infinity through, and the config checked only <= 0), as did TRIMTAB_SANDBOX_SPEED;
at 1e308 the simulated clock overflowed once the sandbox was serving. A speed is now finite, above 0 and at
most 1,000,000, refused before anything starts with a message naming the option or variable. And a
--port in use is named, with where it was set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.__main__ import main as sandbox_main
from sandbox.workspace.config import SandboxConfig, load
from server.cli.main import main

BAD = ["nan", "inf", "1e308", "1000001"]  # -inf: refused by click already, as 0 is


@pytest.mark.parametrize("speed", BAD)
def test_trimtab_sandbox_up_refuses(speed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "up", "--state-dir", str(tmp_path / "sb"), "--speed", speed, "--no-seed"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--speed" in err and "speed must be > 0 and at most 1,000,000" in err
    assert not (tmp_path / "sb").exists()  # refused before the sandbox started


@pytest.mark.parametrize("speed", BAD)
def test_the_environment_variable_is_named(speed: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^TRIMTAB_SANDBOX_SPEED: speed must be > 0 and at most 1,000,000"):
        load({}, {"TRIMTAB_SANDBOX_SPEED": speed, "TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path)})


def test_trimtab_sandbox_up_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIMTAB_SANDBOX_SPEED", "inf")
    code = main(["sandbox", "up", "--state-dir", str(tmp_path / "sb"), "--no-seed"])
    err = capsys.readouterr().err
    assert code == 2 and "TRIMTAB_SANDBOX_SPEED: speed must be > 0" in err


def test_python_m_sandbox_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        sandbox_main(["--state-dir", str(tmp_path / "sb"), "--speed", "nan"])
    assert exited.value.code == 2
    assert "--speed: speed must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize("speed", ["nan", "inf", "1e308"])
def test_demo_refuses(speed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--speed", speed, "--runs", "1", "--state-dir", str(tmp_path / "demo")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "'--speed'" in err and "speed must be > 0 and at most 1,000,000" in err
    assert not (tmp_path / "demo").exists()


def test_the_config_itself_refuses_and_the_bound_is_taken(tmp_path: Path) -> None:
    from sandbox.workspace.config import MAX_SPEED

    with pytest.raises(ValueError, match="got nan"):
        SandboxConfig(state_dir=tmp_path, speed=float("nan"), port=0, rate_limit=None, seed=False)
    assert load({"speed": MAX_SPEED}, {"TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path)}).speed == MAX_SPEED
    assert load({}, {"TRIMTAB_SANDBOX_SPEED": "0.5", "TRIMTAB_SANDBOX_STATE_DIR": str(tmp_path)}).speed == 0.5


@pytest.mark.parametrize("from_env", [False, True])
def test_a_port_in_use_is_named_with_where_it_was_set(from_env: bool, tmp_path: Path) -> None:
    # Before: "error: [Errno 98] Address already in use", naming neither the port nor the option.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [sys.executable, "-m", "server.cli.main", "sandbox", "up", "--state-dir", str(tmp_path / "sb"),
                "--no-seed"]
        env = {**os.environ, "TRIMTAB_SANDBOX_PORT": str(port)} if from_env else None
        done = subprocess.run(args if from_env else [*args, "--port", str(port)], capture_output=True, text=True,
                              timeout=60, env=env)
    where = "TRIMTAB_SANDBOX_PORT" if from_env else "--port"
    assert done.returncode == 1, done.stderr
    assert done.stderr == (f"error: port {port} on 127.0.0.1 ({where}) is in use (another sandbox still "
                           "running?): give another port, or 0 for any free one\n")
