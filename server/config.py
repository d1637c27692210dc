"""The server's one typed configuration.

Every setting has an environment variable, a type, a default and a
``sensitive`` flag (sensitive values are masked by `ServerConfig.describe`).
Precedence, highest first: command-line flag > environment > file
(``<state_dir>/server.toml``, or ``TRIMTAB_CONFIG``) > default.

Every value is checked when the configuration is made (`ServerConfig.__post_init__`), so a
typo stops the server at start with the setting and its variable named, never later at import
or in a loop that spins. docs/operations.md's settings table is `settings_markdown()`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.errors import InvalidArgument


def default_state_dir() -> Path:
    """A per-user data directory (XDG on Linux, ~/Library on macOS)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "trimtab"
    home = Path.home()
    if (home / "Library").is_dir():
        return home / "Library" / "Application Support" / "trimtab"
    return home / ".local" / "share" / "trimtab"


def _meta(env: str, help_text: str, sensitive: bool = False, flag: str = "") -> dict[str, Any]:
    return {"env": env, "help": help_text, "sensitive": sensitive, "flag": flag}


def split_host_port(address: str, *, allow_port_zero: bool) -> tuple[str, int]:
    """``(host, port)`` from ``host:port``, ``[v6]:port`` or ``:port`` (host "" then).

    ValueError (with what is wrong) for anything else: a port outside 1..65535 (0 too when
    ``allow_port_zero``, which asks the OS for a free port), spaces, or an unbracketed IPv6 host."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or any(c.isspace() for c in address):
        raise ValueError(f"{address!r} is not host:port")
    number = int(port)
    low = 0 if allow_port_zero else 1
    if not low <= number <= 65535:
        raise ValueError(f"{address!r}: port {number} is not from {low} to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{address!r}: {host!r} in brackets is not an IPv6 address") from None
    elif ":" in host or "[" in host or "]" in host:
        # "::1:50051" is ambiguous (is 50051 part of the address?): IPv6 hosts go in brackets.
        raise ValueError(f"{address!r} is not host:port (write an IPv6 host in brackets: [::1]:50051)")
    return host, number


# The agent's rule for its server address (agent/config.py ``_ADDRESS``): the advertised address is
# written into every onboarded job's TRIMTAB_SERVER, and an agent refuses one outside it at start
# (exit 2, not restarted). The rule is kept in both places (server/ does not import agent/);
# tests/server/test_review13_advertise.py runs the same addresses through both.
_AGENT_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}", re.ASCII)


def agent_refuses_address(address: str) -> str:
    """Why the agent would refuse ``address`` as its server (``""`` when it takes it)."""
    value = address.strip()
    if _AGENT_ADDRESS.fullmatch(value):
        return ""
    host, _, port = value.rpartition(":")
    if not (port.isascii() and port.isdigit()) or len(port) > 5:
        return (f"the port {port!r} is not 1 to 5 ASCII digits (write it without leading zeros), which the "
                "agent on every onboarded cluster would refuse at start")
    if host.startswith("[") and "%" in host:
        return ("an IPv6 zone (%...) names an interface of this machine, which no cluster can use, and "
                "the agent refuses it at start: give an address or name the clusters reach")
    if not host.isascii():
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = ""
        hint = f" (here {ascii_host}:{port})" if ascii_host else ""
        return ("the agent takes a host name in ASCII only and would refuse this one at start: give an "
                f"internationalised name in its xn-- form{hint}")
    return ("the agent takes a host of ASCII letters, digits, '.', '-' and '_', or an IPv6 address in "
            "brackets, and would refuse this one at start")


# Why Trimtab's init script and agent wheel must not live under /Shared (`shared_location_warning`).
SHARED_LOCATION_WARNING = (
    "{what} in /Shared, where every user of the workspace has Can Manage (inherited from "
    "/Workspace/Shared; a subfolder cannot lower it): any user can replace {them}, and the init script runs "
    "as root on the driver of every onboarded job cluster, with the agent's token in its environment. Set "
    "TRIMTAB_INIT_SCRIPT (and TRIMTAB_AGENT_WHEEL_LOCATION if set) to a Unity Catalog volume whose WRITE "
    "VOLUME only Trimtab's principal holds, or to a folder under Trimtab's principal's /Users home with "
    "CAN_READ for the jobs' owners, then import again (docs/operations.md, 'What import puts in the "
    "workspace')")


def under_shared(path: str) -> bool:
    """Whether a workspace path (``/Shared/...`` or ``/Workspace/Shared/...``) is in the Shared folder."""
    text = path.strip()
    return any(text == root or text.startswith(root + "/") for root in ("/Shared", "/Workspace/Shared"))


def shared_location_warning(init_script: str, agent_wheel: str = "") -> str:
    """The warning for an init script or agent wheel location under /Shared, "" when neither is (an
    empty ``agent_wheel``: import puts the wheel beside the script). Pure: the server logs it at start
    and at every import."""
    script = under_shared(init_script)
    wheel = under_shared(agent_wheel) if agent_wheel else script
    if not script and not wheel:
        return ""
    # A wheel the operator placed elsewhere (TRIMTAB_AGENT_WHEEL_LOCATION) is named where it is, not "beside it".
    def folder(path: str) -> str:
        text = path.strip()
        return text.removeprefix("/Workspace").rsplit("/", 1)[0]

    beside = not agent_wheel or folder(agent_wheel) == folder(init_script)
    wheel_at = "the agent wheel beside it" if beside else f"the agent wheel {agent_wheel}"
    what = {(True, True): f"Trimtab's init script {init_script} and {wheel_at} are",
            (True, False): f"Trimtab's init script {init_script} is",
            (False, True): f"the agent wheel {agent_wheel}, which the init script installs as root, is"}[script, wheel]
    return SHARED_LOCATION_WARNING.format(what=what, them="them" if script and wheel else "it")


def join_host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets (the form the CLI's --server and gRPC accept)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_local_host(host: str) -> bool:
    """True for a loopback or wildcard host: an address no other machine can reach this server at."""
    name = host.strip().strip("[]").lower()
    if name == "":
        return True
    try:
        return is_loopback_host(name) or ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """True for a name or address of this machine alone (localhost, 127.0.0.0/8, ::1): what is sent
    to it never crosses a network. A wildcard (0.0.0.0, ::) is not: listening there is reachable
    from every interface. No DNS lookup."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    listen: str = field(default="127.0.0.1:50051", metadata=_meta(
        "TRIMTAB_LISTEN", "gRPC address to listen on (host:port, [v6]:port; 0.0.0.0 or [::] for every "
        "interface; port 0 picks a free one)", flag="--listen"))
    http: str = field(default="", metadata=_meta("TRIMTAB_HTTP", "dashboard address, host:port (empty: no dashboard)",
                                                        flag="--http"))
    advertise: str = field(default="", metadata=_meta(
        "TRIMTAB_ADVERTISE", "host:port agents on Databricks clusters reach this server at, written into every "
        "imported job (empty: the listen address, which clusters cannot reach when it is loopback or 0.0.0.0)",
        flag="--advertise"))
    collect: int = field(default=1, metadata=_meta(
        "TRIMTAB_COLLECT", "1: collect finished Databricks runs, plan and auto-apply in the background; 0: off"))
    metrics: int = field(default=1, metadata=_meta(
        "TRIMTAB_METRICS", "1: serve Prometheus metrics at GET /metrics on the dashboard's address (needs --http; "
        "no token, like /healthz); 0: off (404)"))
    migrate: int = field(default=1, metadata=_meta(
        "TRIMTAB_MIGRATE", "1: bring the database schema to this version's latest migration at start; 0: "
        "refuse to start on an older schema, so `trimtab db upgrade` stays a separate, deliberate step"))
    collect_interval_seconds: float = field(default=60.0, metadata=_meta(
        "TRIMTAB_COLLECT_INTERVAL_SECONDS", "how often the collector polls each workspace's run list"))
    auto_import_interval_seconds: float = field(default=900.0, metadata=_meta(
        "TRIMTAB_AUTO_IMPORT_INTERVAL_SECONDS", "how often the collector lists the jobs of a workspace with "
        "auto-import on, to import the new ones"))
    import_page_seconds: float = field(default=60.0, metadata=_meta(
        "TRIMTAB_IMPORT_PAGE_SECONDS", "how long one call of `trimtab workspace import` starts jobs for before it "
        "answers and the CLI calls again for the rest (the job under way finishes first, each of its Databricks "
        "calls retried up to a minute: this plus a few minutes stays under the CLI's 10-minute deadline)"))
    recost_interval_seconds: float = field(default=1800.0, metadata=_meta(
        "TRIMTAB_RECOST_INTERVAL_SECONDS", "how often runs still priced from the catalog look for their cloud bill"))
    bill_wait_hours: float = field(default=6.0, metadata=_meta(
        "TRIMTAB_BILL_WAIT_HOURS", "hours after a run ends before its cloud bill is first looked for (bills lag "
        "by hours, and every AWS Cost Explorer request costs $0.01)"))
    state_dir: Path = field(default_factory=default_state_dir, metadata=_meta(
        "TRIMTAB_STATE_DIR", "directory for the SQLite database, server.toml, the secret key and price "
        "catalogs (default: $XDG_DATA_HOME/trimtab, else ~/.local/share/trimtab; macOS: "
        "~/Library/Application Support/trimtab)", flag="--state-dir"))
    db_url: str = field(default="", metadata=_meta(
        "TRIMTAB_DB", "database URL: sqlite:///PATH or postgresql://... (empty: <state_dir>/trimtab.db)",
        sensitive=True, flag="--db"))
    tls_cert: Path | None = field(default=None, metadata=_meta(
        "TRIMTAB_TLS_CERT", "TLS certificate (PEM); with tls_key the server speaks only TLS and imported "
        "clusters get TRIMTAB_TLS=1", flag="--tls-cert"))
    tls_key: Path | None = field(default=None, metadata=_meta(
        "TRIMTAB_TLS_KEY", "TLS private key (PEM)", flag="--tls-key"))
    secret_key: str = field(default="", metadata=_meta(
        "TRIMTAB_SECRET_KEY", "Fernet key for secrets at rest (empty: <state_dir>/secret.key)",
        sensitive=True))
    max_receive_bytes: int = field(default=8 * 1024 * 1024, metadata=_meta(
        "TRIMTAB_MAX_RECEIVE_BYTES", "largest request accepted"))
    max_events_per_batch: int = field(default=20_000, metadata=_meta(
        "TRIMTAB_MAX_EVENTS_PER_BATCH", "most events in one ingest batch"))
    ingest_group_batches: int = field(default=64, metadata=_meta(
        "TRIMTAB_INGEST_GROUP_BATCHES", "most batches committed together in one transaction"))
    ingest_queue_batches: int = field(default=1024, metadata=_meta(
        "TRIMTAB_INGEST_QUEUE_BATCHES", "batches waiting for the writer before UNAVAILABLE"))
    db_busy_timeout_ms: int = field(default=5000, metadata=_meta(
        "TRIMTAB_DB_BUSY_TIMEOUT_MS", "how long SQLite waits for a lock before UNAVAILABLE"))
    db_timeout_seconds: float = field(default=60.0, metadata=_meta(
        "TRIMTAB_DB_TIMEOUT_SECONDS", "PostgreSQL: longest one transaction may take; past it (a database that "
        "stopped answering, a failover without a reset) its connection is closed, the call fails with "
        "UNAVAILABLE and the next one reconnects; the database also ends a session idle in a transaction "
        "this long (0: no limit)"))
    ingest_stall_seconds: float = field(default=30.0, metadata=_meta(
        "TRIMTAB_INGEST_STALL_SECONDS", "when batches have waited this long without a commit, health reports "
        "NOT_SERVING until the ingest writer commits again or, with no batch waiting, the database takes a write"))
    workers: int = field(default=32, metadata=_meta("TRIMTAB_WORKERS", "gRPC handler threads"))
    gc_threshold: int = field(default=10_000, metadata=_meta(
        "TRIMTAB_GC_THRESHOLD", "allocations between young-generation garbage collections (0: Python's 700)"))
    grace_seconds: float = field(default=10.0, metadata=_meta(
        "TRIMTAB_GRACE_SECONDS", "on SIGTERM, how long in-flight calls may finish"))
    token_cache_seconds: float = field(default=30.0, metadata=_meta(
        "TRIMTAB_TOKEN_CACHE_SECONDS", "how long a verified token is trusted without a lookup"))
    token_revocation_check_seconds: float = field(default=2.0, metadata=_meta(
        "TRIMTAB_TOKEN_REVOCATION_CHECK_SECONDS", "at most this long until a revoked token is refused"))
    init_script: str = field(default="/Shared/trimtab/trimtab-init.sh", metadata=_meta(
        "TRIMTAB_INIT_SCRIPT", "where onboarded clusters find Trimtab's init script: a workspace path, a "
        "/Volumes/<catalog>/<schema>/<volume>/... path (import uploads to a workspace, DBFS or volume location; standard access mode needs a "
        "volume or cloud path on the metastore's INIT_SCRIPT allowlist), or a dbfs:/, s3://, abfss://, gs:// "
        "URI (cloud URIs are not uploaded). The default is under /Shared, which every workspace user can "
        "write: any of them can replace a script that runs as root on every onboarded driver (the server "
        "warns); use a volume whose WRITE VOLUME only Trimtab's principal holds, or a folder in Trimtab's "
        "principal's /Users home"))
    agent_wheel: str = field(default="", metadata=_meta(
        "TRIMTAB_AGENT_WHEEL_LOCATION", "where onboarded clusters install the agent from: an https URL or a "
        "/Volumes, /Workspace or /dbfs path of its wheel (needed when the init script is in cloud storage: an "
        "https URL then; a /Volumes path only with a /Volumes init script, a /Workspace path only with a "
        "workspace one); empty: import uploads the wheel beside the init script"))
    agent_secret: str = field(default="trimtab/agent-token", metadata=_meta(
        "TRIMTAB_AGENT_SECRET", "the Databricks secret (SCOPE/KEY) import writes the agents' token into and "
        "onboarded jobs read it from; a second Trimtab server importing jobs of the same workspace needs "
        "its own"))
    log_level: str = field(default="info", metadata=_meta(
        "TRIMTAB_LOG_LEVEL", "least severe log lines written: debug, info, warning or error (any case; debug "
        "includes the libraries' own debug lines)", flag="--log-level"))
    log_format: str = field(default="text", metadata=_meta(
        "TRIMTAB_LOG_FORMAT", "text: one readable line per record, for a terminal; json: one JSON object per line "
        "(ts, level, logger, message, exception and the record's extra fields) for a log shipper",
        flag="--log-format"))

    def __post_init__(self) -> None:
        # Checked when the configuration is made, so a typo stops the server at start, not at import
        # (or in a collector loop that polls without pause, as an interval of 0 did).
        from server.onboard import init_script_info

        try:
            init_script_info(self.init_script)
        except ValueError as exc:
            raise _bad("init_script", str(exc)) from exc
        if self.agent_wheel:
            from server.onboard import check_agent_wheel

            try:
                # init_script was checked just above.
                check_agent_wheel(self.agent_wheel, init_script_info(self.init_script))
            except ValueError as exc:
                raise _bad("agent_wheel", str(exc)) from exc
        try:
            split_host_port(self.listen, allow_port_zero=True)
        except ValueError as exc:
            raise _bad("listen", str(exc)) from exc
        if self.http:
            # Checked here, not when the dashboard starts: by then the database has been migrated, and
            # in a rolling deploy a typo would move the shared schema past the servers still running.
            try:
                split_host_port(self.http, allow_port_zero=True)
            except ValueError as exc:
                raise _bad("http", f"{exc}; give the dashboard's host:port (127.0.0.1:8080) or leave it "
                                   "empty for no dashboard") from exc
        if self.advertise:
            try:
                host, _ = split_host_port(self.advertise, allow_port_zero=False)
            except ValueError as exc:
                raise _bad("advertise", f"{exc}; give the host:port agents on clusters reach this "
                                        "server at") from exc
            if not host:
                raise _bad("advertise", f"{self.advertise!r} has no host; give the host:port agents on "
                                        "clusters reach this server at")
            why = agent_refuses_address(self.advertise)
            if why:
                raise _bad("advertise", f"{self.advertise!r}: {why}")
        scope, sep, key = self.agent_secret.partition("/")
        if not sep or not _SECRET_NAME.fullmatch(scope) or not _SECRET_NAME.fullmatch(key):
            raise _bad("agent_secret", f"{self.agent_secret!r} is not SCOPE/KEY: Databricks secret scope and key "
                                       "names are 1-128 letters, digits, dashes, underscores and periods")
        # Checked here, before the database is opened: found later, a bad key or TLS file stopped the
        # server only after it had migrated the schema.
        if self.secret_key and not _is_fernet_key(self.secret_key):
            # The value is never shown: it is (or was meant to be) the key to every stored secret.
            raise _bad("secret_key", "not a valid Fernet key (32 url-safe base64 bytes)")
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise _bad(name, f"{str(path)!r} is not a file")
        if self.tls_cert is not None and self.tls_key is not None:
            # Read as gRPC will: found only at the bind, a bad pair said "Failed to bind to address".
            from server.tls_files import tls_problem

            problem = tls_problem(Path(self.tls_cert), Path(self.tls_key))
            if problem is not None:
                raise _bad(*problem)
        url = self.db_url or "sqlite://"
        scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
        if scheme not in ("sqlite", "postgresql"):
            # Only the scheme is shown: the URL may hold a password.
            what = f"a {scheme} URL" if scheme else "not a URL"
            raise _bad("db_url", f"{what}: only sqlite:/// and postgresql:// URLs are supported")
        if self.db_url:
            # Parsed once here, so every command and the server refuse a bad one alike, before opening
            # anything (SQLAlchemy's own error quoted the password's tail). Every caller opens the store
            # next, so importing it here costs nothing more.
            from server.store.urls import parse_url

            try:
                parse_url(self.db_url)
            except ValueError as exc:
                raise _bad("db_url", str(exc)) from None
        if scheme == "sqlite" and self.db_url:
            # sqlite://, sqlite:/// and sqlite:///:memory: are an in-memory database: gone when the process
            # ends, never seen by the server or another command (SQLAlchemy also refused them with its
            # internal "Invalid argument(s) 'max_overflow'", its pool being one connection).
            database = url.split("://", 1)[1].split("?", 1)[0].removeprefix("/")
            if not database or database == ":memory:" or database.startswith("file::memory:"):
                raise _bad("db_url", f"{url!r}: an in-memory database lives in one process and is gone "
                                     "when it ends (no other command, nor a restarted server, sees it); give "
                                     "sqlite:////path/trimtab.db, or leave db_url out for SQLite in the state "
                                     "directory")
            if not database.startswith("/") and not database.startswith("file:"):
                object.__setattr__(self, "db_url", _absolute_sqlite(url, database))
        # Absolute, as a relative SQLite path is made above: `--state-dir state` named the database
        # "sqlite:///state/trimtab.db" in every message, which says nothing of the directory it is under.
        object.__setattr__(self, "state_dir", Path(self.state_dir).resolve())
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            chosen = value.strip().lower() if isinstance(value, str) else value
            if chosen not in allowed:
                raise _bad(name, _choice_words(value, allowed))
            # Frozen: the one place a value is put in its written form ("INFO" -> "info").
            object.__setattr__(self, name, chosen)
        if self.collect not in (0, 1):
            raise _bad("collect", f"{self.collect} is not 0 (off) or 1 (on)")
        if self.metrics not in (0, 1):
            raise _bad("metrics", f"{self.metrics} is not 0 (off) or 1 (on)")
        if self.migrate not in (0, 1):
            raise _bad("migrate", f"{self.migrate} is not 0 (refuse an older schema) or 1 (migrate at start)")
        for name, (low, strict, high) in _RANGES.items():
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise _bad(name, f"{value} is not a finite number")
            if value < low or (strict and value == low) or (high is not None and value > high):
                raise _bad(name, f"{value} is not {_range_words(low, strict, high)}")

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.state_dir / 'trimtab.db'}"

    def describe(self) -> dict[str, str]:
        """Every setting as text, sensitive ones masked (for logs)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            # Unset reads as empty, as the docs show it, not as the word None.
            out[f.name] = "****" if f.metadata.get("sensitive") and value else "" if value is None else str(value)
        return out


# Each numeric setting's bounds: (lowest, whether the lowest itself is refused, highest or None).
# Every interval, wait and deadline has a highest: the background threads wait on `threading` events,
# which refuse a timeout past `threading.TIMEOUT_MAX` (about 292 years) with OverflowError. An interval
# of 1e10 s passed the check, then killed the collector thread at its first wait while the server
# looked healthy, and a grace of 1e10 s made SIGTERM never end the server. The highest values are
# far past any useful setting, so a typo (a value in ms, an extra zero or two) is what they stop.
_DAY = 86_400
_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "collect_interval_seconds": (0, True, 7 * _DAY),
    "auto_import_interval_seconds": (0, True, 7 * _DAY),
    # 0 is allowed: one job per call (the first job of a call always goes). Past 5 minutes, a call whose
    # last job retries a failing workspace for minutes would pass the CLI's 10-minute deadline.
    "import_page_seconds": (0, False, 300),
    "recost_interval_seconds": (0, True, 7 * _DAY),
    "bill_wait_hours": (0, False, 72),
    # gRPC takes the message size as a C int.
    "max_receive_bytes": (1, False, 2**31 - 1),
    # A batch is one message, so no more events than max_receive_bytes could hold at a few bytes each.
    "max_events_per_batch": (1, False, 10_000_000),
    "ingest_group_batches": (1, False, 100_000),
    "ingest_queue_batches": (1, False, 1_000_000),
    # SQLite's busy timeout and PostgreSQL's lock_timeout (ms) are C ints.
    "db_busy_timeout_ms": (0, False, 2**31 - 1),
    # PostgreSQL's idle_in_transaction_session_timeout and libpq's tcp_user_timeout take it in ms as
    # C ints (at most 24.8 days); a day is far past any transaction.
    "db_timeout_seconds": (0, False, _DAY),
    "ingest_stall_seconds": (0, True, _DAY),
    # Each is a thread; gRPC's pool makes them as calls come in.
    "workers": (1, False, 10_000),
    # gc.set_threshold takes a C int ("Python int too large to convert to C long" named no setting).
    "gc_threshold": (0, False, 2**31 - 1),
    # A process manager kills a server that takes longer to stop; an hour is already past any.
    "grace_seconds": (0, False, 3600),
    "token_cache_seconds": (0, False, _DAY),
    "token_revocation_check_seconds": (0, False, 3600),
}


# Each setting with a fixed list of values; any case is accepted, the lower-case form is kept.
_CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("text", "json"),
}


def _is_fernet_key(key: str) -> bool:
    """Whether ``key`` is what `cryptography.fernet.Fernet` takes: 32 bytes in url-safe base64."""
    import base64
    import binascii

    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def _choice_words(value: Any, allowed: tuple[str, ...]) -> str:
    return f"{value!r} is not one of {', '.join(allowed)}"


def _range_words(low: float, strict: bool, high: float | None) -> str:
    words = f"greater than {low:g}" if strict else f"at least {low:g}"
    return f"{words} and at most {int(high)}" if high is not None else words


def _absolute_sqlite(url: str, database: str) -> str:
    """``url`` with its relative SQLite path made absolute from the current directory.

    ``sqlite:///tmp/x/trimtab.db`` (three slashes, as ``sqlite:///PATH`` reads) is the path
    ``tmp/x/trimtab.db`` under the current directory: a server started in one directory and a
    ``token create --db`` run in another made two databases, and every message showed only the URL
    ("invalid or revoked token" for a token written to the other one). Made absolute here, every
    log line and message names the file used; a path whose directory exists only from the root
    (``/tmp/x``) is refused as the missing slash it is."""
    path = Path(database)
    if not path.parent.is_dir() and Path("/", database).parent.is_dir():
        raise _bad("db_url", f"{url!r} names {database} under the current directory ({Path.cwd()}), where "
                             f"{path.parent} does not exist; for the absolute path /{database} write four "
                             f"slashes: sqlite:////{database}")
    prefix, _, rest = url.partition("://")
    query = rest.partition("?")[1] + rest.partition("?")[2]
    return f"{prefix}:///{path.resolve()}{query}"


class ConfigError(InvalidArgument):
    """The configuration refused: a setting's value (flag, variable or file), or the configuration
    file itself (missing, unreadable, not TOML). The CLI exits 2 for it, the usage status, not 1 as
    for a failure while running: scripts that start the server tell "fix the settings" from "try
    again" by the status alone."""


class BadSetting(ConfigError):
    """A setting's value refused by `ServerConfig`'s checks; ``setting`` and ``why`` let `load_config`
    name where the value came from (the checks know only the variable)."""

    def __init__(self, setting: str, label: str, why: str) -> None:
        super().__init__(f"setting {setting} ({label}): {why}")
        self.setting = setting
        self.why = why


def _bad(name: str, why: str) -> BadSetting:
    env = next(f.metadata["env"] for f in dataclasses.fields(ServerConfig) if f.name == name)
    return BadSetting(name, env, why)


def settings_markdown() -> str:
    """The settings table of docs/operations.md, made from the fields above (one source)."""
    rows = ["| Setting (server.toml key) | Environment variable | Flag | Default | What it does |",
            "|---|---|---|---|---|"]
    for f in dataclasses.fields(ServerConfig):
        if f.name == "state_dir":
            default = "per-user data directory"
        else:
            value = f.default
            default = "" if value in ("", None) else str(value)
        flag = f.metadata.get("flag") or ""
        rows.append(f"| `{f.name}` | `{f.metadata['env']}` | {f'`{flag}`' if flag else ''} | "
                    f"{f'`{default}`' if default else '(empty)'} | {f.metadata['help'].replace('|', '/')} |")
    return "\n".join(rows) + "\n"


# A Databricks secret scope or key name (both: alphanumeric, dashes, underscores, periods; at most 128).
_SECRET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")

# Settings that are switches (0/1): TOML's true/false mean what they say there.
_SWITCHES = frozenset({"collect", "metrics", "migrate"})


def _coerce(name: str, raw: Any, target: Any, source: str) -> Any:
    """``raw`` as the setting's type; ``source`` names where it came from for the error (a file's
    values are typed by TOML: 2.7 for a count or true for a number of seconds is refused, not
    truncated to 2 or read as 1)."""
    kind = target if isinstance(target, str) else getattr(target, "__name__", str(target))

    def bad(why: str) -> ConfigError:
        return ConfigError(f"setting {name} ({source}): {why}")

    if isinstance(raw, bool):
        if name in _SWITCHES:
            return int(raw)
        raise bad(f"{str(raw).lower()} is not a {'path' if 'Path' in str(kind) else kind}")
    if "Path" in str(kind) or kind == "str":
        if not isinstance(raw, (str, Path)):
            raise bad(f"{raw!r} is not text (quote it in the file)")
        if "Path" in str(kind):
            return Path(raw) if raw not in (None, "") else None
        if name in _CHOICES:
            # Checked here as well as in __post_init__: here the message names where the value came
            # from (the flag, the variable or the file), not only the setting's variable.
            chosen = str(raw).strip().lower()
            if chosen not in _CHOICES[name]:
                raise bad(_choice_words(raw, _CHOICES[name]))
            return chosen
        return str(raw)
    try:
        if "int" in str(kind):
            if isinstance(raw, float) and not raw.is_integer():
                raise bad(f"{raw!r} is not a whole number")
            return int(raw)
        if "float" in str(kind):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise bad(f"{raw!r} is not a valid {kind}") from exc


# TRIMTAB_* variables other parts read (the agent, the init script, the CLI, the sandbox, the
# tests): not the server's, and not misspellings of its settings. A test keeps this list whole.
OTHER_VARIABLES = frozenset({
    "TRIMTAB_AGENT_BACKOFF_BASE_S", "TRIMTAB_AGENT_BACKOFF_MAX_S", "TRIMTAB_AGENT_BATCH_AGE_S",
    "TRIMTAB_AGENT_BATCH_EVENTS", "TRIMTAB_AGENT_BIN", "TRIMTAB_AGENT_CHECKPOINT_S", "TRIMTAB_AGENT_CONFIG",
    "TRIMTAB_AGENT_DISK_RESERVE_BYTES", "TRIMTAB_AGENT_DISK_RESERVE_PCT",
    "TRIMTAB_AGENT_HOME", "TRIMTAB_AGENT_LOG_MAX_BYTES", "TRIMTAB_AGENT_MAX_LINE", "TRIMTAB_AGENT_MAX_RESTARTS", "TRIMTAB_AGENT_POLL_S",
    "TRIMTAB_AGENT_READ_BUDGET", "TRIMTAB_AGENT_RESTART_DELAY_S", "TRIMTAB_AGENT_REST_POLL_S",
    "TRIMTAB_AGENT_RPC_TIMEOUT_S", "TRIMTAB_AGENT_SHUTDOWN_FLUSH_S", "TRIMTAB_AGENT_SPOOL_BYTES",
    "TRIMTAB_AGENT_STATE_DIR", "TRIMTAB_AGENT_USE_PROXY", "TRIMTAB_AGENT_WHEEL", "TRIMTAB_AWS_PRICING_ENDPOINT",
    "TRIMTAB_AZURE_PRICES_ENDPOINT", "TRIMTAB_CONFIG", "TRIMTAB_DRIVER_ENV_FILE", "TRIMTAB_EVENTLOG_DIR",
    "TRIMTAB_FS_ROOT", "TRIMTAB_INSTALL_TIMEOUT", "TRIMTAB_SANDBOX_AWS_CREDENTIALS",
    "TRIMTAB_SANDBOX_AZURE_CREDENTIALS", "TRIMTAB_SANDBOX_PORT", "TRIMTAB_SANDBOX_RATE_LIMIT",
    "TRIMTAB_SANDBOX_SCHEDULES", "TRIMTAB_SANDBOX_SEED", "TRIMTAB_SANDBOX_SPEED", "TRIMTAB_SANDBOX_SPOT_LOSS_RATE",
    "TRIMTAB_SANDBOX_STATE_DIR",
    "TRIMTAB_SERVER", "TRIMTAB_SPARK_UI", "TRIMTAB_TAGS", "TRIMTAB_TEST_POSTGRES_URL", "TRIMTAB_TLS",
    "TRIMTAB_TLS_CA", "TRIMTAB_TOKEN", "TRIMTAB_TOKEN_ENV",
})


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """``TRIMTAB_*`` names in ``env`` that no part of Trimtab reads, each with the server setting it
    is likely a misspelling of: a misspelt variable was ignored without a word (the server ran on
    the default)."""
    import difflib

    server = [f.metadata["env"] for f in dataclasses.fields(ServerConfig)]
    known = set(server) | OTHER_VARIABLES
    out = []
    for name in sorted(n for n in env if n.startswith("TRIMTAB_") and n not in known):
        close = difflib.get_close_matches(name, server, n=1, cutoff=0.75)
        out.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return out


def _read_file(path: Path) -> dict[str, Any]:
    """The settings of the configuration file at ``path``, which exists. Anything there that is not a
    readable TOML file is refused, never skipped: a server.toml made a directory by a volume mount ran
    the server on defaults without a word, and one not in UTF-8 stopped it with the decoder's message
    alone, naming no file."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        line = bytes(exc.object[:exc.start]).count(b"\n") + 1
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text (at line {line})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror or exc}") from exc


def load_config(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                file: Path | None = None) -> ServerConfig:
    """The configuration from flags (None = not given), environment, file and defaults."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    fields = {f.name: f for f in dataclasses.fields(ServerConfig)}
    unknown = set(flags) - set(fields)
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if env.get(f.metadata["env"], "") != "":
            values[name] = env[f.metadata["env"]]
    state_dir = Path(flags.get("state_dir") or values.get("state_dir") or default_state_dir())
    path = file or (Path(env["TRIMTAB_CONFIG"]) if env.get("TRIMTAB_CONFIG") else state_dir / "server.toml")
    from_file: dict[str, Any] = {}
    if env.get("TRIMTAB_CONFIG") and not file and not path.exists():
        # Named on purpose: running on defaults instead would hide the mistake until much later.
        raise ConfigError(f"TRIMTAB_CONFIG: configuration file {path} does not exist")
    if path.exists():
        from_file = _read_file(path)
        unknown = set(from_file) - set(fields)
        if unknown:
            raise ConfigError(f"{path}: unknown settings: {', '.join(sorted(unknown))}")
    merged = {**from_file, **values, **flags}
    sources = {**{k: str(path) for k in from_file}, **{k: fields[k].metadata["env"] for k in values},
               **{k: fields[k].metadata.get("flag") or f"--{k.replace('_', '-')}" for k in flags}}
    coerced = {k: _coerce(k, v, fields[k].type, sources[k]) for k, v in merged.items()}
    try:
        return ServerConfig(**coerced)
    except BadSetting as exc:
        # The checks name the variable; a value given by a flag or the file is named as such
        # (`db status --db garbage` blamed TRIMTAB_DB, which was not set).
        if sources.get(exc.setting, fields[exc.setting].metadata["env"]) == fields[exc.setting].metadata["env"]:
            raise
        raise BadSetting(exc.setting, sources[exc.setting], exc.why) from None

