"""The Files API for Unity Catalog volumes: ``PUT|GET|HEAD /api/2.0/fs/files{path}``.

Files live under ``<state>/volumes``, at the path they have in the workspace
(``/Volumes/<catalog>/<schema>/<volume>/...``), which is where a ``volumes{destination}`` init
script (node.script_path) and volume log delivery look. Catalogs, schemas and volumes are not
emulated: any ``/Volumes/c/s/v/`` exists. PUT takes the raw bytes (``overwrite=true`` to replace)
and creates missing parent folders, as the service does; GET returns the bytes, HEAD the headers.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.workspace.dbfs import local_path
from sandbox.workspace.errors import ApiError, invalid
from sandbox.workspace.paging import bool_param

if TYPE_CHECKING:
    from sandbox.workspace.workspace import Workspace


@dataclass(frozen=True)
class RawReply:
    """A reply that is not a JSON document (a file's bytes, or nothing at all)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def volumes_root(state_dir: Path) -> Path:
    return state_dir / "volumes"


def volume_file(state_dir: Path, path: str) -> Path:
    """Where a ``/Volumes/<catalog>/<schema>/<volume>/<file>`` path is kept."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 5 or parts[0] != "Volumes":
        raise invalid(f"Invalid path: {path}. The sandbox serves files in Unity Catalog volumes: "
                      "/Volumes/<catalog>/<schema>/<volume>/<file>.")
    return local_path(volumes_root(state_dir), path)


def _headers(path: Path) -> dict[str, str]:
    st = path.stat()
    return {"Content-Type": "application/octet-stream", "Content-Length": str(st.st_size),
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}


def handle(ws: Workspace, method: str, path: str, params: dict[str, Any], raw: bytes) -> RawReply:
    target = volume_file(ws.state_dir, path)
    if method == "PUT":
        if target.is_dir():
            raise ApiError(409, "ALREADY_EXISTS", f"{path} is a directory.")
        if target.exists() and not bool_param(params, "overwrite"):
            raise ApiError(409, "ALREADY_EXISTS", f"The file being created already exists: {path}.")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a cluster starting now reads the old or the new script, whole.
        tmp = target.with_name(f".{target.name}.upload")
        tmp.write_bytes(raw)
        tmp.replace(target)
        return RawReply(204)
    if method in ("GET", "HEAD"):
        if not target.is_file():
            raise ApiError(404, "NOT_FOUND", f"The file does not exist: {path}.")
        return RawReply(200, target.read_bytes() if method == "GET" else b"", _headers(target))
    raise ApiError(405, "ENDPOINT_NOT_FOUND", f"No API found for '{method} /api/2.0/fs/files{path}'")
