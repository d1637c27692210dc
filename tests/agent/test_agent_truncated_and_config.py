"""A complete event log cut short ends the same way for every codec (named in a WARNING, counted,
finished: lz4 is not waited on forever), a corrupt line names its segment once, and bad settings
or config files are refused with the setting's name."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.follow.codecs import make_decoder
from tests.agent.conftest import REPO, AgentThread, IngestServer, agent_config

CODECS = ("zstd", "lz4", "snappy", "none")


def _single(spark_logs: Path, codec: str) -> Path:
    """A single-file log of ``codec`` (zstd: the first file of the rolling log, one whole zstd stream)."""
    if codec == "zstd":
        rolling = next(p for p in spark_logs.iterdir() if p.name.startswith("eventlog_v2_"))
        return sorted(p for p in rolling.iterdir() if p.name.startswith("events_1_"))[0]
    if codec == "none":
        return next(p for p in spark_logs.iterdir() if p.is_file() and "." not in p.name)
    return next(p for p in spark_logs.iterdir() if p.is_file() and p.name.endswith("." + codec))


def _mid_cut(data: bytes, codec: str) -> int:
    """An offset past the middle that is inside a frame/block or a line. Spark's zstd writes a frame
    per flush, each ending with a line: a fixed offset (len/2 + 7) once landed on such a boundary in
    CI, and that prefix is a whole log that merely ends early, not a truncated file."""
    for at in range(len(data) // 2 + 7, len(data)):
        decoder = make_decoder(codec)
        decoded = decoder.feed(data[:at])
        if decoder.incomplete or not decoded.endswith(b"\n"):
            return at
    raise AssertionError(f"{codec}: no offset inside a frame or a line")


@pytest.mark.spark
@pytest.mark.parametrize("codec", CODECS)
def test_truncated_complete_file_is_named_counted_and_finished(spark_logs: Path, ingest: IngestServer,
                                                               tmp_path: Path, codec: str,
                                                               caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "trimtab.agent")
    src = _single(spark_logs, codec)
    data = src.read_bytes()
    root = tmp_path / "logs"
    root.mkdir()
    name = src.name if codec != "zstd" else src.parent.name.removeprefix("eventlog_v2_") + ".zstd"
    cut = root / name  # the complete name: Spark will not write to it again
    cut.write_bytes(data[: _mid_cut(data, codec)])
    with AgentThread(agent_config(root, tmp_path / "s", ingest.address)) as run:
        a = run.agent
        for _ in range(500):
            if len(a.saved) == 1 and not a.followers:
                break
            a.wait_ticks(1, 5)
        assert len(a.saved) == 1 and not a.followers, f"{codec}: the truncated file was not finished"
        run.stop()
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(cut) in r.getMessage()]
    assert len(warns) == 1 and "truncated" in warns[0], warns
    assert a.read.lines_corrupt == 1
    if codec == "none":  # (compressed blocks of these small logs hold the first events whole or not at all)
        assert ingest.servicer.keys("application_start")  # the part before the cut was kept


@pytest.mark.spark
def test_corrupt_lines_name_their_segment_once(spark_logs: Path, ingest: IngestServer, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "trimtab.agent")
    lines = _single(spark_logs, "none").read_bytes().splitlines(keepends=True)
    root = tmp_path / "logs"
    root.mkdir()
    f = root / _single(spark_logs, "none").name
    f.write_bytes(b"".join(lines[:3] + [b"{not json\n", b"[1, 2]\n"] + lines[3:]))
    with AgentThread(agent_config(root, tmp_path / "s", ingest.address)) as run:
        a = run.agent
        for _ in range(500):
            if a.saved and not a.followers:
                break
            a.wait_ticks(1, 5)
        run.stop()
    assert a.read.lines_corrupt == 2
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(f) in r.getMessage()]
    assert len(warns) == 1 and "corrupt line" in warns[0]


def test_bad_setting_names_setting_and_env_var(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"setting batch_max_events \(env TRIMTAB_AGENT_BATCH_EVENTS\)"):
        load_config({}, env={"TRIMTAB_AGENT_BATCH_EVENTS": "abc"})
    f = tmp_path / "agent.json"
    f.write_text('{"poll_interval_s": "soon"}')
    with pytest.raises(ConfigError, match=r"poll_interval_s \(env TRIMTAB_AGENT_POLL_S\), from config file"):
        load_config({}, env={}, file=f)
    f.write_text('{"tls": 2}')
    with pytest.raises(ConfigError, match="setting tls"):
        load_config({}, env={}, file=f)


@pytest.mark.parametrize(("content", "message"), [
    ('["a"]', "must hold one JSON object of settings, not a list"),
    ('{"bogus_key": 1, "server": "x:1"}', "unknown setting(s) bogus_key"),
    ("{not json", "is not valid JSON"),
])
def test_bad_config_files_are_refused(tmp_path: Path, content: str, message: str):
    f = tmp_path / "agent.json"
    f.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config({}, env={}, file=f)
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "config", "--config", str(f)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_run_refuses_an_empty_token(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--server", "127.0.0.1:1", "--state-dir",
                           str(tmp_path / "s"), "--eventlog-dir", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "TRIMTAB_TOKEN": ""})
    assert proc.returncode == 2 and "no token (set TRIMTAB_TOKEN" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_config_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    """`trimtab-agent config | head` (fresh-clone review, ninth session): the reader is gone before
    the agent writes, which was a BrokenPipeError traceback on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "config", "--state-dir", str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the interpreter has imported the agent and written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
