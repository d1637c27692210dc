"""An API token longer than any token could be is refused before the call (review clifix 4).

A 20,000-character --token (a whole file, a paste gone wrong) reached gRPC, which failed with its raw
"received metadata size exceeds hard limit ... (RESOURCE_EXHAUSTED)". Now it is a usage error saying
how long it is and how long a token is. Real server, real CLI.
"""

from __future__ import annotations

import pytest

from server.cli.context import MAX_TOKEN_CHARS
from server.cli.main import main
from server.serve import RunningServer
from tests.cli.conftest import Trimtab


def test_an_overlong_token_is_a_usage_error(trimtab: Trimtab) -> None:
    code, out, err = trimtab("project", "list", token_arg="tt_abc_" + "x" * 20_000)
    assert (code, out) == (2, "")
    assert err == ("error: the token (--token or TRIMTAB_TOKEN) is 20,007 characters long; a Trimtab token is 48 "
                   f"(tt_...) and no token is longer than {MAX_TOKEN_CHARS:,}: check how it was copied or read "
                   "(a whole file?)\n")


def test_from_trimtab_token_too(cli_server: RunningServer, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIMTAB_TOKEN", "y" * 20_000)
    code = main(["--server", cli_server.address, "project", "list"])
    err = capsys.readouterr().err
    assert code == 2 and "is 20,000 characters long" in err and "RESOURCE_EXHAUSTED" not in err


def test_a_token_at_the_bound_reaches_the_server(trimtab: Trimtab) -> None:
    # Not a stored token: the server's own refusal shows the call was made.
    code, _, err = trimtab("project", "list", token_arg="tt_abc_" + "x" * (MAX_TOKEN_CHARS - 7))
    assert code == 1 and "(UNAUTHENTICATED)" in err, err
