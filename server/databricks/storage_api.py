"""The gateway's calls that store things in a workspace: secrets and their ACLs, workspace files,
DBFS, Unity Catalog volumes, and the metastore's artifact allowlist (which init scripts may run).
Part of :class:`server.databricks.gateway.DatabricksGateway`, the one class callers use.
"""

from __future__ import annotations

from typing import Any

from server.databricks.errors import DatabricksNotFound, DatabricksRejected, WorkspaceAuthError
from server.databricks.paths import ARTIFACT_ALLOWLISTS, DBFS, FILES, SECRETS, WORKSPACE
from server.databricks.translate import DatabricksPermissionDenied, _message, lacks_permission
from server.databricks.transport import Transport


class StorageApi(Transport):
    """Secrets, files and the artifact allowlist of one workspace."""

    # ------------------------------------------------------------ secrets and files

    def put_secret(self, scope: str, key: str, value: str, *, initial_manage_principal: str | None = None) -> None:
        """Store a secret, creating the scope when it does not exist yet (``initial_manage_principal``
        "users": every user may manage it, which a Standard-plan workspace requires, having no
        secret ACLs)."""
        from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

        create: dict[str, Any] = {"scope": scope}
        if initial_manage_principal:
            create["initial_manage_principal"] = initial_manage_principal
        try:
            self._do("POST", f"{SECRETS}/scopes/create", body=create)
        except DatabricksRejected as err:
            if not isinstance(err.__cause__, sdk_errors.ResourceConflict):
                raise
        self._scope_call("write to", scope, "WRITE", "POST", f"{SECRETS}/put",
                         body={"scope": scope, "key": key, "string_value": value})

    def has_secret(self, scope: str, key: str) -> bool:
        try:
            page = self._scope_call("list the secrets of", scope, "READ", "GET", f"{SECRETS}/list",
                                    query={"scope": scope})
        except DatabricksNotFound:
            return False
        return any(s.get("key") == key for s in page.get("secrets") or [])

    def secret_written_ms(self, scope: str, key: str) -> int | None:
        """When the secret was last written (``last_updated_timestamp``, Databricks' clock), 0 when not
        said; None when it is not there. Its value cannot be read back (secrets/get serves DBUtils only)."""
        try:
            page = self._scope_call("list the secrets of", scope, "READ", "GET", f"{SECRETS}/list",
                                    query={"scope": scope})
        except DatabricksNotFound:
            return None
        found = next((s for s in page.get("secrets") or [] if s.get("key") == key), None)
        return None if found is None else int(found.get("last_updated_timestamp") or 0)

    def secret_acl(self, scope: str, principal: str) -> str | None:
        """The permission (READ, WRITE or MANAGE) ``principal`` holds on ``scope`` itself, or None.

        Needs MANAGE on the scope (:class:`DatabricksPermissionDenied` without it)."""
        try:
            acl = self._scope_call("read the ACLs of", scope, "MANAGE", "GET", f"{SECRETS}/acls/get",
                                   query={"scope": scope, "principal": principal})
        except DatabricksNotFound:
            return None
        return str(acl.get("permission") or "") or None

    def put_secret_acl(self, scope: str, principal: str, permission: str) -> None:
        """``secrets/acls/put``: give ``principal`` ``permission`` on ``scope``, replacing what it
        had (so a caller checks `secret_acl` first, not to lower a MANAGE to READ). Needs MANAGE."""
        self._scope_call("change the ACLs of", scope, "MANAGE", "POST", f"{SECRETS}/acls/put",
                         body={"scope": scope, "principal": principal, "permission": permission})

    def delete_secret_acl(self, scope: str, principal: str) -> None:
        """``secrets/acls/delete``: take whatever ``principal`` holds on ``scope`` away (a caller reads it
        with `secret_acl` first, to take away only a READ it gave). One already gone is no error. Needs
        MANAGE."""
        try:
            self._scope_call("change the ACLs of", scope, "MANAGE", "POST", f"{SECRETS}/acls/delete",
                             body={"scope": scope, "principal": principal})
        except DatabricksNotFound:
            return

    def _scope_call(self, doing: str, scope: str, needs: str, method: str, path: str,
                    **kwargs: Any) -> dict[str, Any]:
        """A secrets call whose 403 means the token's principal lacks a permission on this scope
        (it did the other calls), not a refused token: :class:`DatabricksPermissionDenied`."""
        try:
            return self._do(method, path, **kwargs)
        except WorkspaceAuthError as err:
            if lacks_permission(err):
                # One cheap call tells a revoked token (raises here) from a missing permission.
                self.check_token()
                raise DatabricksPermissionDenied(self._principal_words(
                    f"Trimtab's token may not {doing} the secret scope {scope!r} (it needs {needs} on the scope; "
                    f"a scope manager can grant it with secrets/acls/put): {_message(err.__cause__)}")
                ) from err.__cause__
            raise

    def put_workspace_file(self, path: str, contents: bytes) -> None:
        """Write a workspace file (``/Shared/...``), replacing it, creating its folder."""
        import base64
        import posixpath

        self._do("POST", f"{WORKSPACE}/mkdirs", body={"path": posixpath.dirname(path) or "/"})
        self._do("POST", f"{WORKSPACE}/import", body={
            "path": path, "format": "AUTO", "overwrite": True,
            "content": base64.b64encode(contents).decode("ascii")})

    def put_dbfs_file(self, path: str, contents: bytes) -> None:
        """Write a small file (one block, < 1 MiB) to DBFS, replacing it."""
        import base64

        self._do("POST", f"{DBFS}/put", body={
            "path": path, "overwrite": True, "contents": base64.b64encode(contents).decode("ascii")})

    def list_dbfs(self, path: str) -> list[dict[str, Any]]:
        """``dbfs/list``: ``[{path, is_dir, file_size, modification_time}]`` (empty for an empty folder)."""
        return list(self._do("GET", f"{DBFS}/list", query={"path": path}).get("files") or [])

    def read_dbfs(self, path: str, chunk_bytes: int = 1024 * 1024) -> bytes:
        """A whole DBFS file; ``dbfs/read`` returns at most 1 MiB per call, so it is read in chunks."""
        import base64

        out = bytearray()
        while True:
            page = self._do("GET", f"{DBFS}/read", query={"path": path, "offset": len(out),
                                                          "length": chunk_bytes})
            data = base64.b64decode(page.get("data") or "")
            out += data
            if len(data) < chunk_bytes or not int(page.get("bytes_read") or 0):
                return bytes(out)

    def put_volume_file(self, path: str, contents: bytes) -> None:
        """Write a file in a Unity Catalog volume (``/Volumes/<catalog>/<schema>/<volume>/...``),
        replacing it: the Files API takes the raw bytes and creates missing parent folders."""
        from urllib.parse import quote

        # A raw body; retried on 5xx like any call (an upload with ``overwrite`` is idempotent).
        self._do("PUT", f"{FILES}{quote(path)}", query={"overwrite": "true"}, data=contents)

    # ------------------------------------------------------------ Unity Catalog

    def get_artifact_allowlist(self, artifact_type: str = "INIT_SCRIPT") -> dict[str, Any]:
        """``artifact-allowlists/get``: ``{artifact_type, artifact_matchers: [{artifact, match_type}]}``.

        Reading it needs metastore admin or MANAGE ALLOWLIST on the metastore; without that the 403
        is :class:`DatabricksPermissionDenied`, not a refused token (the token did its other calls)."""
        try:
            return self._do("GET", f"{ARTIFACT_ALLOWLISTS}/{artifact_type}")
        except WorkspaceAuthError as err:
            if lacks_permission(err):
                raise DatabricksPermissionDenied(
                    f"GET {ARTIFACT_ALLOWLISTS}/{artifact_type}: {_message(err.__cause__)}") from err.__cause__
            raise
