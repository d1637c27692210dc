"""DBFS REST over a directory of the state dir: `dbfs:/a/b` is `<state>/dbfs/a/b`."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

from sandbox.workspace.errors import ApiError, invalid, not_found
from sandbox.workspace.paging import bool_param, int_param

MAX_READ = 1024 * 1024


def local_path(root: Path, dbfs_path: str) -> Path:
    """Map a DBFS path (with or without the `dbfs:` scheme) into `root`, refusing escapes."""
    path = dbfs_path[5:] if dbfs_path.startswith("dbfs:") else dbfs_path
    if not path.startswith("/"):
        raise invalid(f"Path must be absolute: {dbfs_path}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise invalid(f"Path must not contain '..': {dbfs_path}")
    return root.joinpath(*parts)


def _info(root: Path, path: Path) -> dict[str, Any]:
    st = path.stat()
    rel = "/" + path.relative_to(root).as_posix() if path != root else "/"
    return {"path": rel, "is_dir": path.is_dir(), "file_size": 0 if path.is_dir() else st.st_size,
            "modification_time": int(st.st_mtime * 1000)}


def _existing(root: Path, params: dict[str, Any]) -> Path:
    if not params.get("path"):
        raise invalid("Missing required field: path")
    path = local_path(root, str(params["path"]))
    if not path.exists():
        raise not_found(f"No file or directory exists on path {params['path']}.")
    return path


def get_status(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    return _info(root, _existing(root, params))


def list_dir(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    path = _existing(root, params)
    if not path.is_dir():
        return {"files": [_info(root, path)]}
    files = [_info(root, p) for p in sorted(path.iterdir()) if not p.name.startswith(".")]
    return {"files": files} if files else {}


def read(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    path = _existing(root, params)
    if path.is_dir():
        raise ApiError(400, "INVALID_PARAMETER_VALUE",
                       f"The path {params['path']} is a directory.")
    offset = int_param(params, "offset", 0) or 0
    length = int_param(params, "length", 0) or MAX_READ
    if offset < 0 or length < 0:
        raise invalid("offset and length must be non-negative")
    if length > MAX_READ:
        raise ApiError(400, "MAX_READ_SIZE_EXCEEDED",
                       f"Cannot read more than {MAX_READ} bytes, got {length}")
    with path.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read(length)
    return {"bytes_read": len(chunk), "data": base64.b64encode(chunk).decode()}


def put(root: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Single-call upload (contents base64), how onboarding can place an init script."""
    if not body.get("path"):
        raise invalid("Missing required field: path")
    path = local_path(root, str(body["path"]))
    if path.exists() and not bool_param(body, "overwrite"):
        raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists "
                       f"at the input path {body['path']}.")
    try:
        data = base64.b64decode(str(body.get("contents") or ""), validate=True)
    except ValueError as exc:
        raise invalid("contents must be base64") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {}


def mkdirs(root: Path, body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("path"):
        raise invalid("Missing required field: path")
    local_path(root, str(body["path"])).mkdir(parents=True, exist_ok=True)
    return {}


class Streams:
    """Open `dbfs/create` handles (add-block, then close), as `w.dbfs.upload` uses them.

    Handles live in memory only: an upload does not survive a restart, as on the service.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[int, tuple[Path, bytearray]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("path"):
            raise invalid("Missing required field: path")
        path = local_path(self.root, str(body["path"]))
        if path.exists() and not bool_param(body, "overwrite"):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already "
                           f"exists at the input path {body['path']}.")
        with self._lock:
            self._next += 1
            self._open[self._next] = (path, bytearray())
            return {"handle": self._next}

    def add_block(self, body: dict[str, Any]) -> dict[str, Any]:
        _, buf = self._get(body)
        try:
            buf += base64.b64decode(str(body.get("data") or ""), validate=True)
        except ValueError as exc:
            raise invalid("data must be base64") from exc
        return {}

    def close(self, body: dict[str, Any]) -> dict[str, Any]:
        path, buf = self._get(body)
        with self._lock:
            self._open.pop(int(body["handle"]), None)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(buf))
        return {}

    def _get(self, body: dict[str, Any]) -> tuple[Path, bytearray]:
        with self._lock:
            entry = self._open.get(int(body.get("handle") or 0))
        if entry is None:
            raise not_found(f"Handle {body.get('handle')} does not exist.")
        return entry
