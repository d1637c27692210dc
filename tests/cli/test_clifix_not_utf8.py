"""A byte that is not valid UTF-8 in any argument is a usage error naming where it is (review clifix 2).

bash's ``$'x\\xff'`` reaches Python as ``'x\\udcff'``: it went as far as the gRPC call and failed with
"'utf-8' codec can't encode character '\\udcff' ... surrogates not allowed", exit 1, naming nothing;
`token create --name` called it a control character. Now every command's parser refuses it (exit 2),
one line naming the option, argument or variable, and nothing is sent. Real server, real CLI (and
one run as a separate process, so the byte goes through the operating system's argv).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli.main import main
from server.domain import Project, Workspace
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab
from tests.inprocess_cli import run_cli

X = "x\udcff"  # what Python makes of the bytes b"x\xff" in argv (surrogateescape)
SAID = "the byte 0xff in it is not valid UTF-8"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "where"), [
    (["project", "show", X], "'PROJECT'"),
    (["workspace", "show", X], "'NAME'"),
    (["run", "show", X], "'RUN_ID'"),
    (["app", "show", X], "'APPLICATION_ID'"),
    (["savings", X], "'[PROJECT]'"),
    (["project", "list", f"--workspace={X}"], "'--workspace'"),
    (["recommendation", "apply", "1", "--dry-run", "--id", X], "'--id'"),
    (["workspace", "add", X, "--host", "http://127.0.0.1:9", "--token-env", "DATABRICKS_TOKEN", "--cloud", "aws"],
     "'NAME'"),
])
def test_an_argument_that_is_not_utf8_is_a_usage_error_naming_it(trimtab: Trimtab, args: list[str],
                                                                  where: str) -> None:
    code, out, err = trimtab(*args)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: Invalid value for {where}: {SAID}") and len(err.splitlines()) == 1
    assert "codec" not in err and "surrogates" not in err


def test_nothing_is_sent(trimtab: Trimtab, cli_store: Store, cli_server: RunningServer) -> None:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    spec = {"node_type_id": "m5.xlarge", "num_workers": 4}
    project = cli_store.projects.add(Project(workspace="prod", job_id=1, cluster_key="main", job_name="n",
                                             current_spec=spec, original_spec=spec))
    code, _, err = trimtab("project", "set", str(project.id), "--sla", "30m", "--driver-type", X)
    assert code == 2 and "Invalid value for '--driver-type': " + SAID in err
    assert cli_store.projects.get(int(project.id or 0)).settings.sla_seconds is None


def test_the_token_name_is_said_to_be_not_utf8_not_a_control_character(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "token", "create", "--name", X, "--scope", "admin",
                             "--state-dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.startswith("error: Invalid value for '--name': " + SAID) and "control character" not in err
    assert not tmp_path.joinpath("trimtab.db").exists()


def test_the_token_is_refused_without_being_shown(trimtab: Trimtab) -> None:
    code, _, err = trimtab("project", "list", token_arg="tt_secret" + X)
    assert code == 2 and err.startswith("error: Invalid value for '--token': " + SAID)
    assert "secret" not in err


def test_from_an_environment_variable_the_variable_is_named(cli_server: RunningServer,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_TOKEN", "tt_" + X)
    code = main(["--server", cli_server.address, "project", "list"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: environment variable TRIMTAB_TOKEN (for --token): " + SAID)


def test_the_bytes_as_a_shell_passes_them(cli_server: RunningServer) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRIMTAB_TOKEN": "tt_unused"}
    done = subprocess.run([sys.executable, "-m", "server.cli.main", "--server", cli_server.address,
                           "project", "show", b"x\xff"], capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.decode().startswith(f"error: Invalid value for 'PROJECT': {SAID}")
