"""The API token as typed or read (review 13): a token read from a file saved on Windows ends in a
carriage return, and one with a non-ASCII character could not be put in a header either; both failed
with gRPC's "Invalid metadata (INTERNAL)", exit 1, naming neither the token nor the cause. Surrounding
whitespace is dropped now, and what a header cannot carry is a usage error (exit 2) naming
--token/TRIMTAB_TOKEN. And a token's name is one line of at most 100 characters (a line feed broke
`token list`'s table). Real server, real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli.main import main
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab


@pytest.fixture
def token(cli_store: Store) -> str:
    return cli_store.tokens.create("me", "admin")[1]


@pytest.mark.parametrize("around", ["{}\r\n", "{}\n", "  {}\t"])
def test_surrounding_whitespace_is_dropped(around: str, token: str, trimtab: Trimtab) -> None:
    code, out, err = trimtab("project", "list", token_arg=around.format(token))
    assert code == 0, err
    assert "PROJECT" in out


def test_the_same_from_trimtab_token(token: str, cli_server: RunningServer, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIMTAB_TOKEN", token + "\r\n")
    code = main(["--server", cli_server.address, "project", "list"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize(("bad", "said"), [
    ("{}\rx", "contains a carriage return (a file saved on Windows?)"),
    ("tt\u00e9{}", "contains a non-ASCII character ('\u00e9')"),
    ("{}\x00", "contains a control character ('\\x00')"),
    ("tt {}", "contains whitespace inside it (' ')"),
])
def test_what_a_header_cannot_carry_is_a_usage_error(bad: str, said: str, token: str, trimtab: Trimtab) -> None:
    code, out, err = trimtab("--json", "project", "list", token_arg=bad.format(token))
    assert code == 2 and out == ""
    assert "the token (--token or TRIMTAB_TOKEN) " + said in err
    assert token not in err  # a secret is not echoed
    assert "INTERNAL" not in err and "Invalid metadata" not in err


def test_a_blank_token_is_no_token(trimtab: Trimtab) -> None:
    code, _, err = trimtab("project", "list", token_arg="  \r\n")
    assert code == 2 and "no token: pass --token or set TRIMTAB_TOKEN" in err


@pytest.mark.parametrize(("name", "said"), [
    ("a\nb", "contains a control character ('\\n')"),
    ("tab\there", "contains a control character ('\\t')"),
    ("x" * 101, "101 characters: at most 100"),
    ("", "an empty value is most often an unset shell variable"),
    ("  ", "an empty value is most often an unset shell variable"),
])
def test_a_token_name_is_one_short_line(name: str, said: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # Before: a name with a line feed was taken and broke `token list`'s table; any length was taken.
    code = main(["token", "create", "--name", name, "--scope", "admin", "--state-dir", str(tmp_path / "st")])
    err = capsys.readouterr().err
    assert code == 2 and "'--name'" in err and said in err, err
    assert not (tmp_path / "st").exists()  # refused before any database was made


def test_a_name_of_100_is_taken_trimmed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "é" * 100
    code = main(["--json", "token", "create", "--name", f" {name} ", "--scope", "admin",
                 "--state-dir", str(tmp_path / "st"), "--create-database"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["name"] == name
