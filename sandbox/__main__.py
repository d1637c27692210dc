"""`python -m sandbox`: the sandbox workspace alone, without Trimtab's CLI
(same as `trimtab sandbox up`; every option also reads its TRIMTAB_SANDBOX_* variable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.workspace.config import BY_NAME, load
from sandbox.workspace.serve import serve_until_stopped
from sandbox.workspace.state_lock import WorkspaceInUse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    for flag, name, kind in (("--state-dir", "state_dir", Path), ("--speed", "speed", float),
                             ("--port", "port", int), ("--rate-limit", "rate_limit", int),
                             ("--spot-loss-rate", "spot_loss_rate", float)):
        setting = BY_NAME[name]
        parser.add_argument(flag, dest=name, type=kind, default=None,
                            help=f"{setting.help} [env {setting.env}]")
    parser.add_argument("--no-seed", dest="seed", action="store_const", const=False,
                        default=None, help=BY_NAME["seed"].help.replace("Create", "Do not create"))
    parser.add_argument("--no-schedules", dest="schedules", action="store_const", const=False,
                        default=None, help=BY_NAME["schedules"].help.replace("Start", "Do not start"))
    args = parser.parse_args(argv)
    try:
        config = load(vars(args))
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve_until_stopped(config)
    except WorkspaceInUse as exc:  # another emulator serves this state directory: one line, not a traceback
        print(f"python -m sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
