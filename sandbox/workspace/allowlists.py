"""Unity Catalog artifact allowlists (`GET|PUT /api/2.1/unity-catalog/artifact-allowlists/{type}`),
and which init scripts a standard-access cluster runs.

On Databricks Runtime 13.3 LTS and above, compute in standard (formerly shared) access mode runs
an init script only when the metastore's INIT_SCRIPT allowlist covers it, and only from a Unity
Catalog volume or cloud storage; the allowlist is empty by default. A script it refuses fails
the cluster launch (INIT_SCRIPT_FAILURE), so the run fails. Emulated: one metastore per
workspace; ``PREFIX_MATCH`` (the service's only match type) covers the artifact itself or any
path under it on a path-segment boundary. Reading or replacing an allowlist needs metastore
admin or MANAGE ALLOWLIST: `set_manage_allowlist` (Python only) takes that privilege from the
workspace's tokens, so both answer 403 PERMISSION_DENIED. On runtime 19 and above standard
access gives init scripts only Databricks' own environment variables (`script_env_allowed`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sandbox.workspace.errors import ApiError, invalid

if TYPE_CHECKING:
    from sandbox.workspace.workspace import Workspace

ARTIFACT_TYPES = frozenset({"INIT_SCRIPT", "LIBRARY_JAR", "LIBRARY_MAVEN"})
MATCH_TYPES = frozenset({"PREFIX_MATCH"})
STANDARD_ACCESS_MODES = frozenset({"USER_ISOLATION", "DATA_SECURITY_MODE_STANDARD"})
# The kinds of InitScriptInfo standard access runs (when allowlisted).
ALLOWLISTABLE_KINDS = ("volumes", "s3", "abfss", "gcs")
METASTORE_ID = "5a1db0c4-7e2f-4c1e-9d0a-5a4db0c47e2f"
_RUNTIME = re.compile(r"^(\d+)\.(\d+)\.")


def _allowlists(data: dict[str, Any]) -> dict[str, Any]:
    # State files written before allowlists existed have no such key: created on first use.
    return data.setdefault("artifact_allowlists", {})


def set_manage_allowlist(data: dict[str, Any], granted: bool) -> None:
    """Give or take the workspace's tokens metastore admin / MANAGE ALLOWLIST (Python only)."""
    data["manage_allowlist"] = bool(granted)


def _check_privilege(data: dict[str, Any]) -> None:
    if not data.get("manage_allowlist", True):
        raise ApiError(403, "PERMISSION_DENIED",
                       f"User does not have MANAGE ALLOWLIST on Metastore '{METASTORE_ID}'.")


def _artifact_type(value: str) -> str:
    if value not in ARTIFACT_TYPES:
        raise invalid(f"Invalid artifact type: {value}. Expected one of {', '.join(sorted(ARTIFACT_TYPES))}.")
    return value


def get_allowlist(data: dict[str, Any], artifact_type: str) -> dict[str, Any]:
    _check_privilege(data)
    kind = _artifact_type(artifact_type)
    stored = _allowlists(data).get(kind)
    if stored is None:
        return {"artifact_type": kind, "metastore_id": METASTORE_ID, "artifact_matchers": []}
    return dict(stored)


def put_allowlist(data: dict[str, Any], artifact_type: str, body: Mapping[str, Any],
                  now_ms: int) -> dict[str, Any]:
    """Replace the allowlist of one artifact type whole (the service's semantics)."""
    _check_privilege(data)
    kind = _artifact_type(artifact_type)
    matchers = body.get("artifact_matchers")
    if not isinstance(matchers, list):
        raise invalid("Missing required field: artifact_matchers")
    clean = []
    for matcher in matchers:
        if not isinstance(matcher, dict) or not isinstance(matcher.get("artifact"), str) \
                or not matcher["artifact"]:
            raise invalid("Each artifact matcher needs a non-empty artifact")
        if matcher.get("match_type") not in MATCH_TYPES:
            raise invalid(f"Invalid match_type: {matcher.get('match_type')}. Expected PREFIX_MATCH.")
        clean.append({"artifact": matcher["artifact"], "match_type": matcher["match_type"]})
    record = {"artifact_type": kind, "metastore_id": METASTORE_ID, "artifact_matchers": clean,
              "created_at": now_ms, "created_by": "sandbox-admin@example.com"}
    _allowlists(data)[kind] = record
    return dict(record)


def handle(ws: Workspace, method: str, rest: str, params: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """``/unity-catalog/artifact-allowlists/{artifact_type}``: GET reads, PUT replaces."""
    artifact_type = rest.strip("/")
    with ws.store.lock:
        if method == "GET":
            return get_allowlist(ws.store.data, artifact_type)
        if method == "PUT":
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                raise ApiError(400, "MALFORMED_REQUEST", f"Invalid JSON body: {exc}") from exc
            if not isinstance(body, dict):
                raise ApiError(400, "MALFORMED_REQUEST", "The body must be a JSON object")
            out = put_allowlist(ws.store.data, artifact_type, body, ws.now_ms())
            ws.store.save()
            return out
    raise ApiError(405, "ENDPOINT_NOT_FOUND", f"No API found for '{method} artifact-allowlists'")


def allowlisted(data: dict[str, Any], artifact_type: str, artifact: str) -> bool:
    """A PREFIX_MATCH of the allowlist equals ``artifact`` or is a folder above it."""
    stored = _allowlists(data).get(artifact_type) or {}
    for matcher in stored.get("artifact_matchers") or []:
        prefix = str(matcher.get("artifact") or "")
        if matcher.get("match_type") != "PREFIX_MATCH" or not prefix:
            continue
        if artifact == prefix or artifact.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


# GPU instance families: AWS g*/p*, Azure's N-series (NC, ND, NV).
_GPU_NODE_TYPE = re.compile(r"^(?:[gp]\d|Standard_N[CDV])", re.IGNORECASE)


def standard_access(spec: Mapping[str, Any]) -> bool:
    """Standard access mode as the service runs the cluster: set so, or ``DATA_SECURITY_MODE_AUTO``,
    which "defaults to Standard unless a machine learning runtime, a GPU instance type, or a
    Databricks Runtime lower than 14.3 is selected" (Databricks, access modes)."""
    mode = str(spec.get("data_security_mode") or "").upper()
    if mode in STANDARD_ACCESS_MODES:
        return True
    if mode != "DATA_SECURITY_MODE_AUTO":
        return False
    key = str(spec.get("spark_version") or "").lower()
    version = _runtime(spec)
    if "-ml-" in key or "-gpu-" in key or (version is not None and version < (14, 3)):
        return False
    # The newer form (kind CLASSIC_PREVIEW) chooses the ML runtime by a flag beside a plain key.
    if str(spec.get("use_ml_runtime")).lower() == "true":
        return False
    return not any(_GPU_NODE_TYPE.match(str(n)) for n in (spec.get("node_type_id"), spec.get("driver_node_type_id")) if n)


def _runtime(spec: Mapping[str, Any]) -> tuple[int, int] | None:
    match = _RUNTIME.match(str(spec.get("spark_version") or ""))
    return (int(match[1]), int(match[2])) if match else None


def refused_init_script(data: dict[str, Any], spec: Mapping[str, Any]) -> str | None:
    """Why the service would not run one of the cluster's init scripts (None: it runs them all).

    Call under the store lock. Only standard access mode restricts init scripts."""
    if not standard_access(spec):
        return None
    for info in spec.get("init_scripts") or []:
        kind = next((k for k in info if isinstance(info[k], Mapping)), "")
        destination = str((info.get(kind) or {}).get("destination") or "")
        if kind not in ALLOWLISTABLE_KINDS:
            return (f"Init script {destination or info} ({kind or 'unknown'}) is not allowed on compute in "
                    "standard access mode: only allowlisted init scripts in Unity Catalog volumes or "
                    "cloud storage run there.")
        if not allowlisted(data, "INIT_SCRIPT", destination):
            return (f"Init script {destination} is not on the metastore's INIT_SCRIPT allowlist: compute in "
                    "standard access mode runs only allowlisted init scripts.")
    return None


def script_env_allowed(spec: Mapping[str, Any]) -> bool:
    """Whether init scripts see spark_env_vars: not in standard access on runtime 19 and above
    (an unreadable spark_version is taken as a current runtime: 19 and above)."""
    if not standard_access(spec):
        return True
    version = _runtime(spec)
    return version is not None and version < (19, 0)
