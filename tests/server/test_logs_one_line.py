"""The text log writes one line per record whatever a name in it holds (review, finding 4): control
characters of the message and its arguments (newline included) as escapes; a traceback still
follows on lines of its own, and the JSON format is unchanged."""

from __future__ import annotations

import json
import logging
import sys

from server.logs import TEXT_FORMAT, JsonFormatter, TextFormatter

FORGED = "2026-12-06T20:13:00.000Z WARNING server.serve: token tt_attacker_xyz revoked by admin"
NAME = f"etl\n{FORGED}\r\x1b]0;owned\x07\x9b2J"
SHOWN = rf"etl\n{FORGED}\r\x1b]0;owned\x07\x9b2J"


def _record(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    record = logging.LogRecord("server.services.workspaces", logging.WARNING, __file__, 1, msg, args,
                               exc_info)  # type: ignore[arg-type]
    record.created = 1_796_511_770.244  # 2026-12-05T23:02:50.244Z
    return record


def test_a_job_name_cannot_forge_a_line() -> None:
    # The import's own log line (services/workspaces.py), with the name Databricks returned.
    err = ValueError(f"job {NAME} refused")
    line = TextFormatter(TEXT_FORMAT).format(_record("workspace %s: job %d (%s) not imported: %s", "prod", 7, NAME,
                                                     err))
    assert line.splitlines() == [line]
    assert line == (f"2026-12-05T23:02:50.244Z WARNING server.services.workspaces: workspace prod: job 7 ({SHOWN}) "
                    f"not imported: job {SHOWN} refused")
    assert not any(0x80 <= ord(c) < 0xA0 or ord(c) < 0x20 or c == "\x7f" for c in line)


def test_a_control_character_in_the_format_itself_is_shown_too() -> None:
    # Whatever put it there (a name formatted into the message before logging, as f-strings do).
    line = TextFormatter(TEXT_FORMAT).format(_record(f"imported {NAME}"))
    assert line.splitlines() == [line] and line.endswith(f"imported {SHOWN}")


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise RuntimeError("collector\nstopped")
    except RuntimeError:
        record = _record("pass failed for %s", NAME, exc_info=sys.exc_info())
    first, *rest = TextFormatter(TEXT_FORMAT).format(record).splitlines()
    assert first.endswith(f"pass failed for {SHOWN}")
    assert rest[0] == "Traceback (most recent call last):" and rest[-2:] == ["RuntimeError: collector", "stopped"]


def test_json_lines_are_as_they_were() -> None:
    out = json.loads(JsonFormatter().format(_record("job %s", NAME)))
    assert out["message"] == f"job {NAME}"
