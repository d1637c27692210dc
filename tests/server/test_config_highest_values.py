"""Every numeric server setting has a highest value: an interval or a grace of 1e10 s passed the
range check, then broke the server (Python's `threading` refuses a wait past `threading.TIMEOUT_MAX`:
the collector thread died with OverflowError while the server looked healthy, and SIGTERM never
ended it). Such a value now stops the server at start, naming the setting and the bound."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from server.config import _RANGES, ServerConfig
from server.errors import InvalidArgument

REPO = Path(__file__).resolve().parents[2]
NUMERIC = [f.name for f in dataclasses.fields(ServerConfig) if f.type in ("int", "float")
           and f.name not in ("collect", "metrics", "migrate")]


def test_every_numeric_setting_has_a_highest_value_within_what_threading_waits() -> None:
    assert sorted(_RANGES) == sorted(NUMERIC)
    unbounded = [name for name, (_, _, high) in _RANGES.items() if high is None]
    assert unbounded == []
    for name in _RANGES:
        if name.endswith(("_seconds", "_hours")):
            high = _RANGES[name][2]
            assert high is not None and high * (3600 if name.endswith("_hours") else 1) < threading.TIMEOUT_MAX


@pytest.mark.parametrize("name", NUMERIC)
def test_a_huge_value_is_refused_naming_the_setting_and_its_highest(name: str) -> None:
    env = next(f.metadata["env"] for f in dataclasses.fields(ServerConfig) if f.name == name)
    high = _RANGES[name][2]
    assert high is not None
    value = int(high) + 1 if name in ("workers", "gc_threshold", "max_receive_bytes", "db_busy_timeout_ms",
                                      "max_events_per_batch", "ingest_group_batches",
                                      "ingest_queue_batches") else 1e10
    with pytest.raises(InvalidArgument, match=rf"^setting {name} \({env}\): .* and at most {int(high)}$"):
        ServerConfig(**{name: value})  # type: ignore[arg-type]
    ServerConfig(**{name: type(value)(high)})  # type: ignore[arg-type]  # the highest itself is taken


@pytest.mark.parametrize(("variable", "words"), [
    ("TRIMTAB_COLLECT_INTERVAL_SECONDS", "setting collect_interval_seconds (TRIMTAB_COLLECT_INTERVAL_SECONDS): "
                                         "10000000000.0 is not greater than 0 and at most 604800"),
    ("TRIMTAB_GRACE_SECONDS", "setting grace_seconds (TRIMTAB_GRACE_SECONDS): 10000000000.0 is not at least 0 "
                              "and at most 3600"),
])
def test_server_start_stops_at_start_on_a_huge_interval_or_grace(variable: str, words: str, tmp_path: Path) -> None:
    """A real `trimtab server start`: before, it listened and ran on (the interval killed the collector,
    the grace made SIGTERM hang)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env.update(PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path / "xdg"), **{variable: "1e10"})
    try:
        out = subprocess.run([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                              "--state-dir", str(tmp_path / "state")],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server start took {variable}=1e10 and ran on")
    assert out.returncode == 2 and "listening on" not in out.stdout
    assert out.stderr.strip().splitlines()[-1] == f"error: {words}"
    assert not list((tmp_path / "state").glob("*.db*"))
