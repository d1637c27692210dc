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


# ------------------------------------------------------- talking to the server


def admin_call(ctx: CliContext, stub_name: str, method: str, request: Any, timeout: float = 60.0) -> Any:
    """One admin call with the CLI's server address and token.

    ``TRIMTAB_TLS_CA`` (a PEM file) switches to TLS, verifying the server with it.
    grpc is imported here so `trimtab --help` stays instant.
    """
    import os

    import grpc

    from protos.trimtab.v1 import admin_pb2_grpc

    if not ctx.token:
        raise click.UsageError("no token: pass --token or set TRIMTAB_TOKEN (see `trimtab token create`)")
    ca = os.environ.get("TRIMTAB_TLS_CA", "")
    if ca:
        with open(ca, "rb") as fh:
            channel = grpc.secure_channel(ctx.server, grpc.ssl_channel_credentials(fh.read()))
    else:
        channel = grpc.insecure_channel(ctx.server)
    with channel:
        stub = getattr(admin_pb2_grpc, stub_name)(channel)
        return getattr(stub, method)(request, metadata=[("authorization", f"Bearer {ctx.token}")],
                                     timeout=timeout)


def message_dict(message: Any) -> dict[str, Any]:
    """A protobuf message as the JSON `--json` prints (proto field names)."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True)


# ------------------------------------------------------------ parsing values


def parse_duration(text: str) -> float:
    """Seconds in ``45m``, ``1h30m``, ``900s``, ``2h``, ``1d`` or a bare number of seconds."""
    import re

    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([dhms])", value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise click.BadParameter(f"{text!r} is not a duration like 45m, 1h30m or 900s")
        scale = {"d": 86400, "h": 3600, "m": 60, "s": 1}
        seconds = sum(float(n) * scale[u] for n, u in parts)
    if seconds <= 0:
        raise click.BadParameter(f"{text!r}: a duration must be positive")
    return seconds


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m" if not s else f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def parse_switch(text: str) -> bool:
    value = text.strip().lower()
    if value in {"on", "true", "yes", "1"}:
        return True
    if value in {"off", "false", "no", "0"}:
        return False
    raise click.BadParameter(f"{text!r}: use on or off")
