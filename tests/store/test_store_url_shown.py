"""A database password never reaches logs or CLI output, wherever the URL carries it."""

from __future__ import annotations

import pytest

from server.cli.main import main
from server.store.urls import shown_url


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://ops:Sup3rSecret@db.example/trimtab", "postgresql://ops:***@db.example/trimtab"),
    # Review: libpq's query form was printed as given (server log, `db status`, `token list`).
    ("postgresql://ops@db.example/trimtab?password=Sup3rSecret&sslmode=require",
     "postgresql://ops@db.example/trimtab?password=***&sslmode=require"),
    ("postgresql://ops@db.example/trimtab?sslpassword=Sup3rSecret", "postgresql://ops@db.example/trimtab?sslpassword=***"),
    ("sqlite:////var/lib/trimtab/trimtab.db", "sqlite:////var/lib/trimtab/trimtab.db"),
])
def test_secrets_in_a_database_url_are_masked(url: str, shown: str) -> None:
    assert shown_url(url) == shown


@pytest.mark.parametrize("command", [("token", "list"), ("db", "status")])
def test_cli_commands_do_not_print_a_password_given_as_a_query_parameter(
        command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    # Port 1 refuses: the command fails, and neither its output nor its error shows the password.
    main([*command, "--db", "postgresql://ops@127.0.0.1:1/trimtab?password=Sup3rSecret&connect_timeout=2"])
    out, err = capsys.readouterr()
    assert "Sup3rSecret" not in out + err
    if command[0] == "token":  # it names the database it opens
        assert "127.0.0.1:1/trimtab?connect_timeout=2&password=***" in out + err
