"""The environment of a `python -m server.cli.main` child process that takes no Trimtab setting from
the test runner's.

One helper for the tests that start `trimtab` as a process (four files carried the same two lines)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli_process_env(tmp_path: Path) -> dict[str, str]:
    """The runner's environment without its TRIMTAB_ variables, with this checkout's code first on the
    path (not another checkout's editable install), the per-user state directory inside ``tmp_path``
    and the collector off, so that what the child does follows from its arguments alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env.update(PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path / "xdg"), TRIMTAB_COLLECT="0")
    return env
