"""A check run on every parse of a click command's arguments, before any value is converted.

`server.cli.repeats` (an option given twice) and `server.cli.undecodable` (a value that is not
UTF-8) both need click's parser output itself: the raw values, the parameters in the order they were
met and the tokens consumed, before a type converts a value or an eager callback acts on it (it could
otherwise see, or print, the value first). click has no hook there, so the command's parser is
wrapped; this module is the one place that does it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

# (tokens the parser consumed, values by name, parameters in the order met, context)
ParseCheck = Callable[[list[str], dict[str, Any], list[click.Parameter], click.Context], None]


def check_each_parse(command: click.Command, mark: str, check: ParseCheck) -> click.Command:
    """Make ``command`` call ``check`` on each parse of its arguments (once per ``mark``)."""
    if getattr(command, mark, False):
        return command
    make_parser: Callable[[click.Context], Any] = command.make_parser

    def checked_make_parser(ctx: click.Context) -> Any:
        parser = make_parser(ctx)
        parse_args = parser.parse_args

        def checked_parse_args(args: list[str]) -> tuple[dict[str, Any], list[str], list[click.Parameter]]:
            tokens = list(args)  # the parser consumes the list it is given
            opts, rest, order = parse_args(args)
            if not ctx.resilient_parsing:  # shell completion parses half-typed lines: never refuse there
                check(tokens[:len(tokens) - len(rest)] if rest else tokens, opts, order, ctx)
            return opts, rest, order

        parser.parse_args = checked_parse_args
        return parser

    command.make_parser = checked_make_parser  # type: ignore[method-assign]
    setattr(command, mark, True)
    return command
