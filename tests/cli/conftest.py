"""`trimtab` as a user runs it (the real entry point) against a real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig
from server.domain import Project
from server.serve import RunningServer, start_server
from server.store import Store

Trimtab = Callable[..., tuple[int, str, str]]
NIGHTLY_SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.fixture
def nightly(cli_store: Store) -> Project:
    """One imported job cluster with default settings (prod / job 42 / main, "nightly")."""
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))


def shown(out: str, key: str) -> list[str]:
    """The values `project show` prints on the lines that start with ``key`` (none: not shown)."""
    return [line.split("  ", 1)[1].strip() for line in out.splitlines() if line.startswith(key)]


@pytest.fixture
def nothing_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Trimtab variable of the runner's own (a database, state dir, configuration file, server or
    token) reaches the command, and the per-user default state directory is in tmp_path, not the
    runner's home: which database a command opens is then decided by its options alone. That
    default directory (not created)."""
    for name in ("TRIMTAB_DB", "TRIMTAB_STATE_DIR", "TRIMTAB_CONFIG", "TRIMTAB_SERVER", "TRIMTAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "trimtab"


@pytest.fixture
def cli_store(sqlite_store: Store) -> Store:
    return sqlite_store


@pytest.fixture
def cli_server(cli_store: Store, tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state"), cli_store)
    yield running
    running.stop(0)


@pytest.fixture
def trimtab(cli_server: RunningServer, cli_store: Store, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Trimtab:
    _, token = cli_store.tokens.create("cli", "admin")
    monkeypatch.delenv("TRIMTAB_TOKEN", raising=False)

    def run(*args: str, token_arg: str | None = token) -> tuple[int, str, str]:
        capsys.readouterr()
        auth = ["--token", token_arg] if token_arg else []
        code = main(["--server", cli_server.address, *auth, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
