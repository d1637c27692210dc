"""How `trimtab workspace add` and `set` are told the way into a workspace, and how `show` says it: a
personal access token (``--token-env``), or a service principal's OAuth client id and secret
(``--client-id``, ``--client-secret-env``: OAuth machine-to-machine), each secret read from an
environment variable (`from_env`). Apart from `server.cli.workspace`, which was long enough."""

from __future__ import annotations

import os
import re
from typing import Any

import click

from server.render.workspace_text import status_hint

# What an environment variable's name looks like (POSIX: letters, digits, '_', not starting with a digit).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Prefixes of Databricks tokens (PAT, OAuth secrets) and of JWTs: a name given as one is a pasted value.
TOKEN_PREFIXES = ("dapi", "dkea", "dose", "eyJ")


# A variable name to give as an example, for each option taking one.
EXAMPLE_VARS = {"--token-env": "DATABRICKS_TOKEN", "--client-secret-env": "DBX_SP_SECRET",
                "--cloud-credentials-env": "AWS_BILLING"}


def from_env(var: str, what: str, option: str) -> str:
    # Secrets come from the environment, never flags: flags end up in shell history and `ps`.
    example = f"e.g. {option} {EXAMPLE_VARS.get(option, 'MY_VARIABLE')}"
    if not var.strip():
        # Before the look of a value: "" is no pasted secret but, most often, an unset shell variable.
        raise click.UsageError(f"{option} {var!r}: an empty value is most often an unset shell variable; give the "
                               f"name of the environment variable that holds {what}, {example}")
    if var not in os.environ and _looks_like_value(var):
        # `--token-env $DATABRICKS_TOKEN`: the secret itself was given. Never echo it.
        raise click.UsageError(f"{option} takes the name of an environment variable (the value given looks like "
                               f"{'a token' if option == '--token-env' else 'the value itself'}), {example}")
    if var not in os.environ:
        raise click.UsageError(f"environment variable {var} is not set (it must hold {what})")
    value = os.environ[var]
    if not value.strip():
        raise click.UsageError(f"environment variable {var} is set but empty (it must hold {what})")
    return value


def _looks_like_value(var: str) -> bool:
    """A value pasted where a variable's name goes: not a name at all, a token's prefix, or long and
    mixed like a secret (names are short words, mostly upper case)."""
    return (not ENV_NAME.fullmatch(var) or var.startswith(TOKEN_PREFIXES)
            or (len(var) >= 24 and any(c.isdigit() for c in var) and any(c.islower() for c in var)))


def auth_given(token_env: str | None, client_id: str | None, client_secret_env: str | None) -> tuple[str, str, str]:
    """(token, client id, client secret) from the options: a PAT (--token-env), or a service principal's
    OAuth client id and secret (--client-id, --client-secret-env); exactly one of the two ways."""
    if token_env is not None and (client_id is not None or client_secret_env is not None):
        raise click.UsageError("give either --token-env VAR (a personal access token) or --client-id ID "
                               "--client-secret-env VAR (a service principal, OAuth M2M), not both")
    if token_env is not None:
        return from_env(token_env, "the token", "--token-env"), "", ""
    if client_id is None and client_secret_env is None:
        raise click.UsageError("give --token-env VAR (a personal access token) or --client-id ID "
                               "--client-secret-env VAR (a service principal, OAuth M2M)")
    if client_id is None or not client_id.strip():
        raise click.UsageError("--client-secret-env goes with --client-id ID (the service principal's OAuth client id)")
    if client_secret_env is None:
        raise click.UsageError("--client-id needs --client-secret-env VAR (the environment variable holding the "
                               "service principal's OAuth client secret)")
    return "", client_id.strip(), from_env(client_secret_env, "the OAuth client secret", "--client-secret-env")


def hint(ws: Any) -> str | None:
    """`status_hint`, in a service principal's words for a workspace that authenticates as one."""
    return status_hint(ws.status, ws.last_error, ws.name, ws.client_id)


def auth_lines(ws: Any) -> list[tuple[str, str]]:
    """How the workspace is authenticated, never the secret: a PAT (masked), or OAuth M2M's client id and
    its masked client secret."""
    if not ws.client_id:
        return [("auth", "personal access token"), ("token", ws.token_masked)]
    return [("auth", "OAuth machine-to-machine (service principal)"), ("client id", ws.client_id),
            ("secret", ws.token_masked)]
