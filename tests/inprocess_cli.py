"""`trimtab` run in this process, as a user types it: exit code, stdout and stderr.

One helper for the tests that need the CLI's own exit codes and streams without a subprocess
(nine files carried the same five lines)."""

from __future__ import annotations

import pytest

from server.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps of the test printed is not this command's
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
