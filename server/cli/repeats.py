"""One option, one value: an option given twice to the same command is a usage mistake.

click keeps the last value of an option given more than once, so `project set P --sla-every-run
--sla-typical-run` stored the typical-run SLA and exited 0, `--sla 30m --sla 45m` stored 45m and
`workspace set W --plan standard --plan enterprise` stored enterprise: one of the two was dropped
without a word, whichever the user meant. Every command of the CLI refuses that instead (exit 2):
an option taking a value given twice (even the same value: one of them is a mistake), and both
sides of a paired switch (`--x/--no-x`). The same switch twice (`--json --json`) drops nothing and
is taken; so is an option meant to repeat (`multiple=True`, `count=True`) and `--help`.

Applied once per command object by `server.cli.main` (the root group and, through
`with_common_options`, every group and command under it), so no command has its own check.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from server.cli.parse_check import check_each_parse

_MARK = "_trimtab_one_value_each"


def _allowed_to_repeat(param: click.Parameter) -> bool:
    if not isinstance(param, click.Option):
        return True  # an argument is processed once, whatever its nargs
    return bool(param.multiple or param.count or param.is_eager)


def _typed(param: click.Option, tokens: Sequence[str]) -> list[str]:
    """The spellings of `param` in `tokens`, in order (`--sla 30m` and `--sla=30m` alike)."""
    names = [*param.opts, *param.secondary_opts]
    found: list[str] = []
    for token in tokens:
        if token == "--":
            break
        for name in names:
            if token == name or (name.startswith("--") and token.startswith(name + "=")):
                found.append(name)
                break
    return found


def _refusal(param: click.Option, tokens: Sequence[str]) -> str | None:
    """Why `param`, met more than once in `tokens`, is refused; None when nothing is lost."""
    typed = _typed(param, tokens)
    if param.is_flag:
        on = [t for t in typed if t not in param.secondary_opts]
        off = [t for t in typed if t in param.secondary_opts]
        if on and off:
            return f"{on[0]} and {off[0]} were given together: they mean opposite things, give one"
        return None  # the same switch twice (`--json --json`) means what it means once
    name = typed[0] if typed else max(param.opts, key=len)
    return f"{name} was given more than once: give it once"


def check(order: Sequence[click.Parameter], tokens: Sequence[str], ctx: click.Context) -> None:
    """Raise a usage error for the first option in `order` (the parser's, one entry per time an
    option was met) that appears twice and is not meant to repeat."""
    seen: set[int] = set()
    for param in order:
        if _allowed_to_repeat(param):
            continue
        if id(param) in seen:
            assert isinstance(param, click.Option)
            refusal = _refusal(param, tokens)
            if refusal is not None:
                raise click.UsageError(refusal, ctx=ctx)
        seen.add(id(param))


def refuse_repeated_options(command: click.Command) -> click.Command:
    """Make `command` refuse an option given twice (once: marks the command)."""
    # click's parser returns, besides the values, the parameters in the order they were met, once
    # per time (its documented `parse_args` result): the one place a repeat is visible, since the
    # values keep only the last.
    return check_each_parse(command, _MARK, lambda consumed, opts, order, ctx: check(order, consumed, ctx))
