"""Secrets API (scopes, put, list, delete) and `{{secrets/<scope>/<key>}}` resolution."""

from __future__ import annotations

import re
from typing import Any

from sandbox.workspace.errors import ApiError, invalid, not_found

SECRET_REF = re.compile(r"\{\{secrets/([^/{}]+)/([^/{}]+)\}\}")


def _scope(data: dict[str, Any], name: Any) -> dict[str, Any]:
    if not name:
        raise invalid("Missing required field: scope")
    scope = data["secrets"].get(str(name))
    if scope is None:
        raise not_found(f"Scope {name} does not exist!")
    return scope


def create_scope(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("scope")
    if not name or not re.fullmatch(r"[A-Za-z0-9_.@-]{1,128}", str(name)):
        raise invalid(f"Invalid scope name: {name!r}")
    if name in data["secrets"]:
        raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Scope {name} already exists!")
    data["secrets"][name] = {}
    return {}


def list_scopes(data: dict[str, Any]) -> dict[str, Any]:
    scopes = [{"name": n, "backend_type": "DATABRICKS"} for n in sorted(data["secrets"])]
    return {"scopes": scopes} if scopes else {}


def delete_scope(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    _scope(data, body.get("scope"))
    del data["secrets"][body["scope"]]
    return {}


def put(data: dict[str, Any], body: dict[str, Any], now_ms: int) -> dict[str, Any]:
    scope = _scope(data, body.get("scope"))
    key = body.get("key")
    if not key or not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", str(key)):
        raise invalid(f"Invalid secret key: {key!r}")
    if "string_value" not in body:
        # bytes_value is base64 bytes; the emulator only needs text secrets (tokens).
        raise invalid("string_value is required")
    scope[key] = {"value": str(body["string_value"]), "last_updated_timestamp": now_ms}
    return {}


def list_secrets(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    scope = _scope(data, params.get("scope"))
    items = [{"key": k, "last_updated_timestamp": v["last_updated_timestamp"]}
             for k, v in sorted(scope.items())]
    return {"secrets": items} if items else {}


def delete(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    scope = _scope(data, body.get("scope"))
    if body.get("key") not in scope:
        raise not_found(f"Secret {body.get('key')} does not exist in scope {body['scope']}!")
    del scope[body["key"]]
    return {}


class SecretNotFound(KeyError):
    pass


def resolve(data: dict[str, Any], value: str) -> str:
    """Replace every secret reference in `value`, as Databricks does for spark_env_vars."""

    def sub(match: re.Match[str]) -> str:
        entry = data["secrets"].get(match.group(1), {}).get(match.group(2))
        if entry is None:
            raise SecretNotFound(f"secret {match.group(1)}/{match.group(2)} does not exist")
        return str(entry["value"])

    return SECRET_REF.sub(sub, value)
