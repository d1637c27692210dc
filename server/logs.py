"""The server process's logging, from its configuration: the level and the format of its lines.

``text`` is one readable line per record, for a terminal: its control characters (a newline in a
job name too) are written as escapes, ``\\n``, ``\\x1b``; a traceback follows on lines of its own.
``json`` is one JSON object per line on stderr, what Datadog, Splunk, CloudWatch and
`kubectl logs | jq` take without a parsing rule:

    {"ts": "2026-12-05T19:48:50.123Z", "level": "info", "logger": "server.serve", "message": "..."}

plus ``exception`` (the formatted traceback) when the record has one, ``stack`` with
``stack_info=True``, what the work under way was for (``workspace``, ``project_id``, ``project``,
``job_id``, ``run_id``: those set, see `server.log_context`; the text format leaves them out), and
every field given with ``extra=`` (JSON values as they are, anything else as its ``str()``). The
formatter never raises: a log call must never break the server.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from server.config import ServerConfig
from server.log_context import ContextFilter
from server.visible import visible

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LEVELS: dict[str, int] = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                          "error": logging.ERROR}

# What every LogRecord carries; anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# The JSON object's own keys: an `extra=` field by one of these names is kept as extra_<name>.
_OWN_KEYS = frozenset({"ts", "level", "logger", "message", "exception", "stack"})


def _text(value: object) -> str:
    """``str(value)``, or something close when that raises (a log line must still be written)."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - any __str__ may fail; the log call must not
        try:
            return repr(value)
        except Exception:  # noqa: BLE001
            return f"<unprintable {type(value).__name__}>"


def _json_value(value: object) -> Any:
    """``value`` when it serialises as strict JSON, else its text (NaN and infinity too: they are not JSON)."""
    try:
        json.dumps(value, allow_nan=False)
    except Exception:  # noqa: BLE001 - TypeError, ValueError, RecursionError, a failing __iter__...
        return _text(value)
    return value


def _timestamp(created: float) -> str:
    """RFC 3339 in UTC with milliseconds: 2026-12-05T19:48:50.123Z."""
    return datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT` with the JSON records' timestamp: UTC, marked so. Python's default is the host's
    local time with no zone, which cannot be lined up with Databricks' run times, the agents' logs
    or a server in another zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return _timestamp(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        # One record, one line, whatever its arguments hold: a job named "etl\n2026-... WARNING
        # server.serve: ..." (anyone who may edit a job names it) wrote a second, forged record,
        # and an escape sequence in a name reached the terminal tailing the log. Every control
        # character of the line (newline included) is written as its escape; this is the line
        # without the traceback, which logging appends after it and keeps on its own lines.
        return visible(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages and tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception as exc:  # noqa: BLE001 - never raise out of a log call
            return self._fallback(record, exc)

    def _format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a message whose arguments do not fit its % format
            message = f"{_text(record.msg)} (arguments {_text(record.args)} did not fit: {_text(exc)})"
        out: dict[str, Any] = {"ts": _timestamp(record.created), "level": record.levelname.lower(),
                               "logger": record.name, "message": message}
        if record.exc_info and not record.exc_text:
            # Cached as logging.Formatter does, so other handlers of the record do not format it again.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key in _RECORD_FIELDS or key.startswith("_"):
                continue
            out[f"extra_{key}" if key in _OWN_KEYS else key] = _json_value(value)
        # ASCII only: the line stays valid whatever encoding stderr has (a C locale in a container).
        return json.dumps(out, allow_nan=False, default=_text)

    def _fallback(self, record: logging.LogRecord, exc: Exception) -> str:
        try:
            try:
                ts = _timestamp(record.created)
            except Exception:  # noqa: BLE001 - the record's own time may be what broke
                ts = _timestamp(time.time())
            return json.dumps({"ts": ts, "level": "error",
                               "logger": __name__, "message": f"a log record could not be formatted: {_text(exc)}",
                               "record_message": _text(getattr(record, "msg", None))})
        except Exception:  # noqa: BLE001
            return '{"level": "error", "logger": "server.logs", "message": "a log record could not be formatted"}'


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each record, not as it was when the handler was made
    (as `logging.lastResort` does): a CLI run in-process by a test swaps stderr and closes it after."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always sys.stderr


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """A thread's uncaught exception as one JSON record, not a bare traceback on stderr."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    logging.getLogger("trimtab").error("uncaught exception in thread %s", name, exc_info=exc_info)


def configure_logging(config: ServerConfig) -> bool:
    """Log records of ``config.log_level`` and above to stderr in ``config.log_format``.

    Like `logging.basicConfig`, leaves logging alone (and returns False) when the root logger
    already has a handler this module did not install: a host process (or pytest, running the
    CLI in-process) that set up logging keeps its own. Called again, it replaces its own handler.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, StderrHandler)]
    if len(ours) != len(root.handlers):
        return False
    for handler in ours:
        root.removeHandler(handler)
    handler = StderrHandler()
    # On the handler, not a logger: a logger's filter sees only the records made on that very
    # logger, and the libraries' (urllib3's, the SDK's, gRPC's) would go out without the fields.
    handler.addFilter(ContextFilter())
    as_json = config.log_format == "json"
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(LEVELS[config.log_level])
    # In JSON, what Python would print on stderr itself (a warnings.warn, a thread's uncaught
    # exception) goes through logging too: one plain line among JSON ones breaks a shipper's parse.
    logging.captureWarnings(as_json)
    if as_json:
        threading.excepthook = _log_thread_exception
    elif threading.excepthook is _log_thread_exception:
        threading.excepthook = threading.__excepthook__
    return True
