"""The server's log level and format (TRIMTAB_LOG_LEVEL, TRIMTAB_LOG_FORMAT): JSON lines a log shipper
parses, level filtering, clear errors for bad values, and a formatter that never raises."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.config import ServerConfig, load_config
from server.errors import InvalidArgument
from server.logs import JsonFormatter, StderrHandler, configure_logging

REPO = Path(__file__).resolve().parents[2]
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    # A private per-user directory, collection off, and no log setting of the runner's own.
    base = {k: v for k, v in os.environ.items() if k not in ("TRIMTAB_LOG_LEVEL", "TRIMTAB_LOG_FORMAT")}
    return {**base, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(tmp_path / "xdg"), "TRIMTAB_COLLECT": "0",
            **settings}


def _start_and_stop(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[str, str]:
    """`trimtab server start` on 127.0.0.1:0 over a temporary SQLite database: its "listening on" line and,
    after SIGTERM, its whole stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                             "--db", f"sqlite:///{tmp_path / 'trimtab.db'}", "--state-dir", str(tmp_path / "state"),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert line.startswith("listening on 127.0.0.1:"), (line, stderr)
    return line, stderr


def _records(stderr: str) -> list[dict[str, Any]]:
    """Every line of `stderr` as the JSON object it must be (a line that is not one fails the test)."""
    records = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line on stderr: {line!r}")
        assert isinstance(record, dict) and {"ts", "level", "logger", "message"} <= set(record), line
        assert TS.fullmatch(record["ts"]), record["ts"]
        records.append(record)
    return records


# ------------------------------------------------------------------ the real server


def test_json_format_writes_only_json_lines_with_the_start_line(tmp_path: Path) -> None:
    line, stderr = _start_and_stop(tmp_path, _env(tmp_path, TRIMTAB_LOG_FORMAT="json"))
    records = _records(stderr)
    address = line.split()[-1]
    started = [r for r in records if r["logger"] == "server.serve"
               and r["message"].startswith(f"trimtab server listening on {address} ")]
    assert len(started) == 1 and started[0]["level"] == "info", records
    # The settings travel as an object a log search can filter on, the sensitive one masked.
    config = next(r for r in records if r["message"].startswith("config: "))["config"]
    assert config["log_format"] == "json" and config["log_level"] == "info" and config["db_url"] == "****"
    assert any(r["message"].startswith("signal 15: shutting down") for r in records)


def test_warning_level_hides_info_lines(tmp_path: Path) -> None:
    _, stderr = _start_and_stop(tmp_path, _env(tmp_path, TRIMTAB_LOG_FORMAT="json", TRIMTAB_LOG_LEVEL="WARNING"))
    records = _records(stderr)
    assert {r["level"] for r in records} <= {"warning", "error", "critical"}, records
    # The loopback-address warning still comes through; the start line (info) does not.
    assert any("agents on Databricks clusters cannot reach this server" in r["message"] for r in records), records
    assert not any("listening on" in r["message"] for r in records)


def test_the_flag_wins_over_the_variable_and_text_stays_the_default(tmp_path: Path) -> None:
    _, stderr = _start_and_stop(tmp_path, _env(tmp_path, TRIMTAB_LOG_LEVEL="error"), "--log-level", "info")
    assert re.search(r"^\S+Z INFO server\.serve: trimtab server listening on 127\.0\.0\.1:\d+ ", stderr, re.M), stderr


@pytest.mark.parametrize(("settings", "args", "message"), [
    ({"TRIMTAB_LOG_LEVEL": "verbose"}, (),
     "error: setting log_level (TRIMTAB_LOG_LEVEL): 'verbose' is not one of debug, info, warning, error"),
    ({}, ("--log-format", "yaml"), "error: setting log_format (--log-format): 'yaml' is not one of text, json"),
])
def test_a_bad_value_stops_the_server_naming_where_it_came_from_and_the_allowed_values(
        tmp_path: Path, settings: dict[str, str], args: tuple[str, ...], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                          "--state-dir", str(tmp_path / "state"), *args], capture_output=True, text=True,
                         env=_env(tmp_path, **settings), cwd=REPO, timeout=60)
    assert out.returncode != 0 and "listening on" not in out.stdout
    assert out.stderr.strip().splitlines()[-1] == message, out.stderr


def test_a_failure_after_start_is_a_json_record_too(tmp_path: Path) -> None:
    """In JSON, main()'s plain "error:" line would be the one line a shipper cannot parse."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "server.cli.main", "server", "start", "--listen",
                              f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state")], capture_output=True,
                             text=True, env=_env(tmp_path, TRIMTAB_LOG_FORMAT="json"), cwd=REPO, timeout=60)
    assert out.returncode == 1 and "listening on" not in out.stdout
    last = _records(out.stderr)[-1]
    assert last["level"] == "error" and last["logger"] == "trimtab", last
    assert last["message"].startswith(f"server stopped: cannot listen on 127.0.0.1:{port}: address already in use")
    assert "exception" not in last  # an expected failure: its one line says it all


# ------------------------------------------------------------------ the settings


def test_the_settings_take_any_case_and_a_file_value_is_checked_naming_the_file(tmp_path: Path) -> None:
    env = {"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_LOG_LEVEL": " Debug ", "TRIMTAB_LOG_FORMAT": "JSON"}
    config = load_config({}, env=env)
    assert (config.log_level, config.log_format) == ("debug", "json")
    assert ServerConfig(log_level="ERROR").log_level == "error"
    assert (ServerConfig().log_level, ServerConfig().log_format) == ("info", "text")
    (tmp_path / "server.toml").write_text('log_format = "xml"\n')
    with pytest.raises(InvalidArgument, match=re.escape(
            f"setting log_format ({tmp_path / 'server.toml'}): 'xml' is not one of text, json")):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path)})
    with pytest.raises(InvalidArgument, match=re.escape(
            "setting log_level (TRIMTAB_LOG_LEVEL): 'trace' is not one of debug, info, warning, error")):
        ServerConfig(log_level="trace")


def test_a_host_that_set_up_logging_keeps_it() -> None:
    """As logging.basicConfig does: in-process (pytest, or a host embedding the CLI) nothing is replaced."""
    root = logging.getLogger()
    theirs = logging.NullHandler()
    root.addHandler(theirs)
    level = root.level
    try:
        assert configure_logging(ServerConfig(log_level="error", log_format="json")) is False
        assert root.level == level and not any(isinstance(h, StderrHandler) for h in root.handlers)
    finally:
        root.removeHandler(theirs)


# ------------------------------------------------------------------ the formatter


class _Opaque:
    def __str__(self) -> str:
        return "opaque thing"


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("server.test_logs")
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logger.makeRecord(logger.name, logging.ERROR, __file__, 1, msg, args, exc_info, extra=extra)


def test_the_formatter_writes_the_exception_and_every_extra_field() -> None:
    record = _record("run %s failed", 42, exc=True, thing=_Opaque(), count=3, nested={"a": [1, 2.5, None]},
                     ratio=float("nan"), level="mine", when={1, 2})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "error" and out["logger"] == "server.test_logs" and out["message"] == "run 42 failed"
    assert TS.fullmatch(out["ts"])
    assert out["exception"].startswith("Traceback (most recent call last):")
    assert out["exception"].endswith("ValueError: boom")
    assert out["thing"] == "opaque thing" and out["when"] == "{1, 2}"  # not JSON: as text
    assert out["count"] == 3 and out["nested"] == {"a": [1, 2.5, None]}
    assert out["ratio"] == "nan"  # NaN is not JSON: strict parsers refuse it
    assert out["extra_level"] == "mine"  # an extra never overwrites the record's own fields


def test_the_formatter_never_raises() -> None:
    formatter = JsonFormatter()
    # Arguments that do not fit the format: the line says so instead of logging's "--- Logging error ---".
    out = json.loads(formatter.format(_record("%d items", "many")))
    assert out["message"].startswith("%d items (arguments ('many',) did not fit")
    out = json.loads(formatter.format(_record("%s", _Unprintable(), thing=_Unprintable())))
    assert out["thing"] == "<unprintable _Unprintable>"
    # A record broken beyond that still gives one JSON line.
    broken = _record("x")
    broken.created = "not a time"  # type: ignore[assignment]
    out = json.loads(formatter.format(broken))
    assert out["level"] == "error" and out["message"].startswith("a log record could not be formatted")
    assert TS.fullmatch(out["ts"]) and out["record_message"] == "x"


def test_a_threads_uncaught_exception_becomes_a_record(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """In JSON, configure_logging installs this hook: Python's own would print a bare traceback."""
    import threading

    from server.logs import _log_thread_exception

    def fail() -> None:
        raise RuntimeError("worker died")

    monkeypatch.setattr(threading, "excepthook", _log_thread_exception)
    with caplog.at_level(logging.ERROR, logger="trimtab"):
        thread = threading.Thread(target=fail, name="trimtab-test-worker")
        thread.start()
        thread.join(10)
    [record] = [r for r in caplog.records if r.name == "trimtab"]
    assert record.getMessage() == "uncaught exception in thread trimtab-test-worker"
    out = json.loads(JsonFormatter().format(record))
    assert out["exception"].endswith("RuntimeError: worker died")


def test_text_lines_carry_utc_time_marked_as_such() -> None:
    # Python's default was the host's local time with no zone ("2026-12-05 22:42:50,244").
    from server.logs import TEXT_FORMAT, TextFormatter

    record = _record("collected %d runs", 3)
    record.created = 1_796_511_770.244  # 2026-12-05T23:02:50.244Z
    assert TextFormatter(TEXT_FORMAT).format(record) == ("2026-12-05T23:02:50.244Z ERROR server.test_logs: "
                                                         "collected 3 runs")
