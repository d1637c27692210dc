"""What a workspace's status means, in the words `trimtab workspace list`/`show` and the dashboard
both use (no server imports: the CLI stays light)."""

from __future__ import annotations

# Why a status may be old: what the `watched` field of a workspace says when false.
UNWATCHED = ("no attached project and auto-import off, so the collector does not poll it; its status is as of "
             "the last command that reached it (add, add --replace, import, set --host)")

# What the collector does about a workspace in each status other than ok, and what a person can do
# (30 min: server.collect.collector.BACKOFF_CAP_S; not imported, the CLI stays light). ``{name}``: the
# workspace's.
STATUS_HINTS = {
    "unreachable": ("the collector cannot reach this host (down, network, wrong host), or it keeps answering "
                    "that it is rate limiting Trimtab or unavailable (429/503: the error says which); it tries again "
                    "less and less often, up to every 30 min, and collects by itself once it answers. "
                    "`trimtab workspace add {name} ... --replace` tries at once; a workspace at a new URL "
                    "(the sandbox emulator's port changed): `trimtab workspace set {name} --host URL --token-env VAR`."),
    # Not "stopped": a refused token is tried again on the same backoff (`server.collect.health.refused`),
    # so a permission granted resumes collection by itself, and a person told to replace the token
    # rotated one for nothing (multi-workspace review).
    "error": ("Databricks refuses the token (revoked, expired, or it lacks a permission the error names); the "
              "collector tries it again less and less often, up to every 30 min, and collects by itself once it is "
              "accepted. A new token: `trimtab workspace add {name} ... --replace`, which also tries at once."),
}

# What the M2M hints add: the collector's retries, as for a token (`STATUS_HINTS["error"]`).
_M2M_RETRIES = "the collector tries again less and less often, up to every 30 min"


# The "error" hint for a workspace that authenticates as a service principal: it has no token to
# replace; its client secret was refused (wrong, expired or deleted) or the principal lost access.
M2M_ERROR_HINT = ("Databricks refuses the service principal's client secret (a secret expires); " + _M2M_RETRIES
                  + " and collects by itself once it works; make a new one for the principal in the account console, or check it was not removed from the "
                  "workspace: `trimtab workspace add {name} --host URL --client-id ID --client-secret-env VAR --replace`")


# What a service principal's 403 says (`server.databricks.translate`): authenticated, so its secret
# works, but it may not use the workspace or make the call. Matched in the status's last error, which is
# all `status_hint` has, to name the remedy: access granted, not a new secret.
M2M_NO_PERMISSION = "is authenticated but lacks access to the workspace or a permission"
M2M_FORBIDDEN_HINT = ("collection resumes by itself once the service principal is given access (" + _M2M_RETRIES
                      + "): a workspace admin adds it to "
                      "the workspace (with the Workspace access entitlement) or grants the permission the error names; "
                      "its client secret works, so then `trimtab workspace add {name} --host URL --client-id ID "
                      "--client-secret-env VAR --replace` with the same secret tries at once")


# Opens the part of a workspace's ``last_error`` (its status ``ok``) that says Trimtab's own init script fails
# its clusters at start, after the script's path (`server.collect.own_script_note`), before the projects it
# stops and the fix (`trimtab workspace import NAME` uploads it again).
OWN_SCRIPT_NOTE_MARK = "fails clusters at start: "


def status_hint(status: str, last_error: str, name: str, client_id: str = "") -> str | None:
    """What a person can do about a workspace in ``status`` (`STATUS_HINTS`), or None; in a service
    principal's words when the workspace authenticates as one (``client_id``). A token the
    server cannot decrypt says itself what to do (start with the key it was stored under): a new
    token helps only when that key is lost, so "replace the token" is not the remedy to name."""
    if status == "error" and "cannot be decrypted" in (last_error or ""):
        return None
    hint = STATUS_HINTS.get(status)
    if hint is None:
        return None
    if client_id:
        if status == "error":
            forbidden = M2M_NO_PERMISSION in (last_error or "")
            return (M2M_FORBIDDEN_HINT if forbidden else M2M_ERROR_HINT).format(name=name)
        hint = hint.replace("--token-env VAR", "--client-id ID --client-secret-env VAR")
    return hint.format(name=name)


def status_text(status: str, watched: bool) -> str:
    """The status, marked when nothing has checked it since the last command (see `UNWATCHED`)."""
    return status if watched else f"{status} (not polled)"
