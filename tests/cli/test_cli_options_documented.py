"""Every command and every option its --help shows is in the documentation, beside the command.

A review found options only --help knew (`timeline --width`, `run list --page-token`, `project
backfill --spark-master`, `project list --workspace`, `project set --spot` and `--driver-type`) and a
command no page named (`app show`); and the top-level --help said `token` creates and lists tokens
(it revokes them too). A section of a Markdown file in the repository (up to its next heading) that
names the command (`trimtab run list`, or `recommendation apply/reject/revert`) and the option counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from server.cli.main import GROUPS, cli
from server.config import ServerConfig

REPO = Path(__file__).resolve().parents[2]
# Every command takes these (README: "Every command takes --json ... --debug"; --server/--token beside them).
COMMON = {"--json", "--debug", "--server", "--token", "--help", "-h"}
# Taken by every command that opens the database itself, documented for them together (README, docs/operations.md).
STORE = {"--db", "--state-dir"}


def _sections() -> list[str]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("*/**/README.md"))]
    return [p for f in files if ".git" not in f.parts for p in re.split(r"\n(?=#+ )", f.read_text())]


def _commands() -> Iterator[tuple[list[str], click.Command]]:
    ctx = click.Context(cli)

    def walk(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    for name in GROUPS:
        command = cli.get_command(ctx, name)
        assert command is not None
        yield from walk(command, [name])


def _names(path: list[str]) -> re.Pattern[str]:
    """The command as the docs write it: `run list`, or one of `recommendation apply/reject/revert`."""
    if len(path) == 1:
        return re.compile(rf"trimtab (?:--?[\w-]+ )*{re.escape(path[0])}\b")
    group, sub = map(re.escape, path)
    return re.compile(rf"\b{group} (?:[\w-]+/)*{sub}(?![\w-])")


def _server_setting_flags() -> set[str]:
    """`server start`'s flags for settings: in docs/operations.md's settings table, made from server.config."""
    import dataclasses

    return {f.metadata["flag"] for f in dataclasses.fields(ServerConfig) if f.metadata.get("flag")}


def test_every_command_and_option_is_documented_beside_its_command() -> None:
    sections = _sections()
    missing: list[str] = []
    for path, command in _commands():
        name = _names(path)
        beside = [p for p in sections if name.search(p)]
        if not beside:
            missing.append(" ".join(path))
            continue
        exempt = COMMON | (STORE if any(p.name == "db_url" for p in command.params) else set())
        if path == ["server", "start"]:
            exempt |= _server_setting_flags()
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for option in [*param.opts, *param.secondary_opts]:
                if option in exempt:
                    continue
                said = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
                if not any(said.search(p) for p in beside):
                    missing.append(f"{' '.join(path)} {option}")
    assert missing == []


def test_the_top_level_help_says_what_each_group_does() -> None:
    """Each group's line in `trimtab --help` (from GROUPS, so --help imports nothing) opens its own help."""
    ctx = click.Context(cli)
    for name, (_, line) in GROUPS.items():
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            assert (command.help or "").startswith(line.rstrip(".")), name
