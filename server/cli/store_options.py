"""For the commands that open the store themselves: `--db` and `--state-dir`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def store_options(func: F) -> F:
    func = click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                        envvar="TRIMTAB_STATE_DIR",
                        help="Where local files live (default: a per-user data directory).")(func)
    return click.option("--db", "db_url", default=None, envvar="TRIMTAB_DB",
                        help="Database URL (default: SQLite file in the state directory).")(func)  # type: ignore[return-value]


def config_from(db_url: str | None, state_dir: Path | None, **flags: Any) -> Any:
    from server.config import load_config

    return load_config({"db_url": db_url, "state_dir": state_dir, **flags})
