"""Arguments are UTF-8 text: a value holding a byte that is not valid UTF-8 is a usage error.

Python hands such a byte over as a lone surrogate (``$'x\\xff'`` arrives as ``'x\\udcff'``), which
no protobuf string, SQLite path or header can carry: `project show $'x\\xff'` reached the gRPC call
and failed there with "'utf-8' codec can't encode character '\\udcff' ... surrogates not allowed",
exit 1, naming no option. Now the parser of every command refuses it (exit 2) in one line naming
the option, argument or environment variable that holds it, before the command runs: nothing is
sent, nothing opened.

A value only opened on this machine as a file path is let through: a `click.Path` option (the TLS
certificate and key, with their TRIMTAB_TLS_* variables, --state-dir, --out) or a value whose type says
it is one (a ``sqlite:`` `--db`, `server.cli.store_options.DatabaseUrl`). Any byte but NUL and ``/`` is a
valid POSIX file name, which the operating system opens as Python hands it back (``os.fsencode``), and
such a path worked before; a value sent anywhere (the Trimtab server, a PostgreSQL URL) is still refused.

Applied once per command object by `server.cli.main`, beside `server.cli.repeats`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import click

from server.cli.parse_check import check_each_parse

_MARK = "_trimtab_utf8_values"


def undecodable(text: str) -> str | None:
    """What in `text` is not valid UTF-8 (``the byte 0xff``), or None when all of it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        # surrogateescape: an undecodable byte b becomes U+DC00 + b (b from 0x80 to 0xff).
        if 0xDC80 <= ord(char) <= 0xDCFF:
            return f"the byte 0x{ord(char) - 0xDC00:02x}"
        return f"the lone surrogate U+{ord(char):04X}"
    return None


def _local_path(param: click.Parameter, text: str) -> bool:
    """Whether `text`, a value of `param`, is only opened here as a file path (see the module doc).

    A parameter type other than `click.Path` says so with a ``local_path(text) -> bool`` method."""
    if isinstance(param.type, click.Path):
        return True
    local_path = getattr(param.type, "local_path", None)
    return callable(local_path) and bool(local_path(text))


def _first_undecodable(param: click.Parameter, texts: Iterable[str]) -> str | None:
    return next((bad for text in texts if not _local_path(param, text)
                 for bad in [undecodable(text)] if bad is not None), None)


def _texts(value: Any) -> Iterable[str]:
    """The strings in a parsed value: one, or several for nargs and repeatable options."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def _refusal(what: str, where: str) -> str:
    # The value itself is not shown: it may be a secret (--token), and it is not printable as it is.
    return (f"{what} in it is not valid UTF-8, which every value Trimtab reads must be (check how {where} "
            "was produced, or the terminal's encoding)")


def check(opts: dict[str, Any], ctx: click.Context) -> None:
    """Raise a usage error for the first parameter of ``ctx.command`` whose value, typed (``opts``,
    the parser's) or read from its environment variable, holds what is not UTF-8."""
    for param in ctx.command.params:
        if param.name in opts:
            bad = _first_undecodable(param, _texts(opts[param.name]))
            if bad is not None:
                raise click.BadParameter(_refusal(bad, "the value"), ctx=ctx, param=param)
            continue
        envvar = param.resolve_envvar_value(ctx) if isinstance(param, click.Option) else None
        bad = _first_undecodable(param, [envvar]) if envvar is not None else None
        if bad is not None:
            names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
            name = next((n for n in names if os.environ.get(n) == envvar), names[0] if names else "")
            raise click.UsageError(f"environment variable {name} (for {max(param.opts, key=len)}): "
                                   + _refusal(bad, name), ctx=ctx)


def refuse_undecodable(command: click.Command) -> click.Command:
    """Make `command` refuse a value that is not valid UTF-8 (once: marks the command)."""
    return check_each_parse(command, _MARK, lambda consumed, opts, order, ctx: check(opts, ctx))
