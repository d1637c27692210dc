"""What every command shares: where the server is, the token, output format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

# The server's SLA cap, checked here too so a typo is refused before any call (it also keeps
# float rounding of huge values from showing up as seconds).
from server.domain import MAX_SLA_SECONDS


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
    """A plain aligned table for people.

    A cell's control characters, its newlines and tabs too, are written as escapes here, before the
    widths are taken: a name from an agent or a workspace stays on its row (a newline in it drew a row
    of its own) and the columns stay aligned. `server.cli.output` escapes what other output holds.
    """
    from server.visible import visible

    cells = [[str(h) for h in headers]] + [["" if v is None else visible(str(v)) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def one_line(value: Any) -> str:
    """``value`` as one line of a key/value page: its control characters, its newlines and tabs too,
    written as escapes, as a table's cells are (`print_table`). The output stream keeps the layout's
    own newlines, so a job name or a run's message holding one drew a line the reader took for the
    page's own ("phase  applied" under a forged job name)."""
    from server.visible import visible

    return visible(str(value))


def print_fields(fields: Sequence[tuple[str, Any]]) -> None:
    """A key/value page: each key padded to the longest, then its value on that line (`one_line`)."""
    width = max((len(k) for k, _ in fields), default=0)
    for key, value in fields:
        click.echo(f"{key.ljust(width)}  {one_line(value)}")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


# ------------------------------------------------------- talking to the server


def check_server_address(address: str) -> str:
    """`address` if it is HOST:PORT (or a ``unix:`` socket), else a usage error naming where it came from.

    Checked before dialling because gRPC turns a malformed target into C-core log lines and
    a resolver error that do not say which setting is wrong.
    """
    import re

    value = address.strip()
    if value.startswith(("unix:", "unix-abstract:")) and len(value.split(":", 1)[1]) > 0:
        return value
    # [v6]:port, or host:port where the host has no colon of its own.
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):([0-9]{1,5})", value)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise click.UsageError(f"--server/TRIMTAB_SERVER {address!r} is not HOST:PORT with a port from 1 to 65535 "
                               "(e.g. 127.0.0.1:50051)")
    return value


# What gRPC's client itself says when no connection was made. Only these count: an UNAVAILABLE
# the server sent (its database is down, a Databricks host it could not reach) keeps its own
# text, even if that text says "connection refused" about something else.
_NO_CONNECTION = ("failed to connect to all addresses", "errors resolving", "dns resolution failed",
                  "socket closed", "connection reset by peer", "broken pipe")
# The reason shown, from the first of these words in gRPC's text.
_REASONS = (("connection refused", "connection refused"), ("resolv", "name not resolved"),
            ("dns", "name not resolved"), ("handshake", "TLS handshake failed"), ("timed out", "timed out"),
            ("timeout", "timed out"), ("socket closed", "connection closed"),
            ("connection reset", "connection reset"))


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the call never reached a Trimtab server (``connection refused``, ...), or None if it did."""
    import grpc

    if not isinstance(exc, grpc.RpcError) or not hasattr(exc, "code") or exc.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    details = (exc.details() or "").lower() if hasattr(exc, "details") else ""
    if not any(marker in details for marker in _NO_CONNECTION):
        return None
    return next((reason for words, reason in _REASONS if words in details), "connection failed")


def read_tls_ca(path: str) -> bytes:
    """The PEM bytes of ``TRIMTAB_TLS_CA``, or one line naming the variable: a bare ``[Errno 2] ...:
    '/nonexistent'`` did not say which setting held that path."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        # A setting to fix, like a bad TRIMTAB_SERVER: the usage exit status 2 (server.cli.main).
        raise click.UsageError(f"TRIMTAB_TLS_CA {path!r}: cannot read the CA certificate "
                               f"({exc.strerror or exc.__class__.__name__}); set it to the PEM file "
                               "of the CA that signed the server's certificate, or unset it for a "
                               "server without TLS") from exc
    if not data.strip():
        raise click.UsageError(f"TRIMTAB_TLS_CA {path!r}: the file is empty; set it to the PEM file of the "
                               "CA that signed the server's certificate")
    return data


# A call the server answers from its own database: well under a minute.
CALL_TIMEOUT_S = 60.0
# A call that talks to Databricks, which may throttle or not answer: the gateway retries each of its
# calls for up to a minute (`GatewayConfig.retry_timeout_s`) and one RPC makes several, so the
# server's own "workspace ... is unreachable" or "still failing after 60s of retries" comes after
# more than a minute. Allow minutes, or the CLI gives up first with a bare DEADLINE_EXCEEDED.
DATABRICKS_CALL_TIMEOUT_S = 600.0
# The admin RPCs that call Databricks, or wait on a project's lock, which an apply holds while it
# does (`server.apply.project_lock`): settings changes plan again, and planning may read the job's
# policy or instance pool. Every command making one gets `DATABRICKS_CALL_TIMEOUT_S`.
DATABRICKS_METHODS = frozenset({
    "AddWorkspace", "UpdateWorkspace", "ImportJobs", "DetachProject", "UpdateProjectSettings",
    "ApplyRecommendation", "RevertRecommendation", "RejectRecommendation",
})
# Past this long a call that talks to Databricks says on stderr what it waits on: a workspace that
# answers 5xx or throttles holds it for a minute or more, which read as a hung CLI (review "failures":
# an apply silent for 121 s).
WAITING_NOTICE_AFTER_S = 10.0


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text) if text else "<name>"


def check_hint(method: str, request: Any) -> str:
    """How to see whether `method` took effect after the CLI stopped waiting for its answer."""
    project = _quoted(getattr(request, "project", ""))
    hints = {
        "DetachProject": f"`trimtab project show {project}` says whether it is detached",
        "UpdateProjectSettings": f"`trimtab project show {project}` shows the settings saved",
        "ApplyRecommendation": f"`trimtab recommendation show {project}` says whether it was applied",
        "RevertRecommendation": f"`trimtab recommendation show {project}` says whether it was reverted",
        "RejectRecommendation": f"`trimtab recommendation show {project}` says whether it was rejected",
        "ImportJobs": f"`trimtab project list --workspace {_quoted(getattr(request, 'workspace', ''))}` "
                      "lists the projects imported",
        "AddWorkspace": f"`trimtab workspace show {_quoted(getattr(request, 'name', ''))}` shows it",
        "UpdateWorkspace": f"`trimtab workspace show {_quoted(getattr(request, 'name', ''))}` shows it",
        "RemoveWorkspace": "`trimtab workspace list` says whether it is gone",
    }
    # A read changes nothing: asking again is the check.
    return hints.get(method, "run the command again")


def _timed_out(method: str, request: Any, timeout: float) -> click.ClickException:
    ctx = click.get_current_context(silent=True)
    command = f"`{ctx.command_path}`" if ctx is not None else method
    return click.ClickException(
        f"{command}: no answer from the Trimtab server within {timeout:g} s (DEADLINE_EXCEEDED); the server may "
        f"still finish the call: {check_hint(method, request)}")


# A Trimtab token is 48 characters (``tt_<12 hex>_<32>``); a Databricks one (a PAT, an OAuth JWT) is at
# most a few thousand. Longer is a whole file or a paste gone wrong, which gRPC refused only as "received
# metadata size exceeds hard limit (RESOURCE_EXHAUSTED)" (the same bound as a workspace's token,
# `server.services.workspace_checks.MAX_TOKEN_CHARS`, well under gRPC's 8 KiB of metadata).
MAX_TOKEN_CHARS = 4096


def checked_token(token: str | None) -> str:
    """The API token as sent: surrounding whitespace dropped, anything else a header cannot carry refused.

    A token read from a file saved on Windows ends in a carriage return, and gRPC refused such a header
    with only "Invalid metadata (INTERNAL)", naming neither the token nor the cause.
    """
    token = (token or "").strip()
    if not token:
        raise click.UsageError("no token: pass --token or set TRIMTAB_TOKEN (see `trimtab token create`)")
    if len(token) > MAX_TOKEN_CHARS:
        raise click.UsageError(f"the token (--token or TRIMTAB_TOKEN) is {len(token):,} characters long; a Trimtab "
                               f"token is 48 (tt_...) and no token is longer than {MAX_TOKEN_CHARS:,}: check how "
                               "it was copied or read (a whole file?)")
    for char in token:
        if char.isascii() and char.isprintable() and not char.isspace():
            continue
        if char == "\r":
            what = "a carriage return (a file saved on Windows?)"
        elif char.isspace():
            what = f"whitespace inside it ({char!r})"
        elif not char.isprintable():
            what = f"a control character ({char!r})"
        else:
            what = f"a non-ASCII character ({char!r})"
        # The token itself is not shown: it is a secret.
        raise click.UsageError(f"the token (--token or TRIMTAB_TOKEN) contains {what}; a Trimtab token is "
                               "printable ASCII (tt_...): check how it was copied or read")
    return token


def admin_call(ctx: CliContext, stub_name: str, method: str, request: Any, timeout: float | None = None,
               *, databricks: bool = False) -> Any:
    """One admin call with the CLI's server address and token.

    The deadline is `timeout`, else `DATABRICKS_CALL_TIMEOUT_S` for a call that talks to Databricks
    (``databricks``, or a method of `DATABRICKS_METHODS`), else `CALL_TIMEOUT_S`. A deadline passed
    is one line saying the server may still finish the call and how to see whether it did.
    ``TRIMTAB_TLS_CA`` (a PEM file) switches to TLS, verifying the server with it.
    grpc is imported here so `trimtab --help` stays instant.
    """
    calls_databricks = databricks or method in DATABRICKS_METHODS
    if timeout is None:
        timeout = DATABRICKS_CALL_TIMEOUT_S if calls_databricks else CALL_TIMEOUT_S
    import os

    import grpc

    from protos.trimtab.v1 import admin_pb2_grpc

    address = check_server_address(ctx.server)
    token = checked_token(ctx.token)
    ca = os.environ.get("TRIMTAB_TLS_CA", "")
    if ca:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(read_tls_ca(ca)))
    else:
        channel = grpc.insecure_channel(address)
    metadata = [("authorization", f"Bearer {token}")]
    with channel:
        stub = getattr(admin_pb2_grpc, stub_name)(channel)
        try:
            call = getattr(stub, method)
            if not calls_databricks or timeout <= WAITING_NOTICE_AFTER_S:
                return call(request, metadata=metadata, timeout=timeout)
            future = call.future(request, metadata=metadata, timeout=timeout)
            try:
                return future.result(timeout=WAITING_NOTICE_AFTER_S)
            except grpc.FutureTimeoutError:
                click.echo(f"still waiting: the server is calling Databricks, and retries a workspace that answers "
                           f"slowly or fails (this command waits at most {timeout:g} s)...", err=True)
            return future.result()
        except grpc.RpcError as exc:
            if ctx.debug:
                raise
            if hasattr(exc, "code") and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise _timed_out(method, request, timeout) from exc
            if hasattr(exc, "code") and exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                # gRPC's own "Method not found!": the server predates the call (a rolling upgrade,
                # the CLI upgraded first), which a person should hear in those words.
                raise click.ClickException(
                    f"the Trimtab server at {address} does not have {method}: it is older than this CLI. "
                    "Upgrade the server, or use the CLI of its version (UNIMPLEMENTED)") from exc
            reason = unreachable_reason(exc)
            if reason is None:
                raise
            raise click.ClickException(f"cannot reach the Trimtab server at {address} ({reason}): is it running? "
                                       "Set --server or TRIMTAB_SERVER.") from exc


def message_dict(message: Any) -> dict[str, Any]:
    """A protobuf message as the JSON `--json` prints: proto field names, every field (a cost of 0, an
    empty list, a total of 0 are there; a field with presence, such as an ``optional`` one or a
    message, is left out when unset: "unknown", as admin.proto says for each), and 64-bit integers
    as JSON numbers.

    Protobuf's own JSON leaves out every field at its default, so a script could not tell a 0 from a
    field it did not know, and writes int64 as strings (for JavaScript's doubles); our ids and
    milliseconds fit a double exactly, and a script compares them as numbers."""
    from google.protobuf.json_format import MessageToDict

    out = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    _int64_as_numbers(message.DESCRIPTOR, out)
    return out


def _int64_as_numbers(descriptor: Any, out: dict[str, Any]) -> None:
    """Turn the 64-bit integer fields of ``out`` (MessageToDict of a ``descriptor`` message) back into
    ints, in nested messages, repeated fields and map values too."""
    from google.protobuf.descriptor import FieldDescriptor as F

    int64 = {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64, F.TYPE_SINT64}

    def value_of(field: Any, value: Any) -> Any:
        if field.type in int64:
            return int(value)
        if field.type == F.TYPE_MESSAGE and isinstance(value, dict) and \
                not field.message_type.full_name.startswith("google.protobuf."):  # well-known: own JSON
            _int64_as_numbers(field.message_type, value)
        return value

    for field in descriptor.fields:
        if field.name not in out:
            continue
        value = out[field.name]
        if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            out[field.name] = {key: value_of(entry, item) for key, item in value.items()}
        elif isinstance(value, list):
            out[field.name] = [value_of(field, item) for item in value]
        else:
            out[field.name] = value_of(field, value)


# ------------------------------------------------------------ parsing values


# `db compact-events --older-than`: event copies are kept months, not decades; ten years is
# generous and stops an overflowing cutoff before the past (a negative timestamp).
MAX_AGE_SECONDS = 3650 * 86400

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def _option_of(text: str) -> click.Parameter | None:
    """The current command's option whose value is `text`: names it in an error when the caller did not."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    return next((p for p in ctx.command.params
                 if isinstance(p, click.Option) and p.name is not None and ctx.params.get(p.name) == text), None)


def _bad(message: str, option: str | None, text: str) -> click.BadParameter:
    if option is not None:
        return click.BadParameter(message, param_hint=f"'{option}'")
    return click.BadParameter(message, param=_option_of(text))


def parse_duration(text: str, option: str | None = None, max_seconds: float = MAX_SLA_SECONDS) -> float:
    """Whole seconds in ``45m``, ``1h30m``, ``900s``, ``1.5h`` or ``1d``: every number has a unit,
    each unit at most once, largest first (``5m5m`` and ``30s5m`` are refused).

    `option` (e.g. ``--sla``) is named in the error; without it the current command's option
    holding `text` is. A bare number is refused: 45 could mean seconds or minutes, and a wrong
    guess is an SLA sixty times too tight.
    """
    import re
    from decimal import Decimal

    value = text.strip().lower()
    # [0-9], not \d: \d also matches other scripts' digits ("٤٥m"), which no other option takes.
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        if Decimal(value) == 0:
            # Not "add a unit": zero is refused whatever the unit.
            raise _bad(f"{text!r}: a duration must be positive", option, text)
        # Only units that make an allowed duration: days for `--older-than 90` (90d), not for
        # `--sla 45` (45d is past the SLA's 7d); whole seconds, so not 1.5s.
        fits = [f"{value}{u}" for u in "smhd"
                if 0 < (s := Decimal(value) * _UNIT_SECONDS[u]) <= Decimal(max_seconds) and s == s.to_integral_value()]
        if not fits:
            raise _bad(f"{text!r}: add a unit (s, m, h or d)", option, text)
        choices = f"{', '.join(fits[:-1])} or {fits[-1]}" if len(fits) > 1 else fits[0]
        raise _bad(f"{text!r}: add a unit: {choices}", option, text)
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)([dhms])", value)
    units = [u for _, u in parts]
    if not parts or "".join(n + u for n, u in parts) != value or units != sorted(set(units), key="dhms".index):
        raise _bad(f"{text!r} is not a duration like 45m, 1h30m or 900s (each unit once, largest first)",
                   option, text)
    # Decimal: 1.1h is exactly 3960 s, so the whole-seconds check below is not fooled by float error.
    seconds = sum((Decimal(n) * _UNIT_SECONDS[u] for n, u in parts), Decimal(0))
    if seconds <= 0:
        raise _bad(f"{text!r}: a duration must be positive", option, text)
    if seconds != seconds.to_integral_value():
        # Shown in whole seconds everywhere, so 0.5s would read as 0s, which is refused.
        raise _bad(f"{text!r}: a duration is whole seconds ({float(seconds):g} s is not)", option, text)
    if seconds > max_seconds:
        limit = f"{max_seconds / 86400:g}d" if max_seconds % 86400 == 0 else format_duration(max_seconds)
        raise _bad(f"{text!r} is longer than the {limit} allowed", option, text)
    return float(seconds)


def format_duration(seconds: float | None) -> str:
    """``3630`` -> ``1h00m30s``, as `parse_duration` reads it back: `server.render.fmt.duration`, the
    one formatter the dashboard and the timeline use too, so an SLA reads the same everywhere."""
    from server.render.fmt import duration  # imported here: server.render pulls in the models

    return duration(seconds)


def parse_switch(text: str, option: str | None = None) -> bool:
    """on/off (also true/false, yes/no, 1/0); `option` (e.g. ``--spot``) is named in the error,
    else the current command's option holding `text`."""
    value = text.strip().lower()
    if value in {"on", "true", "yes", "1"}:
        return True
    if value in {"off", "false", "no", "0"}:
        return False
    raise _bad(f"{text!r}: use on or off", option, text)
