"""The server's one typed configuration.

Every setting has an environment variable, a type, a default and a
``sensitive`` flag (sensitive values are masked by `ServerConfig.describe`).
Precedence, highest first: command-line flag > environment > file
(``<state_dir>/server.toml``, or ``TRIMTAB_CONFIG``) > default.
"""

from __future__ import annotations

import dataclasses
import os
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


def _meta(env: str, help_text: str, sensitive: bool = False) -> dict[str, Any]:
    return {"env": env, "help": help_text, "sensitive": sensitive}


@dataclass(frozen=True)
class ServerConfig:
    listen: str = field(default="127.0.0.1:50051", metadata=_meta(
        "TRIMTAB_LISTEN", "gRPC address to listen on (host:port; port 0 picks a free one)"))
    http: str = field(default="", metadata=_meta("TRIMTAB_HTTP", "dashboard address (empty: no dashboard)"))
    advertise: str = field(default="", metadata=_meta(
        "TRIMTAB_ADVERTISE", "address agents on clusters reach this server at (empty: the listen address)"))
    collect: int = field(default=1, metadata=_meta(
        "TRIMTAB_COLLECT", "1: collect finished Databricks runs, plan and auto-apply in the background; 0: off"))
    collect_interval_seconds: float = field(default=60.0, metadata=_meta(
        "TRIMTAB_COLLECT_INTERVAL_SECONDS", "how often the collector polls each workspace's run list"))
    auto_import_interval_seconds: float = field(default=900.0, metadata=_meta(
        "TRIMTAB_AUTO_IMPORT_INTERVAL_SECONDS", "how often the collector lists the jobs of a workspace with "
        "auto-import on, to import the new ones"))
    recost_interval_seconds: float = field(default=1800.0, metadata=_meta(
        "TRIMTAB_RECOST_INTERVAL_SECONDS", "how often runs still priced from the catalog look for their cloud bill"))
    state_dir: Path = field(default_factory=default_state_dir, metadata=_meta(
        "TRIMTAB_STATE_DIR", "directory for the SQLite database and the secret key"))
    db_url: str = field(default="", metadata=_meta(
        "TRIMTAB_DB", "database URL (empty: SQLite file in the state directory)", sensitive=True))
    tls_cert: Path | None = field(default=None, metadata=_meta("TRIMTAB_TLS_CERT", "TLS certificate (PEM)"))
    tls_key: Path | None = field(default=None, metadata=_meta("TRIMTAB_TLS_KEY", "TLS private key (PEM)"))
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
        "URI (cloud URIs are not uploaded)"))

    def __post_init__(self) -> None:
        # Checked when the configuration is made, so a typo stops the server at start, not at import.
        from server.onboard import init_script_info

        try:
            init_script_info(self.init_script)
        except ValueError as exc:
            raise InvalidArgument(f"setting init_script (TRIMTAB_INIT_SCRIPT): {exc}") from exc

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.state_dir / 'trimtab.db'}"

    def describe(self) -> dict[str, str]:
        """Every setting as text, sensitive ones masked (for logs)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = "****" if f.metadata.get("sensitive") and value else str(value)
        return out


def _coerce(name: str, raw: Any, target: Any) -> Any:
    kind = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    try:
        if "Path" in str(kind):
            return Path(raw) if raw not in (None, "") else None
        if "int" in str(kind):
            return int(raw)
        if "float" in str(kind):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"setting {name}: {raw!r} is not a valid {kind}") from exc


def load_config(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                file: Path | None = None) -> ServerConfig:
    """The configuration from flags (None = not given), environment, file and defaults."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    fields = {f.name: f for f in dataclasses.fields(ServerConfig)}
    unknown = set(flags) - set(fields)
    if unknown:
        raise InvalidArgument(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if env.get(f.metadata["env"], "") != "":
            values[name] = env[f.metadata["env"]]
    state_dir = Path(flags.get("state_dir") or values.get("state_dir") or default_state_dir())
    path = file or (Path(env["TRIMTAB_CONFIG"]) if env.get("TRIMTAB_CONFIG") else state_dir / "server.toml")
    from_file: dict[str, Any] = {}
    if path.is_file():
        with path.open("rb") as fh:
            from_file = tomllib.load(fh)
        unknown = set(from_file) - set(fields)
        if unknown:
            raise InvalidArgument(f"{path}: unknown settings: {', '.join(sorted(unknown))}")
    merged = {**from_file, **values, **flags}
    return ServerConfig(**{k: _coerce(k, v, fields[k].type) for k, v in merged.items()})

