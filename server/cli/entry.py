"""The ``trimtab`` console script: checks what it needs before importing the CLI.

The package also installs on Python 3.10 and without the ``server`` extra, because the
agent (``trimtab-agent``) runs on Databricks drivers that have only that. This module must
therefore stay importable there: plain 3.10 syntax, standard library only, and it imports
``server.cli.main`` (click, 3.11-only code) only once both checks passed.
"""

from __future__ import annotations

import sys

SERVER_EXTRA = ("click", "sqlmodel", "sqlalchemy")


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - the package installs on 3.10 for the agent
        v = ".".join(str(p) for p in sys.version_info[:3])
        print(f"trimtab server needs Python 3.11 or newer (this is {v}); the agent alone runs on 3.10 "
              "(trimtab-agent)", file=sys.stderr)
        return 2
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in SERVER_EXTRA):
        print("this is the agent-only install: `pip install 'trimtab[server]'` for the trimtab CLI",
              file=sys.stderr)
        return 2
    from server.cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
