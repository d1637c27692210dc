"""An option given twice to one command (reviewer's bad-input findings): click kept the last, so
`project set P --sla-every-run --sla-typical-run` exited 0 storing the typical-run SLA, `--sla 30m
--sla 45m` stored 45m and `workspace set W --plan standard --plan enterprise` stored enterprise. Now
a usage mistake (exit 2) naming the option (both sides of a paired switch), and nothing is sent;
through the real entry point against a real server, and for every command of the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest

from server.cli.main import GROUPS, cli, main
from server.domain import Project, ProjectSettings, Workspace
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.fixture
def project(cli_store: Store) -> Project:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC,
                                          settings=ProjectSettings(sla_seconds=1800.0, sla_every_run=True)))


def test_opposite_switches_together_are_refused_and_nothing_is_stored(trimtab: Trimtab, project: Project,
                                                                      cli_store: Store) -> None:
    assert project.id is not None
    code, out, err = trimtab("project", "set", str(project.id), "--sla-every-run", "--sla-typical-run")
    assert code == 2, (out, err)
    assert "--sla-every-run and --sla-typical-run were given together" in err
    code, _, err = trimtab("project", "set", str(project.id), "--no-working-sla", "--working-sla")
    assert code == 2 and "--no-working-sla" in err and "--working-sla" in err.replace("--no-working-sla", "")
    assert cli_store.projects.get(project.id).settings.sla_every_run is True


@pytest.mark.parametrize("twice", [["--sla", "30m", "--sla", "45m"], ["--sla=30m", "--sla", "45m"],
                                   ["--sla", "45m", "--sla", "45m"]])
def test_a_value_given_twice_is_refused_naming_it(twice: list[str], trimtab: Trimtab, project: Project,
                                                  cli_store: Store) -> None:
    assert project.id is not None
    code, out, err = trimtab("project", "set", str(project.id), *twice)
    assert code == 2, (out, err)
    assert err.strip() == "error: --sla was given more than once: give it once"
    assert cli_store.projects.get(project.id).settings.sla_seconds == 1800.0


def test_workspace_plan_given_twice_is_refused(trimtab: Trimtab, project: Project, cli_store: Store) -> None:
    code, out, err = trimtab("workspace", "set", "prod", "--plan", "standard", "--plan", "enterprise")
    assert code == 2, (out, err)
    assert "--plan was given more than once" in err
    assert cli_store.workspaces.get("prod").plan == "premium"


def test_the_root_options_too(trimtab: Trimtab) -> None:
    code, _, err = trimtab("--json", "--json", "project", "list")  # the same switch twice: taken
    assert code == 0, err
    code, _, err = trimtab("--token", "a", "project", "list")  # trimtab() gave --token already
    assert code == 2 and "--token was given more than once" in err


def test_what_is_meant_to_repeat_still_repeats(trimtab: Trimtab, project: Project,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Not through trimtab(): it types --server and --token, which `prices` refuses.
    capsys.readouterr()
    code = main(["prices", "show", "--cloud", "aws", "--node-type", "m5.xlarge", "--node-type", "m5.2xlarge"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "m5.xlarge" in out and "m5.2xlarge" in out
    assert project.id is not None
    code, out, err = trimtab("--json", "project", "show", str(project.id), "--json")  # root's, then its own
    assert code == 0 and json.loads(out)["settings"]["sla_every_run"] is True


def _commands() -> Iterator[tuple[list[str], click.Command]]:
    ctx = click.Context(cli)
    stack: list[tuple[list[str], click.Command]] = []
    for name in GROUPS:
        command = cli.get_command(ctx, name)
        assert command is not None
        stack.append(([name], command))
    while stack:
        path, command = stack.pop()
        yield path, command
        if isinstance(command, click.Group):
            stack.extend(([*path, name], sub) for name, sub in command.commands.items())


def test_every_command_refuses_a_repeated_value(capsys: pytest.CaptureFixture[str]) -> None:
    # Refused while parsing, before any argument is checked or anything is opened or called, so each
    # command is run with its first value option twice and nothing else.
    checked = 0
    for path, command in _commands():
        # Not a hidden one: the --server/--token of a command that calls no server are refused given once.
        option = next((p for p in command.params if isinstance(p, click.Option) and not p.is_flag
                       and not p.multiple and not p.count and not p.hidden), None)
        if option is None:
            continue
        name = max(option.opts, key=len)
        code = main([*path, name, "1", name, "2"])
        err = capsys.readouterr().err
        assert code == 2 and f"{name} was given more than once" in err, (path, err)
        checked += 1
    assert checked > 30
