"""Workspace files (`/api/2.0/workspace/import`, `get-status`, `mkdirs`) kept under
`<state>/workspace`, where `workspace{destination}` init scripts are looked up."""

from __future__ import annotations

import base64
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from sandbox.workspace.dbfs import local_path
from sandbox.workspace.errors import ApiError, invalid, not_found
from sandbox.workspace.paging import bool_param


def parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """The form databricks-sdk's `workspace.upload` posts: fields plus a `content` file."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "content":
            fields["content_bytes"] = payload
        elif name:
            fields[str(name)] = payload.decode()
    return fields


def import_file(root: Path, body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("path"):
        raise invalid("Missing required field: path")
    path = local_path(root, str(body["path"]))
    if path.exists() and not bool_param(body, "overwrite"):
        raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"{body['path']} already exists.")
    data = body.get("content_bytes")
    if data is None:
        try:
            data = base64.b64decode(str(body.get("content") or ""), validate=True)
        except ValueError as exc:
            raise invalid("content must be base64") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {}


def get_status(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("path"):
        raise invalid("Missing required field: path")
    path = local_path(root, str(params["path"]))
    if not path.exists():
        raise not_found(f"Path ({params['path']}) doesn't exist.")
    return {"path": params["path"], "object_type": "DIRECTORY" if path.is_dir() else "FILE",
            "size": 0 if path.is_dir() else path.stat().st_size,
            "modified_at": int(path.stat().st_mtime * 1000)}


def mkdirs(root: Path, body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("path"):
        raise invalid("Missing required field: path")
    local_path(root, str(body["path"])).mkdir(parents=True, exist_ok=True)
    return {}
