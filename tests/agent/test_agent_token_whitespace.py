"""The agent token as people store it: `echo token | databricks secrets put-secret` keeps the newline.

gRPC refuses such a value as metadata on every call ("INTERNAL: Invalid metadata"), so every
batch was parked and the log blamed the server. Surrounding whitespace is dropped when the
configuration is read; a token with any other character gRPC cannot send stops the agent at start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from tests.agent.conftest import REPO, TOKEN, AgentThread, IngestServer


def _small_log(logs: Path) -> None:
    lines = [
        {"Event": "SparkListenerApplicationStart", "App ID": "app-tok", "App Name": "x", "Timestamp": 1},
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 10},
    ]
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "app-tok").write_text("".join(json.dumps(e) + "\n" for e in lines))


@pytest.mark.parametrize("stored", [TOKEN + "\n", TOKEN + "\r\n", f"  {TOKEN}\t"])
def test_a_token_with_surrounding_whitespace_is_delivered_with(stored: str, ingest: IngestServer,
                                                              tmp_path: Path):
    logs = tmp_path / "logs"
    _small_log(logs)
    cfg = load_config({"eventlog_dir": logs, "state_dir": tmp_path / "state", "server": ingest.address},
                      env={"TRIMTAB_TOKEN": stored})
    assert cfg.token == TOKEN
    cfg = replace(cfg, poll_interval_s=0.02, batch_max_age_s=0.05, backoff_base_s=0.05, backoff_max_s=0.3,
                  rpc_timeout_s=2.0, checkpoint_interval_s=0.05, shutdown_flush_s=3.0)
    with AgentThread(cfg) as t:
        s = ingest.servicer
        assert s.wait_for(lambda: ("app-tok", "app-end") in s.stored, 20)
        t.stop()
        assert t.agent.spool.parked() == 0 and t.agent.spool.pending()[0] == 0


def test_a_token_in_the_config_file_is_stripped_too(tmp_path: Path):
    f = tmp_path / "agent.json"
    f.write_text(json.dumps({"token": TOKEN + "\n"}))
    assert load_config({}, env={}, file=f).token == TOKEN


@pytest.mark.parametrize(("stored", "what"), [
    ("agent-t\u00f6ken", "U+00F6 at position 8 of 11"),
    ("agent\x7ftoken", "U+007F at position 6 of 11"),
    ("agent\ntoken", "U+000A at position 6 of 11"),
])
def test_a_token_gRPC_cannot_send_is_refused_without_showing_it(stored: str, what: str, tmp_path: Path):
    with pytest.raises(ConfigError, match=f"from env TRIMTAB_TOKEN.*{what.replace('+', '[+]')}"):
        load_config({}, env={"TRIMTAB_TOKEN": stored})
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--server", "127.0.0.1:1", "--state-dir",
                           str(tmp_path / "s"), "--eventlog-dir", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "TRIMTAB_TOKEN": stored})
    assert proc.returncode == 2, proc.stderr
    assert "trimtab-agent: bad configuration: the agent token" in proc.stderr and what in proc.stderr
    assert "Traceback" not in proc.stderr and stored not in proc.stderr and "token" in proc.stderr
    assert not (tmp_path / "s").exists()  # refused before the state directory is touched
