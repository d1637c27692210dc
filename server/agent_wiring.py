"""How onboarded clusters reach Trimtab and install its agent (pure).

`AgentWiring` is what onboarding (`server.onboard.onboard_spec`) writes into each cluster spec: the
address the agent streams to and the Databricks secret its token is read from (as the agent's
environment variables below), Trimtab's init script, the log destination, TLS, and where the agent's
wheel is installed from. Before import writes a job, it refuses an address no cluster could reach
(`AgentWiring.check_reachable_from`) and a wheel the init script could not install
(`check_agent_wheel`); import uploads the wheel beside an init script it uploads
(`wheel_beside_script`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from server.config import is_local_host, split_host_port
from server.errors import FailedPrecondition
from server.standard_access import DEFAULT_INIT_SCRIPT, init_script_info, script_location

SERVER_ENV = "TRIMTAB_SERVER"
TOKEN_ENV = "TRIMTAB_TOKEN"
# The agent's switch to TLS (agent/config.py `tls`). It verifies the server against the node's CA
# roots; a private CA's PEM file on the cluster is named by hand in the job's spark_env_vars
# (docs/operations.md, TLS): a path on the clusters is nothing the server knows.
TLS_ENV = "TRIMTAB_TLS"
# Where the init script installs the agent from (init_scripts/trimtab-init.sh): Databricks fetches
# the script alone, so the wheel must be somewhere the node reads on its own.
AGENT_WHEEL_ENV = "TRIMTAB_AGENT_WHEEL"


@dataclass(frozen=True)
class AgentWiring:
    """How onboarded clusters reach Trimtab."""

    server_address: str  # host:port the agent streams to
    secret_scope: str = "trimtab"
    secret_key: str = "agent-token"
    # An InitScriptInfo (exactly one of workspace/volumes/dbfs/file/s3/abfss/gcs). A workspace
    # file by default: import can upload it, and Databricks no longer runs DBFS init scripts.
    init_script: Mapping[str, Any] = field(default_factory=lambda: init_script_info(DEFAULT_INIT_SCRIPT))
    log_destination: str = "dbfs:/cluster-logs"
    # Import uploads Trimtab's init script to a workspace, DBFS or volume destination; off when
    # it is managed elsewhere (cloud storage is never uploaded: Trimtab holds no cloud credentials).
    upload_init_script: bool = True
    # The server speaks only TLS (--tls-cert/--tls-key): agents must too, or every call fails.
    tls: bool = False
    # Where clusters install the agent from (`check_agent_wheel`); "" lets import upload the wheel
    # beside an uploaded init script (`wheel_beside_script`), and refuse when it cannot.
    agent_wheel: str = ""

    @property
    def token_reference(self) -> str:
        return "{{secrets/" + self.secret_scope + "/" + self.secret_key + "}}"

    @property
    def only_local(self) -> bool:
        """The address agents are told is loopback or a wildcard: no cluster can reach it."""
        try:
            host, _ = split_host_port(self.server_address, allow_port_zero=True)
        except ValueError:
            return False  # checked as a setting (advertise) before it gets here
        return is_local_host(host)

    def check_reachable_from(self, workspace_host: str) -> None:
        """FailedPrecondition when agents on the workspace's clusters could not reach the server.

        Onboarding such a job would change it for nothing: its agent would send to its own
        loopback. A workspace on this machine (the sandbox, the demo) does reach a loopback
        address, so it is allowed."""
        if not self.only_local or is_local_host(workspace_hostname(workspace_host)):
            return
        raise FailedPrecondition(
            f"agents on Databricks clusters cannot reach this server at {self.server_address} (loopback or "
            f"every-interface address), which import would write into the jobs of {workspace_host}: restart "
            "the server with --advertise HOST:PORT (TRIMTAB_ADVERTISE), the address clusters reach it at")


# Where a wheel path is readable from, by the kind of init script that reads it ("What files can I
# reference in an init script?", Databricks docs, init-scripts/referencing-files): "Credentials required
# to access other files stored in Unity Catalog volumes are only made available within init scripts
# stored in Unity Catalog volumes. You cannot reference any files in Unity Catalog volumes from init
# scripts configured from other locations"; other workspace files are referenced from init scripts
# stored in workspace files (Runtime 11.3 LTS and above). An https URL (cloud storage through a
# presigned URL, a package host) is read by any script; DBFS is left as it was (end of life).
# path prefix -> (the script kind that can read it, why, where to put the script instead)
_WHEEL_NEEDS_SCRIPT = {
    "/Volumes/": ("volumes", "a file in a Unity Catalog volume is readable only by an init script stored in a volume",
                  "in a volume (TRIMTAB_INIT_SCRIPT=/Volumes/<catalog>/<schema>/<volume>/trimtab-init.sh)"),
    "/Workspace/": ("workspace", "a workspace file is readable only by an init script stored in workspace files",
                    "in workspace files (TRIMTAB_INIT_SCRIPT=/Shared/trimtab/trimtab-init.sh)"),
}
_SCRIPT_PLACES = {"volumes": "in a Unity Catalog volume", "workspace": "a workspace file", "dbfs": "on DBFS",
                  "file": "a local file on the node", "s3": "in cloud storage (s3)",
                  "abfss": "in cloud storage (abfss)", "gcs": "in cloud storage (gcs)"}


def check_agent_wheel(location: str, init_script: Mapping[str, Any] | None = None) -> None:
    """Refuse an agent wheel location the init script cannot install from (ValueError saying why).

    It runs ``pip install <location>`` on the driver: an https URL (a presigned one for a private
    bucket), or a path the node reads, the FUSE mounts of a Unity Catalog volume (``/Volumes/...``),
    workspace files (``/Workspace/...``) or DBFS (``/dbfs/...``). pip reads no ``s3://`` or
    ``abfss://`` URI, and the script holds no cloud credentials to copy one. Given ``init_script``
    (the InitScriptInfo clusters run), a volume or workspace path must be one a script of that kind
    can read (`_WHEEL_NEEDS_SCRIPT`): otherwise pip finds no file and clusters start without the agent."""
    text = location.strip()
    kind, destination = script_location(init_script) if init_script else ("", "")
    for prefix, (needs, why, instead) in _WHEEL_NEEDS_SCRIPT.items():
        if kind and kind != needs and text.startswith(prefix):
            raise ValueError(f"agent wheel {location!r}: {why}, and Trimtab's init script {destination} is "
                             f"{_SCRIPT_PLACES.get(kind, f'of kind {kind}')} (Databricks docs: 'What files can I "
                             f"reference in an init script?'); give an https URL (a presigned one for a private "
                             f"bucket), or put the init script {instead}")
    if text.startswith(("s3://", "s3a://", "abfss://", "gs://", "wasbs://")):
        raise ValueError(f"agent wheel {location!r}: the init script installs it with pip, which cannot read "
                         "cloud storage URIs; give an https URL (a presigned one for a private bucket), or a "
                         "/Volumes/<catalog>/<schema>/<volume>/... path with an init script in a volume")
    if text.startswith("https://") or text.startswith(("/Volumes/", "/Workspace/", "/dbfs/")):
        if text.endswith(".whl") or text.startswith("https://"):
            return
        raise ValueError(f"agent wheel {location!r}: expected a .whl file")
    raise ValueError(f"agent wheel {location!r}: expected an https URL or a /Volumes, /Workspace or /dbfs path "
                     "the clusters can read")


def wheel_locations(init_script: Mapping[str, Any]) -> str:
    """Where an init script of this kind can install the agent's wheel from, for a message."""
    kind, _ = script_location(init_script)
    for prefix, (needs, _why, _instead) in _WHEEL_NEEDS_SCRIPT.items():
        if kind == needs:
            return f"an https URL, or a {prefix}....whl path (the init script is {_SCRIPT_PLACES[kind]}, which reads them)"
    return (f"an https URL (a presigned one for a private bucket): an init script {_SCRIPT_PLACES.get(kind, 'there')} "
            "cannot read files in Unity Catalog volumes or workspace files")


def wheel_beside_script(init_script: Mapping[str, Any], wheel_name: str) -> tuple[str, str] | None:
    """Where import can put the agent's wheel beside an init script it uploads, as
    ``(upload path, path the node reads it at)``; None for a script in cloud storage (Trimtab holds
    no credentials for it).

    A volume script reads volume files (Databricks Runtime 13.3 LTS and above); workspace files
    are mounted at ``/Workspace`` (an init script in workspace files reading other files needs
    Runtime 11.3 LTS or above: "limited support ... in 9.1 LTS and 10.4 LTS ... such as
    referencing other files from init scripts"); DBFS at ``/dbfs`` (where DBFS scripts still run)."""
    kind, destination = script_location(init_script)
    folder = destination.rsplit("/", 1)[0]
    if kind == "volumes":
        return f"{folder}/{wheel_name}", f"{folder}/{wheel_name}"
    if kind == "workspace":
        return f"{folder}/{wheel_name}", f"/Workspace{folder}/{wheel_name}"
    if kind == "dbfs":
        path = folder.removeprefix("dbfs:")
        return f"dbfs:{path}/{wheel_name}", f"/dbfs{path}/{wheel_name}"
    return None


def workspace_hostname(host: str) -> str:
    """The host name of a workspace URL (``https://adb-1.azuredatabricks.net`` or ``127.0.0.1:8080``)."""
    parsed = urlsplit(host if "//" in host else f"//{host}")
    return parsed.hostname or ""
