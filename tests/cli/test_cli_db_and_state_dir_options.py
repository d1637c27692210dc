"""`--db` and `--state-dir` on a command that opens only the database: both together are refused (the
URL won silently, and `token create` made a token in a new database); an error in the URL names the
option it came from; an empty `--db` is refused, not read as "not set"."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store import open_store
from tests.inprocess_cli import run_cli as _run

pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


COMMANDS = [("token", "create", "--name", "t", "--scope", "admin"), ("token", "list"),
            ("token", "revoke", "1"), ("db", "status"), ("db", "upgrade"),
            ("db", "compact-events", "--older-than", "90d")]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_state_dir_and_db_together_are_a_usage_error(command: tuple[str, ...], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    open_store(f"sqlite:///{state / 'trimtab.db'}").close()
    other = tmp_path / "other.db"
    code, _, err = _run(capsys, *command, "--state-dir", str(state), "--db", f"sqlite:///{other}")
    assert code == 2
    assert err.strip().splitlines()[-1] == ("error: --state-dir and --db both name the database: this command would "
                                            "use --db and ignore --state-dir; give one of them")
    assert not other.exists()  # before: `token create` made this database and its token there


def test_a_db_url_from_the_environment_with_state_dir_is_refused_naming_the_variable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_DB", f"sqlite:///{tmp_path / 'other.db'}")
    code, _, err = _run(capsys, "token", "list", "--state-dir", str(tmp_path / "state"))
    assert code == 2 and "--state-dir and TRIMTAB_DB both name the database" in err


def test_a_state_dir_left_in_the_environment_does_not_stop_db(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    db_file = tmp_path / "db" / "trimtab.db"
    open_store(f"sqlite:///{db_file}").close()
    monkeypatch.setenv("TRIMTAB_STATE_DIR", str(tmp_path / "state"))
    code, out, _ = _run(capsys, "db", "status", "--db", f"sqlite:///{db_file}")
    assert code == 0 and str(db_file) in out


def test_a_bad_url_names_the_option_or_the_variable_it_came_from(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _run(capsys, "db", "status", "--db", "garbage")
    assert code == 2 and err.strip().splitlines()[-1] == (
        "error: setting db_url (--db): not a URL: only sqlite:/// and postgresql:// URLs are supported")
    monkeypatch.setenv("TRIMTAB_DB", "garbage")
    code, _, err = _run(capsys, "db", "status")
    assert code == 2 and err.strip().splitlines()[-1] == (
        "error: setting db_url (TRIMTAB_DB): not a URL: only sqlite:/// and postgresql:// URLs are supported")


# Not `server start`: were --db "" taken again, it would serve for good on the default database.
@pytest.mark.parametrize("command", [("db", "status"), ("token", "list"), ("token", "create", "--name", "t", "--scope", "admin")],
                         ids=" ".join)
def test_an_empty_db_is_refused(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, *command, "--db", "")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(
        "error: Invalid value for '--db': '': an empty value is most often an unset shell variable")


def test_server_start_names_a_flag_or_its_variable_as_given(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 99999 never binds, so the server stops at its configuration whatever happens.
    state = str(tmp_path / "state")
    code, _, err = _run(capsys, "server", "start", "--listen", "127.0.0.1:99999", "--state-dir", state)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: setting listen (--listen): ")
    monkeypatch.setenv("TRIMTAB_LISTEN", "127.0.0.1:99999")
    code, _, err = _run(capsys, "server", "start", "--state-dir", state)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: setting listen (TRIMTAB_LISTEN): ")
