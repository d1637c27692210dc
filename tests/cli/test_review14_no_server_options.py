"""--server/--token on commands that call no Trimtab server are refused (review 14).

`trimtab prices update --server prod:50051` was accepted and ignored: it looked like it refreshed
production's catalog but wrote only the local <state-dir>/prices. `prices show`, `sandbox up` and
`demo` took the options the same way. Like `token list --server` they now keep them out of --help
and refuse them, saying what the command works on instead.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from server.cli.main import GROUPS, cli
from tests.inprocess_cli import run_cli as _run

pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


@pytest.fixture(autouse=True)
def _an_invalid_sandbox_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the options still ignored, `sandbox up` / `demo` would then fail on their own checks
    # (an invalid speed, zero runs) instead of serving forever.
    monkeypatch.setenv("TRIMTAB_SANDBOX_SPEED", "-1")


# (command, the arguments that make it stop at its own check if --server/--token get through)
NO_SERVER = [
    (["prices", "show"], []),
    (["prices", "update"], ["--cloud", "azure", "--azure-endpoint-url", "http://127.0.0.1:9"]),
    (["sandbox", "up"], []),
    (["demo"], ["--runs", "0"]),
]


@pytest.mark.parametrize(("command", "rest"), NO_SERVER, ids=lambda v: " ".join(v) if v else "-")
@pytest.mark.parametrize("option", ["--server", "--token"])
def test_server_and_token_are_refused_on_commands_that_call_no_server(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str], rest: list[str],
        option: str) -> None:
    state = tmp_path / "state"
    code, out, err = _run(capsys, *command, option, "203.0.113.9:50051", "--state-dir", str(state), *rest)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {option} does not apply to `trimtab {' '.join(command)}`: "
                          "it calls no Trimtab server; "), err
    assert not (state / "prices").exists()
    code, out, _ = _run(capsys, *command, "--help")
    assert code == 0 and option not in out and "--state-dir" in out


def test_prices_refusal_says_where_a_servers_catalog_is_refreshed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "prices", "update", "--server", "prod:50051")
    assert code == 2
    assert "it writes the catalog under its --state-dir on this machine" in err and "with the server's --state-dir" in err


def test_only_commands_that_dial_the_server_show_server_and_token() -> None:
    """Each command either dials the server (visible --server/--token) or is marked as calling
    none; the list pins the second kind so a new local command is not left taking them silently."""
    ctx = click.Context(cli)
    local: set[str] = set()

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        server = next(p for p in command.params if "--server" in getattr(p, "opts", []))
        token = next(p for p in command.params if "--token" in getattr(p, "opts", []))
        assert server.hidden == token.hidden, path
        if server.hidden:
            local.add(" ".join(path))

    for name in GROUPS:
        command = cli.get_command(ctx, name)
        assert command is not None
        walk(command, [name])
    assert local == {"demo", "prices show", "prices update", "sandbox up", "server start", "db status",
                     "db upgrade", "db compact-events", "token create", "token list", "token revoke",
                     "project backfill", "project remove", "db prune"}
