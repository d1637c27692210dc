"""A pasted OAuth access token is refused as a workspace's token (review creds, item 3): it is a JWT
that expires within about an hour, and Trimtab, which keeps the token it is given and cannot refresh
it, then failed every call as with a revoked token. The message names what Trimtab can refresh tokens
with: the service principal's client id and secret (OAuth M2M)."""

from __future__ import annotations

import base64
import json

import pytest

from server.errors import InvalidArgument
from server.services.workspace_checks import check_token, is_jwt


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# The shape of what `databricks auth token` and the workspace's /oidc/v1/token hand out.
ACCESS_TOKEN = ".".join([_part({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}),
                         _part({"sub": "3f2a-sp", "scope": "all-apis", "exp": 1_796_000_000}),
                         "c2lnbmF0dXJlLWJ5dGVz_-"])


def test_an_oauth_access_token_is_refused_saying_why_and_what_to_give() -> None:
    assert is_jwt(ACCESS_TOKEN)
    with pytest.raises(InvalidArgument) as refused:
        check_token(ACCESS_TOKEN)
    message = refused.value.message
    assert "OAuth access token (a JWT), which expires in about an hour" in message
    assert message.startswith("token: ")
    assert "--client-id ID --client-secret-env VAR" in message and "not supported" not in message
    assert "personal access token" in message and "service principal" in message
    with pytest.raises(InvalidArgument, match="^client_secret: this is an OAuth access token"):
        check_token(ACCESS_TOKEN, "client_secret")
    assert ACCESS_TOKEN not in message  # never echoed


@pytest.mark.parametrize("token", ["dapi0123456789abcdef0123456789abcdef-3", "dapi.a.b", "eyJonly-one-part",
                                   "eyJa.b"])
def test_personal_access_tokens_and_other_values_are_not_taken_for_one(token: str) -> None:
    assert not is_jwt(token)
    check_token(token)
