"""How the demo tests start `trimtab demo`: as a shell in a terminal starts a foreground job."""

from __future__ import annotations

import signal


def as_a_terminal_starts_it() -> None:
    """Popen's preexec_fn: the stop signals at their defaults. The suite itself may run under `nohup`
    or `&`, whose ignored SIGHUP/SIGINT the demo would keep ignoring (as it should: a demo started
    so is meant to outlive them), and the tests that stop it by those signals would see no stop."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
