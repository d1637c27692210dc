"""An empty variable name or token id is a usage error that says it is empty (review clifix 3).

`token revoke ''` was exit 1 "token '' not found"; `workspace add --token-env ''` said the name "looks
like a token"; `--cloud-credentials-env ''` on `workspace add` was taken as left out (the workspace was
added without its billing credentials), and its refusals gave DATABRICKS_TOKEN as the example. Real
server, real CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.domain import Workspace
from server.store import Store, open_store
from tests.cli.conftest import Trimtab
from tests.inprocess_cli import run_cli

UNSET = "an empty value is most often an unset shell variable"
ADD = ["workspace", "add", "new", "--host", "http://127.0.0.1:9", "--cloud", "aws"]


def test_revoking_an_empty_token_id_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(f"sqlite:///{tmp_path / 'trimtab.db'}").close()  # as the server's first start
    code, out, err = run_cli(capsys, "token", "revoke", "", "--state-dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (f"error: Invalid value for 'TOKEN_ID': '': {UNSET}; give the id of a token `trimtab token list` "
                   "shows\n")


@pytest.mark.parametrize(("options", "option", "holds", "example"), [
    (["--token-env", ""], "--token-env", "the token", "DATABRICKS_TOKEN"),
    (["--client-id", "abc", "--client-secret-env", " "], "--client-secret-env", "the OAuth client secret",
     "DBX_SP_SECRET"),
    (["--token-env", "DATABRICKS_TOKEN", "--cloud-credentials-env", ""], "--cloud-credentials-env",
     "the cloud credentials JSON", "AWS_BILLING"),
])
def test_an_empty_variable_name_is_said_to_be_empty(trimtab: Trimtab, cli_store: Store,
                                                     monkeypatch: pytest.MonkeyPatch, options: list[str],
                                                     option: str, holds: str, example: str) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi0123")
    code, out, err = trimtab(*ADD, *options)
    assert (code, out) == (2, "")
    given = options[options.index(option) + 1]
    assert err == (f"error: {option} {given!r}: {UNSET}; give the name of the environment variable that holds "
                   f"{holds}, e.g. {option} {example}\n")
    assert cli_store.workspaces.list() == []


def test_workspace_set_says_the_same(trimtab: Trimtab, cli_store: Store) -> None:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    code, _, err = trimtab("workspace", "set", "prod", "--cloud-credentials-env", "")
    assert code == 2 and err.startswith(f"error: --cloud-credentials-env '': {UNSET}")


def test_a_pasted_value_gets_the_options_own_example(trimtab: Trimtab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi0123")
    code, _, err = trimtab(*ADD, "--token-env", "DATABRICKS_TOKEN", "--cloud-credentials-env", '{"a": 1}')
    assert code == 2 and err.endswith("e.g. --cloud-credentials-env AWS_BILLING\n"), err
