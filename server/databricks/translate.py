"""A failed Databricks call in Trimtab's words: the SDK's errors turned into the classes of
`server.databricks.errors` (and `DatabricksPermissionDenied`), and their messages cut to a readable
length, without the SDK's config suffix. Pure functions over an error and an HTTP status: the
gateway's transport (`server.databricks.transport`) decides when a call has failed for good, this
module only says what that failure is.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING

from server.databricks.errors import (
    DatabricksCallError,
    DatabricksNotFound,
    DatabricksRejected,
    WorkspaceAuthError,
)
from server.render.workspace_text import M2M_NO_PERMISSION

if TYPE_CHECKING:
    # At run time each function below that needs the SDK's error classes imports them itself:
    # only a built gateway raises them, and building one has imported the SDK (`client`).
    from databricks.sdk import errors as sdk_errors


class DatabricksPermissionDenied(DatabricksCallError):
    """The token works but lacks a privilege this one call needs (403 on a call others succeed on).

    Unlike :class:`WorkspaceAuthError` it says nothing about the token as a whole, so it does not
    mark the workspace as failing."""

    code = "PERMISSION_DENIED"


# The SDK appends ". Config: host=..., token=***, auth_type=pat" to auth errors.
_CONFIG_SUFFIX = re.compile(r"\.?\s*Config:.*$", re.DOTALL)
# urllib3 prefixes a connection failure with the connection's repr: "HTTPConnection(host=..., port=...): ".
_CONNECTION_REPR = re.compile(r"^\w*Connection(?:Pool)?\(host=[^)]*\):\s*")


def _message(err: BaseException) -> str:
    text = _CONFIG_SUFFIX.sub("", str(err)).strip()
    return text or err.__class__.__name__


# 4xx that pass by themselves: a proxy's request timeout, a locked resource, too early, throttling.
_TRANSIENT_4XX = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.LOCKED, HTTPStatus.TOO_EARLY,
                            HTTPStatus.TOO_MANY_REQUESTS})


def _transient(err: sdk_errors.DatabricksError, status: int | None) -> bool:
    """Whether an error the SDK maps to no class of its own may pass: a 5xx (502 Bad Gateway and
    the like), a 408/423/425/429, or a status not known. A 4xx such as 431 (a header too large) is the request's
    own fault and fails the same way every time. ``status`` is the answer's (see `_note_status`);
    without it, an HTML reply's ``error_code`` is its reason phrase (``BAD_GATEWAY``), which may name it."""
    if status is None:
        try:
            status = HTTPStatus[str(err.error_code or "")]
        except KeyError:
            return True
    return status >= 500 or status in _TRANSIENT_4XX


# What a workspace says of a token it refuses outright (revoked, expired, unknown) rather than of one call:
# Databricks answers it 403 ``{"error_code": 403, "message": "Invalid access token."}`` as often as 401
# (databricks-sdk-go issues #873, #917), and the SDK makes any 403 `PermissionDenied`, so only the message
# tells it from a missing permission ("... does not have permission ...", "PERMISSION_DENIED: ...").
_TOKEN_REFUSED = re.compile(r"\b(invalid|expired|revoked)\b[\w ]*\btoken\b|\btoken\b[\w ]*\b(invalid|expired|revoked)\b",
                            re.IGNORECASE)


def token_refused(err: BaseException) -> bool:
    """Whether the SDK error ``err`` refuses the token itself: any 401, or a 403 whose message says the
    token is invalid or expired. A new token (M2M) may help; more grants never do."""
    from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

    if isinstance(err, sdk_errors.Unauthenticated):
        return True
    return isinstance(err, sdk_errors.PermissionDenied) and bool(_TOKEN_REFUSED.search(_message(err)))


def lacks_permission(err: BaseException) -> bool:
    """Whether ``err`` (a `WorkspaceAuthError`) is a 403 for want of a permission: the token works, so a
    call on one resource that meets it is that resource's trouble (`DatabricksPermissionDenied`)."""
    from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

    cause = err.__cause__
    return isinstance(cause, sdk_errors.PermissionDenied) and not token_refused(cause)


def _cut(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters: an HTTP stack's message may repeat a 100k-character host."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _translate(method: str, path: str, err: Exception, status: int | None = None, *,
               m2m: bool = False) -> DatabricksCallError:
    """``err`` in Trimtab's words; ``m2m``: the workspace authenticates as a service principal (OAuth
    M2M), whose access token Trimtab never holds: a refusal is about the principal, not a token."""
    from databricks.sdk import errors as sdk_errors  # already imported: a gateway was built

    text = f"{method} {path}: {_message(err)}"
    if type(err) is sdk_errors.DatabricksError and status is not None:
        # A status the SDK has no class for: the number says what its message may not ("Error response").
        text += f" (HTTP {status})"
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            return DatabricksRejected(text)
    if token_refused(err):
        if m2m:
            # The transport has already dropped the kept token and fetched a new one with the secret (the
            # token endpoint took it), and the workspace refused that one too.
            return WorkspaceAuthError(f"the workspace refused the service principal's OAuth access token, and a "
                                      f"new one fetched with its client secret too (the principal removed from the "
                                      f"workspace or disabled): {_message(err)}")
        return WorkspaceAuthError(f"the workspace refused the token (revoked or expired): {_message(err)}")
    if m2m and isinstance(err, sdk_errors.PermissionDenied):
        # 403 not about the token: the access token was accepted, so the secret works; the principal may
        # not use the workspace or make this call. A new secret would not help.
        return WorkspaceAuthError(f"the workspace refused the call: the service principal {M2M_NO_PERMISSION} "
                                  f"(not added to the workspace, no Workspace access entitlement, or no permission "
                                  f"on what the call reaches): {_message(err)}")
    if isinstance(err, sdk_errors.PermissionDenied):
        return WorkspaceAuthError(f"the workspace refused the token (revoked, expired or without "
                                  f"permission): {_message(err)}")
    if isinstance(err, sdk_errors.NotFound):
        return DatabricksNotFound(text)
    if isinstance(err, sdk_errors.BadRequest | sdk_errors.ResourceConflict):
        return DatabricksRejected(text)
    return DatabricksCallError(text)
