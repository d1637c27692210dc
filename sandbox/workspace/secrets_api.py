"""Secrets API (scopes, put, list, delete, ACLs) and `{{secrets/<scope>/<key>}}` resolution.

Databricks-backed scopes carry ACLs (READ < WRITE < MANAGE, per principal; the group "users" is
every user). The scope's creator gets MANAGE, or "users" does when the scope is created with
``initial_manage_principal: "users"``. Every sandbox token belongs to one user, `jobs.CREATOR`,
who is held to the scope's ACL like anyone else (not treated as an admin), so a test can take a
permission away. A cluster resolves the secrets its ``spark_env_vars`` reference as its owner,
for a job cluster the job's run-as principal ("The cluster owner must have CAN READ permission
on the secret scope"), and fails to launch when the owner may not read them.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.workspace.errors import ApiError, invalid, not_found

SECRET_REF = re.compile(r"\{\{secrets/([^/{}]+)/([^/{}]+)\}\}")
# The user behind every sandbox token (jobs.CREATOR; not imported: jobs imports nothing of this).
CALLER = "sandbox@trimtab.local"
ALL_USERS = "users"
PERMISSIONS = ("READ", "WRITE", "MANAGE")  # weakest first


def _acls(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    # Kept beside "secrets"; a state saved before ACLs existed gives its scopes to CALLER.
    acls = data.setdefault("secret_acls", {})
    for scope in data["secrets"]:
        acls.setdefault(scope, {CALLER: "MANAGE"})
    return acls


def permission(data: dict[str, Any], scope: str, principal: str) -> str | None:
    """The strongest permission `principal` holds on `scope` (its own or through "users")."""
    acl = _acls(data).get(scope, {})
    held = [acl[p] for p in (principal, ALL_USERS) if p in acl]
    return max(held, key=PERMISSIONS.index) if held else None


def _require(data: dict[str, Any], scope: str, needs: str, principal: str = CALLER) -> None:
    held = permission(data, scope, principal)
    if held is None or PERMISSIONS.index(held) < PERMISSIONS.index(needs):
        raise ApiError(403, "PERMISSION_DENIED",
                       f"User {principal} does not have {needs} permission on scope {scope}")


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
    manager = body.get("initial_manage_principal")
    if manager not in (None, "", ALL_USERS):
        # The REST reference: the only value accepted is "users".
        raise invalid(f"initial_manage_principal must be {ALL_USERS!r}, got {manager!r}")
    if name in data["secrets"]:
        raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Scope {name} already exists!")
    data["secrets"][name] = {}
    _acls(data)[name] = {ALL_USERS if manager else CALLER: "MANAGE"}
    return {}


def list_scopes(data: dict[str, Any]) -> dict[str, Any]:
    scopes = [{"name": n, "backend_type": "DATABRICKS"} for n in sorted(data["secrets"])]
    return {"scopes": scopes} if scopes else {}


def delete_scope(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    _scope(data, body.get("scope"))
    _require(data, body["scope"], "MANAGE")
    del data["secrets"][body["scope"]]
    _acls(data).pop(body["scope"], None)
    return {}


def put(data: dict[str, Any], body: dict[str, Any], now_ms: int) -> dict[str, Any]:
    scope = _scope(data, body.get("scope"))
    _require(data, body["scope"], "WRITE")
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
    _require(data, params["scope"], "READ")
    items = [{"key": k, "last_updated_timestamp": v["last_updated_timestamp"]}
             for k, v in sorted(scope.items())]
    return {"secrets": items} if items else {}


def delete(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    scope = _scope(data, body.get("scope"))
    _require(data, body["scope"], "WRITE")
    if body.get("key") not in scope:
        raise not_found(f"Secret {body.get('key')} does not exist in scope {body['scope']}!")
    del scope[body["key"]]
    return {}


# ------------------------------------------------------------------ ACLs


def _principal(params: dict[str, Any]) -> str:
    principal = params.get("principal")
    if not principal or not isinstance(principal, str):
        raise invalid("Missing required field: principal")
    return principal


def put_acl(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Creates or overwrites the principal's ACL (the REST reference: "Creates or overwrites")."""
    _scope(data, body.get("scope"))
    _require(data, body["scope"], "MANAGE")
    principal = _principal(body)
    if body.get("permission") not in PERMISSIONS:
        raise invalid(f"Invalid permission {body.get('permission')!r}: one of {', '.join(PERMISSIONS)}")
    _acls(data)[body["scope"]][principal] = str(body["permission"])
    return {}


def get_acl(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    _scope(data, params.get("scope"))
    _require(data, params["scope"], "MANAGE")
    principal = _principal(params)
    held = _acls(data)[params["scope"]].get(principal)
    if held is None:
        raise not_found(f"No ACL for principal {principal} in scope {params['scope']}")
    return {"principal": principal, "permission": held}


def list_acls(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    _scope(data, params.get("scope"))
    _require(data, params["scope"], "MANAGE")
    items = [{"principal": p, "permission": v} for p, v in sorted(_acls(data)[params["scope"]].items())]
    return {"items": items} if items else {}


def delete_acl(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    _scope(data, body.get("scope"))
    _require(data, body["scope"], "MANAGE")
    principal = _principal(body)
    if principal not in _acls(data)[body["scope"]]:
        raise not_found(f"No ACL for principal {principal} in scope {body['scope']}")
    del _acls(data)[body["scope"]][principal]
    return {}


# ------------------------------------------------------------------ resolution


class SecretNotFound(KeyError):
    """A secret reference a cluster cannot resolve; `code` is the termination code the cluster
    fails with (databricks-sdk `TerminationReasonCode`: SECRET_RESOLUTION_ERROR for a missing
    secret, SECRET_PERMISSION_DENIED when its owner may not read it)."""

    def __init__(self, message: str, code: str = "SECRET_RESOLUTION_ERROR") -> None:
        super().__init__(message)
        self.code = code


def run_owner(data: dict[str, Any], run_id: int) -> str | None:
    """Who a run's job clusters belong to: its job's run-as principal (None: unknown run)."""
    run = data["runs"].get(str(run_id))
    job = data["jobs"].get(str(run.get("job_id"))) if run else None
    if job is None:
        return None
    return str(job.get("run_as_user_name") or job.get("creator_user_name") or CALLER)


def resolve(data: dict[str, Any], value: str, owner: str | None = None) -> str:
    """Replace every secret reference in `value`, as Databricks does for spark_env_vars, reading
    as the cluster's `owner` (None: unchecked).

    A secret the owner may not read fails as one that does not exist: Databricks documents the
    requirement (the owner needs READ on the scope) but not its launch error, so the wording
    here ("does not exist or no permission", with the principal) is the sandbox's, unverified
    against a real workspace; databricks-sdk lists SECRET_RESOLUTION_ERROR and
    SECRET_PERMISSION_DENIED among the termination codes."""

    def sub(match: re.Match[str]) -> str:
        scope, key = match.group(1), match.group(2)
        entry = data["secrets"].get(scope, {}).get(key)
        if entry is None:
            raise SecretNotFound(f"secret {scope}/{key} does not exist")
        held = permission(data, scope, owner) if owner is not None else "READ"
        if held is None:
            raise SecretNotFound(f"secret {scope}/{key} does not exist or no permission: the cluster's owner "
                                 f"{owner} has no READ permission on secret scope {scope}",
                                 code="SECRET_PERMISSION_DENIED")
        return str(entry["value"])

    return SECRET_REF.sub(sub, value)
