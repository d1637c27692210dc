"""What every command shares: where the server is, the token, output format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click


@dataclass
class CliContext:
    server: str
    token: str | None
    as_json: bool
    debug: bool


def describe_error(exc: BaseException) -> str:
    """One line for a person: gRPC status and details, or the exception's message."""
    try:
        import grpc

        if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
            code = exc.code()
            details = exc.details() if hasattr(exc, "details") else ""
            return f"{details} ({code.name})" if details else code.name
    except ImportError:  # pragma: no cover - grpc is a base dependency
        pass
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain aligned table for people."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
