"""`python -m sandbox [--state-dir DIR] [--speed X] [--port N]`: the sandbox workspace alone,
without Trimtab's CLI (same as `trimtab sandbox up`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.workspace.serve import DEFAULT_STATE_DIR, serve_until_stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--no-seed", action="store_true")
    args = parser.parse_args(argv)
    serve_until_stopped(args.state_dir, speed=args.speed, port=args.port,
                        rate_limit=args.rate_limit, seed=not args.no_seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
