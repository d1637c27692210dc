"""--server/--token typed before a command that calls no Trimtab server are refused as after it.

`trimtab --server prod.example:50051 token create --name ci --scope admin --state-dir D` exited 0 and
made the admin token in the local database: the root took the options, and only commands that dial a
server read them. README says the local commands refuse them; now they do in either position, with
the same line and exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store import open_store
from tests.inprocess_cli import run_cli as _run

pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


@pytest.fixture(autouse=True)
def _an_invalid_sandbox_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the options still ignored, `sandbox up` / `demo` / `server start` would stop at their own
    # checks (an invalid speed, zero runs, a bad port) instead of serving forever.
    monkeypatch.setenv("TRIMTAB_SANDBOX_SPEED", "-1")


@pytest.fixture
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    state = tmp_path / "state"
    assert _run(capsys, "db", "upgrade", "--state-dir", str(state))[0] == 0
    return state


# (the command, the arguments after it)
LOCAL = [
    (["token", "create"], ["--name", "ci", "--scope", "admin"]),
    (["token", "list"], []),
    (["token", "revoke"], ["abc"]),
    (["db", "status"], []),
    (["db", "upgrade"], []),
    (["db", "compact-events"], ["--older-than", "90d"]),
    (["project", "backfill"], ["1", "--eventlogs", "/nowhere"]),
    (["prices", "show"], ["--cloud", "aws", "--region", "us-east-1", "--node-type", "m5d.xlarge"]),
    (["prices", "update"], ["--cloud", "azure", "--azure-endpoint-url", "http://127.0.0.1:9"]),
    (["sandbox", "up"], []),
    (["demo"], ["--runs", "0"]),
    (["server", "start"], ["--listen", "127.0.0.1:99999"]),
]


@pytest.mark.parametrize(("command", "rest"), LOCAL, ids=lambda v: " ".join(v) if v else "-")
@pytest.mark.parametrize("option", ["--server", "--token"])
def test_before_the_command_is_refused_with_the_line_given_after_it(
        capsys: pytest.CaptureFixture[str], state: Path, command: list[str], rest: list[str], option: str) -> None:
    given = [option, "prod.example:50051"]
    after = _run(capsys, *command, *given, "--state-dir", str(state), *rest)
    before = _run(capsys, *given, *command, "--state-dir", str(state), *rest)
    assert before == after
    code, out, err = before
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {option} does not apply to `trimtab {' '.join(command)}`: "
                          "it calls no Trimtab server"), err
    assert err.count("\n") == 1


def test_no_admin_token_is_made_in_the_local_database(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    code, out, _ = _run(capsys, "--server", "prod.example:50051", "token", "create", "--name", "ci", "--scope",
                        "admin", "--state-dir", str(state))
    assert (code, out) == (2, "")
    store = open_store(f"sqlite:///{state / 'trimtab.db'}", upgrade=False)
    try:
        assert store.tokens.list() == []
    finally:
        store.close()


def test_refused_before_the_commands_own_checks(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    # Without --name and --scope: the misplaced --server is the mistake named, as after the command.
    code, _, err = _run(capsys, "--server", "x:1", "token", "create", "--state-dir", str(state))
    assert code == 2 and err.startswith("error: --server does not apply to `trimtab token create`"), err


def test_environment_variables_are_no_choice_made_for_the_command(
        capsys: pytest.CaptureFixture[str], state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_SERVER", "prod.example:50051")
    monkeypatch.setenv("TRIMTAB_TOKEN", "tt_a_b")
    code, out, err = _run(capsys, "db", "status", "--state-dir", str(state))
    assert code == 0 and "up to date" in out, err


def test_json_and_debug_before_a_local_command_are_still_taken(capsys: pytest.CaptureFixture[str],
                                                               state: Path) -> None:
    code, out, err = _run(capsys, "--json", "--debug", "db", "status", "--state-dir", str(state))
    assert code == 0 and '"state": "up to date"' in out, err
