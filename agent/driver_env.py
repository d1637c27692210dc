"""Where the Spark UI is on a Databricks driver, from ``/tmp/driver-env.sh``.

The init script (and so the agent) starts before Spark, so the UI's port is not
known then. Databricks writes ``driver-env.sh`` once the driver is up, with
``CONF_UI_PORT`` (and ``CONF_PUBLIC_DNS``); vendors' scripts read it the same
way (see ../shared/notes/spark-eventlog.md §5, marked unverified on current
runtimes). The agent looks again at every REST interval until it finds it.
"""

from __future__ import annotations

import re
from pathlib import Path

_ASSIGN = re.compile(r"""^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=["']?([^"'\s]*)["']?\s*$""")


def parse_env_file(text: str) -> dict[str, str]:
    """``NAME=value`` lines of a shell file (quotes and ``export`` allowed; anything else ignored)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGN.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def spark_ui_url(env_file: str, driver_ip: str = "") -> str:
    """The Spark UI base URL from the file, or "" when it is not there (yet)."""
    if not env_file:
        return ""
    try:
        values = parse_env_file(Path(env_file).read_text(errors="replace"))
    except OSError:
        return ""
    port = values.get("CONF_UI_PORT", "")
    if not port.isdigit():
        return ""
    host = driver_ip or values.get("CONF_DRIVER_IP", "") or "127.0.0.1"
    return f"http://{host}:{port}"
