"""The agent's one typed configuration.

Precedence, highest first: command-line flag > environment variable > JSON
config file (``--config`` / ``TRIMTAB_AGENT_CONFIG``) > default. Every setting
but the token has an environment variable (the token: the config file's ``token``
key, else the variable ``token_env`` names); sensitive ones (the token) are masked
whenever the configuration is printed or logged.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from agent.durable import write_atomic

log = logging.getLogger("trimtab.agent.config")


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    type: type
    default: Any
    sensitive: bool = False
    help: str = ""
    # Inclusive bounds of a numeric setting (None: none that side). A value out of them passed the
    # type check and the agent ran misbehaving: a poll of 0 busy-looped (21% of a core while idle),
    # an RPC timeout of 0 delivered nothing, a spool bound of 0 dropped every batch.
    low: float | None = None
    high: float | None = None


_HOUR = 3600.0
_GIB = 1 << 30

SETTINGS: tuple[Setting, ...] = (
    Setting("eventlog_dir", "TRIMTAB_EVENTLOG_DIR", Path, Path("/databricks/driver/eventlogs"),
            help="directory Spark writes event logs into"),
    Setting("server", "TRIMTAB_SERVER", str, "", help="host:port of the Trimtab server"),
    Setting("token_env", "TRIMTAB_TOKEN_ENV", str, "TRIMTAB_TOKEN", help="variable holding the agent token"),
    Setting("token", "", str, "", sensitive=True,
            help="the token itself (config-file key; else read from the variable token_env names)"),
    Setting("state_dir", "TRIMTAB_AGENT_STATE_DIR", Path, Path("/databricks/trimtab/state"),
            help="spool and read positions"),
    Setting("spark_ui", "TRIMTAB_SPARK_UI", str, "", help="Spark UI base URL for REST gauges (optional)"),
    Setting("driver_env_file", "TRIMTAB_DRIVER_ENV_FILE", str, "",
            help="Databricks' driver-env.sh; its CONF_UI_PORT gives the Spark UI when spark_ui is not set"),
    Setting("tls", "TRIMTAB_TLS", bool, False, help="use TLS to the server"),
    Setting("tls_ca", "TRIMTAB_TLS_CA", str, "",
            help="PEM bundle of root certificates to trust with tls (a private CA or self-signed server)"),
    # Clusters set https_proxy/http_proxy in spark_env_vars so pip reaches PyPI; gRPC honours them,
    # and an egress proxy typically refuses CONNECT to the in-network server's port: nothing was
    # delivered. Off by default (rest.py bypasses the proxy for the Spark UI for the same reason).
    Setting("use_proxy", "TRIMTAB_AGENT_USE_PROXY", bool, False,
            help="reach the server through the proxy in grpc_proxy/https_proxy/http_proxy "
                 "(default: connect directly, ignoring them)"),
    Setting("cluster_id", "DB_CLUSTER_ID", str, "", help="Databricks cluster id"),
    # Every wait has a highest as well: the agent waits on `threading` events, which refuse a timeout
    # past `threading.TIMEOUT_MAX` with OverflowError (a poll of 1e10 killed the worker thread), and a
    # wait of days on a job cluster that lives hours is a typo. Sizes are read()/allocated at once, so
    # they are bounded too (a read of more than the address space raised OverflowError).
    Setting("poll_interval_s", "TRIMTAB_AGENT_POLL_S", float, 0.5, low=0.01, high=_HOUR,
            help="seconds between reads of the event logs"),
    Setting("rest_interval_s", "TRIMTAB_AGENT_REST_POLL_S", float, 15.0, low=0.1, high=_HOUR,
            help="seconds between reads of the Spark REST API (executor gauges)"),
    # The server refuses a batch of more events than its TRIMTAB_MAX_EVENTS_PER_BATCH (default 20 000).
    Setting("batch_max_events", "TRIMTAB_AGENT_BATCH_EVENTS", int, 500, low=1, high=20_000,
            help="events per batch sent at most"),
    Setting("batch_max_age_s", "TRIMTAB_AGENT_BATCH_AGE_S", float, 2.0, low=0.0, high=_HOUR,
            help="seconds a batch waits for more events before it is sent"),
    Setting("read_budget_bytes", "TRIMTAB_AGENT_READ_BUDGET", int, 8 * 1024 * 1024, low=4096, high=_GIB,
            help="raw bytes read per application per pass (bounds memory and latency; a pass that leaves a log behind is followed by a shorter wait)"),
    # Spark's EnvironmentUpdate line (the conf) is tens to hundreds of KB: a smaller limit drops it.
    Setting("max_line_bytes", "TRIMTAB_AGENT_MAX_LINE", int, 16 * 1024 * 1024, low=1024 * 1024,
            high=_GIB, help="longest event-log line read; a longer one is skipped and counted"),
    # A batch of 500 events is up to a few hundred KB: a smaller bound drops batches as they come.
    Setting("spool_max_bytes", "TRIMTAB_AGENT_SPOOL_BYTES", int, 256 * 1024 * 1024, low=1024 * 1024,
            high=1024 * _GIB, help="bytes of undelivered batches kept on disk while the server is away"),
    # The spool shares the driver's disk with Spark's event log, log4j and notebook output: it keeps
    # the larger of these two free (never more than 10% of the disk, agent/reserve.py), dropping its
    # oldest batches rather than filling the disk. Both 0: no reserve (the disk may fill).
    Setting("disk_reserve_bytes", "TRIMTAB_AGENT_DISK_RESERVE_BYTES", int, 1 << 30, low=0, high=1024 * _GIB,
            help="bytes the spool leaves free on its disk for the driver (at most 10% of the disk)"),
    Setting("disk_reserve_percent", "TRIMTAB_AGENT_DISK_RESERVE_PCT", float, 5.0, low=0.0, high=10.0,
            help="share of its disk, in percent, the spool leaves free when more than disk_reserve_bytes"),
    # agent.log sits on the driver's disk and was never rotated: past this size it keeps its newest half.
    Setting("log_max_bytes", "TRIMTAB_AGENT_LOG_MAX_BYTES", int, 10 * 1024 * 1024, low=64 * 1024, high=_GIB,
            help="largest size of the file the agent's stderr goes to (agent.log) before its older half is cut"),
    # Below a second a TLS handshake over a WAN, or a busy server's answer, never fits: nothing is delivered.
    Setting("rpc_timeout_s", "TRIMTAB_AGENT_RPC_TIMEOUT_S", float, 10.0, low=1.0, high=_HOUR,
            help="seconds one call to the server may take"),
    Setting("backoff_base_s", "TRIMTAB_AGENT_BACKOFF_BASE_S", float, 1.0, low=0.01, high=_HOUR,
            help="first wait after a failed send; doubles (with jitter) up to backoff_max_s"),
    Setting("backoff_max_s", "TRIMTAB_AGENT_BACKOFF_MAX_S", float, 30.0, low=0.01, high=_HOUR,
            help="longest wait between retries of a failed send"),
    Setting("shutdown_flush_s", "TRIMTAB_AGENT_SHUTDOWN_FLUSH_S", float, 8.0, low=0.0, high=_HOUR,
            help="seconds a stopping agent spends sending what it holds (the rest stays spooled)"),
    Setting("checkpoint_interval_s", "TRIMTAB_AGENT_CHECKPOINT_S", float, 2.0, low=0.0, high=_HOUR,
            help="seconds between saves of the read positions"),
)


def _number(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else f"{value:g}"


def settings_markdown() -> str:
    """The settings table of docs/agent.md, made from SETTINGS (one source: a variable added here and
    not there was documented nowhere an operator looks)."""
    rows = ["| Setting (config-file key) | Environment variable | Default | What it does |",
            "|---|---|---|---|"]
    for s in SETTINGS:
        if not s.env:
            # The token has no variable of its own: it comes from the config file's `token` key, else from
            # the variable token_env names. A row would show no variable, so docs/agent.md documents the
            # key below the table.
            continue
        if isinstance(s.default, bool):
            default = "`1`" if s.default else "`0`"  # what the variable takes (1/true/yes/on)
        else:
            default = "(empty)" if s.default in ("", None) else f"`{s.default}`"
        bounds = [f"at least {_number(s.low)}" if s.low is not None else "",
                  f"at most {_number(s.high)}" if s.high is not None else ""]
        limit = ", ".join(b for b in bounds if b)
        what = s.help.replace("|", "/") + (f" ({limit})" if limit else "")
        rows.append(f"| `{s.name}` | `{s.env}` | {default} | {what} |")
    return "\n".join(rows) + "\n"


class ConfigError(ValueError):
    """A setting or config file that cannot be used; the message names it."""


def _where(setting: Setting, source: str) -> str:
    env = f" (env {setting.env})" if setting.env else ""
    return f"setting {setting.name}{env}, from {source}"


def _convert(setting: Setting, value: Any, source: str = "default") -> Any:
    try:
        if setting.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            raise TypeError(f"expected true/false or \"1\"/\"0\", got {value!r}")
        if setting.type in (int, float) and isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")  # int(True) would pass silently
        converted = setting.type(value)
        if setting.type in (int, float):
            _check_range(setting, converted)
        elif setting.name == "server":
            converted = _server_address(converted)
        elif setting.name == "spark_ui":
            converted = _spark_ui_url(converted, source)
        return converted
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value {value!r} for {_where(setting, source)}: {exc}") from None


def _check_range(setting: Setting, value: float) -> None:
    """Raise ValueError (turned into a ConfigError naming the setting) for a number out of bounds."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    low, high = setting.low, setting.high
    if (low is not None and value < low) or (high is not None and value > high):
        def shown(x: float) -> str:
            return f"{int(x)}" if setting.type is int else f"{x:g}"
        words = [f"at least {shown(low)}"] if low is not None else []
        words += [f"at most {shown(high)}"] if high is not None else []
        raise ValueError(f"must be {' and '.join(words)}")


# host:port as gRPC takes it: a name or IPv4 address, or an IPv6 address in brackets, and a port of
# ASCII digits (\d alone took other scripts' digits). The server refuses to advertise an address
# outside this rule (server/config.py ``_AGENT_ADDRESS``, the same rule: agent/ imports no server code);
# tests/server/test_review13_advertise.py runs the same addresses through both.
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$", re.ASCII)


def _server_address(value: str) -> str:
    """The server's host:port, stripped; a scheme or a path is refused (gRPC took "http://h:1" and
    "h:1/" as names it could not resolve, and the agent retried them for the whole run)."""
    address = value.strip()
    if not address:
        return address  # unset: `run` says so (the `config` command may show it)
    if "://" in address:
        raise ValueError("give host:port without a scheme (the agent speaks gRPC, not HTTP; TRIMTAB_TLS=1 "
                         "turns TLS on), e.g. trimtab.example.com:50051")
    m = _ADDRESS.match(address)
    if m is None:
        raise ValueError("must be host:port, e.g. trimtab.example.com:50051 (no path, no spaces)")
    if not 1 <= int(m.group(1)) <= 65535:
        raise ValueError(f"port {m.group(1)} is not between 1 and 65535")
    return address


def _spark_ui_url(value: str, source: str) -> str:
    """The Spark UI's base URL; ``http://`` is added to one given without a scheme (``10.0.0.5:4040``),
    which urllib could not open, so every REST poll failed as "not usable yet" for the whole run."""
    url = value.strip()
    if not url:
        return url
    added = "://" not in url
    if added:
        url = "http://" + url
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ValueError(f"not a usable URL ({exc}); give the Spark UI as http://host:port") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError("must be the Spark UI as http://host:port (or https://, or host:port for http)")
    if port == 0:
        raise ValueError("port 0 is not the Spark UI's; give its port, e.g. http://10.0.0.5:4040")
    if added:
        log.info("spark_ui (TRIMTAB_SPARK_UI) %r from %s has no scheme: using %s", value, source, url)
    return url


@dataclass(frozen=True)
class AgentConfig:
    eventlog_dir: Path
    server: str
    token_env: str
    token: str
    state_dir: Path
    spark_ui: str
    driver_env_file: str
    tls: bool
    tls_ca: str
    use_proxy: bool
    cluster_id: str
    poll_interval_s: float
    rest_interval_s: float
    batch_max_events: int
    batch_max_age_s: float
    read_budget_bytes: int
    max_line_bytes: int
    spool_max_bytes: int
    disk_reserve_bytes: int
    disk_reserve_percent: float
    log_max_bytes: int
    rpc_timeout_s: float
    backoff_base_s: float
    backoff_max_s: float
    shutdown_flush_s: float
    checkpoint_interval_s: float
    hostname: str = ""
    # Databricks' name of the cluster (DB_CLUSTER_NAME: job-<job id>-run-<run id> for a job cluster),
    # which the init script's environment carries and no one overrides: the server's refusal log names it.
    cluster_name: str = ""

    def masked(self) -> dict[str, Any]:
        """Printable form: sensitive values show only their last 4 characters."""
        out: dict[str, Any] = {}
        for s in SETTINGS:
            v = getattr(self, s.name)
            out[s.name] = (("…" + v[-4:]) if v else "") if s.sensitive else str(v)
        return out

    def __repr__(self) -> str:
        return f"AgentConfig({self.masked()})"


def load_config(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                file: Path | None = None) -> AgentConfig:
    """Build the configuration; ``flags`` holds only options given on the command line (None = unset)."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    file = file or (Path(env["TRIMTAB_AGENT_CONFIG"]) if env.get("TRIMTAB_AGENT_CONFIG") else None)
    from_file = _read_file(file) if file else {}
    values: dict[str, Any] = {}
    for s in SETTINGS:
        if s.name in flags:
            raw, source = flags[s.name], "the command line"
        elif s.env and env.get(s.env):
            raw, source = env[s.env], f"env {s.env}"
        elif s.name in from_file:
            raw, source = from_file[s.name], f"config file {file}"
        else:
            raw, source = s.default, "default"
        values[s.name] = _convert(s, raw, source)
    token_source = f"config file {file}" if values["token"] else ""
    if not values["token"] and values["token_env"]:
        values["token"] = env.get(values["token_env"], "")
        token_source = f"env {values['token_env']}"
    # A secret stored with `echo token | databricks secrets put-secret` ends in a newline, which
    # gRPC refuses as metadata ("Invalid metadata") on every call: surrounding whitespace is
    # never part of a token, so it goes.
    values["token"] = values["token"].strip()
    _check_token(values["token"], token_source)
    values["hostname"] = socket.gethostname()
    values["cluster_name"] = env.get("DB_CLUSTER_NAME", "")
    known = {f.name for f in fields(AgentConfig)}
    return AgentConfig(**{k: v for k, v in values.items() if k in known})


def _check_token(token: str, source: str) -> None:
    """gRPC metadata carries printable ASCII only: anything else would fail every call, so refuse it now.

    The message gives the position and code point of the first bad character, never the token.
    """
    for i, ch in enumerate(token):
        if not " " <= ch <= "~":
            raise ConfigError(f"the agent token (from {source}) holds a character outside printable ASCII "
                              f"(U+{ord(ch):04X} at position {i + 1} of {len(token)}): gRPC cannot send it, "
                              "so every batch would fail; store the token exactly as `trimtab token create` "
                              "printed it")


def _read_file(file: Path) -> dict[str, Any]:
    """The JSON config file: one object whose keys are setting names (a typo must not pass silently)."""
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold one JSON object of settings, "
                          f"not a {type(data).__name__}")
    names = {s.name for s in SETTINGS}
    unknown = sorted(k for k in data if k not in names)
    if unknown:
        raise ConfigError(f"config file {file}: unknown setting(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(names))})")
    return data


# The proxy variables gRPC's C core reads, the first set one used (grpc/grpc doc/environment_variables.md).
PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy")


def proxy_in_env(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(variable, value) of the proxy gRPC would use from the environment, or None."""
    env = os.environ if env is None else env
    return next(((k, env[k]) for k in PROXY_VARIABLES if env.get(k)), None)


def _proxy_shown(url: str) -> str:
    """A proxy URL as the log may show it: scheme, host and port only. A URL may carry credentials
    (http://user:secret@host:3128), and a password may hold an unencoded '@' (pip splits at the
    last one), so the host is cut out rather than the user part cut away."""
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(set)"
    if not host:
        return "(set)"
    host = f"[{host}]" if ":" in host else host
    scheme = f"{parts.scheme}://" if "://" in url else ""
    return f"{scheme}{host}" + (f":{port}" if port else "")


def describe_proxy(cfg: AgentConfig, env: Mapping[str, str] | None = None) -> str:
    """One line for the start-up log: how the agent reaches the server, and how to change it."""
    found = proxy_in_env(env)
    # A proxy URL may carry credentials (http://user:secret@host:3128): never logged.
    name, shown = (found[0], _proxy_shown(found[1])) if found else ("", "")
    if not cfg.use_proxy:
        if not found:
            return "connecting to the server directly"
        return (f"connecting to the server directly, not through the proxy in {name} ({shown}); set "
                "TRIMTAB_AGENT_USE_PROXY=1 (--use-proxy) if the server is reachable only through it")
    if not found:
        return ("TRIMTAB_AGENT_USE_PROXY is set but none of grpc_proxy, https_proxy, http_proxy is: "
                "connecting to the server directly")
    return (f"connecting to the server through the proxy in {name} ({shown}), as TRIMTAB_AGENT_USE_PROXY "
            "asks (unless no_grpc_proxy or no_proxy names the server)")


def read_tls_ca(cfg: AgentConfig) -> bytes | None:
    """The root certificates to trust (TRIMTAB_TLS_CA), read once at start; None = the system's."""
    if not cfg.tls_ca:
        return None
    try:
        data = Path(cfg.tls_ca).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read TRIMTAB_TLS_CA file {cfg.tls_ca}: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError(f"TRIMTAB_TLS_CA file {cfg.tls_ca} holds no PEM certificate")
    return data


AGENT_ID_MAX = 256  # the server's MAX_ID_LENGTH (server/translate.py)


def usable_agent_id(value: str) -> bool:
    """Whether the server takes ``value`` as ``agent.agent_id`` (server/translate.py ``_check_id``:
    not empty or blank, at most 256 characters, no NUL), in printable ASCII as this agent writes it."""
    return 0 < len(value) <= AGENT_ID_MAX and all(" " <= ch <= "~" for ch in value) and not value.isspace()


def agent_id(state_dir: Path) -> str:
    """Stable per state directory, so a restarted agent is recognisably the same one.

    A file the server would refuse the id of (empty: a write that met a full disk left 0 bytes,
    and every batch sent with "" was refused and parked for good; damaged) counts as missing: a
    new id is made and written atomically, so a failed write leaves no file rather than an empty one.
    """
    path = state_dir / "agent_id"
    try:
        saved = path.read_bytes().decode("ascii", "replace").strip()  # U+FFFD is refused below
    except FileNotFoundError:
        saved = None
    except OSError as exc:
        log.warning("cannot read the agent id from %s (%s); making a new one", path, exc)
        saved = None
    if saved is not None:
        if usable_agent_id(saved):
            return saved
        log.warning("the agent id in %s is not usable (%s); making a new one", path,
                    "empty" if not saved else f"{len(saved)} characters, not an id the server accepts")
    aid = uuid.uuid4().hex
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, aid.encode("ascii"))
    except OSError as exc:
        # The id still serves this run; the next start makes another (the server lists both).
        log.warning("cannot save the agent id in %s (%s); this run uses %s", path, exc.strerror or exc, aid)
    return aid
