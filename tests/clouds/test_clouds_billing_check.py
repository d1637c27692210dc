"""Trying billing credentials with one bill read (`check_billing_credentials`), as `workspace add`/`set`
does before storing them: a definite refusal (wrong keys, a subscription they have no role on, no
Cost Explorer permission) is told apart from no answer (which may pass), quickly and without echoing
a secret.

Real parts: moto's server with its IAM checks on (users, keys and policies made through moto's IAM)
and the HTTPS Azure stand-in, through boto3 and azure-mgmt-costmanagement.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from moto.core.authorization import enable_iam_authentication

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.azure import AzureStandIn
from server.clouds.factory import check_billing_credentials
from tests.clouds.iam import iam_user

NOW = 1_765_000_000_000  # 2025-12-06


def _aws(stand_in: AwsStandIn, key_id: str, secret: str) -> str:
    return json.dumps({"access_key_id": key_id, "secret_access_key": secret, "endpoint_url": stand_in.endpoint_url})


def test_aws_wrong_keys_and_no_cost_explorer_permission_are_refused(aws_stand_in: AwsStandIn) -> None:
    allowed = iam_user(aws_stand_in, "billing-reader", ["ce:GetCostAndUsage"])
    ec2_only = iam_user(aws_stand_in, "ec2-reader", ["ec2:DescribeInstances"])
    with enable_iam_authentication():
        unknown = check_billing_credentials("aws", _aws(aws_stand_in, "AKIAUNKNOWN000000000", "nope"), now_ms=NOW)
        wrong_secret = check_billing_credentials("aws", _aws(aws_stand_in, allowed.key_id, "not-the-secret"),
                                                 now_ms=NOW)
        denied = check_billing_credentials("aws", _aws(aws_stand_in, ec2_only.key_id, ec2_only.secret), now_ms=NOW)
        works = check_billing_credentials("aws", _aws(aws_stand_in, allowed.key_id, allowed.secret), now_ms=NOW)
    assert unknown.refused and not unknown.ok and "InvalidClientTokenId" in unknown.why
    assert wrong_secret.refused and "SignatureDoesNotMatch" in wrong_secret.why
    assert denied.refused and "not authorized to perform: ce:GetCostAndUsage" in denied.why
    assert "<" not in denied.why  # the XML error body is read, not pasted
    assert works.ok and not works.refused and works.why == ""
    for check in (unknown, wrong_secret, denied):
        assert allowed.secret not in check.why and ec2_only.secret not in check.why


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_no_answer_is_not_a_refusal_and_ends_at_the_deadline(silent_port: int) -> None:
    creds = json.dumps({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t",
                        "endpoint_url": f"http://127.0.0.1:{silent_port}"})
    started = time.monotonic()
    check = check_billing_credentials("aws", creds, now_ms=NOW, timeout_s=1.0)
    assert time.monotonic() - started < 5
    assert not check.ok and not check.refused
    assert "s3cr3t" not in check.why

    closed = json.dumps({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t", "endpoint_url": "http://127.0.0.1:9"})
    check = check_billing_credentials("aws", closed, now_ms=NOW, timeout_s=5.0)
    assert not check.ok and not check.refused and "Could not connect" in check.why


def _azure(stand_in: AzureStandIn, **over: str) -> str:
    return json.dumps({"subscription_id": stand_in.subscription_id, "access_token": stand_in.token,
                       "base_url": stand_in.base_url, "ca_bundle": str(stand_in.cert_path), **over})


def test_azure_401_and_403_are_refused(azure_stand_in: AzureStandIn) -> None:
    assert check_billing_credentials("azure", _azure(azure_stand_in), now_ms=NOW).ok
    # The check sends the query a bill read sends, on the scope a bill read uses, for yesterday.
    sent = azure_stand_in.requests[-1]
    assert sent["scope"] == f"/subscriptions/{azure_stand_in.subscription_id}"
    assert sent["body"]["type"] == "AmortizedCost" and sent["body"]["timePeriod"]["from"] == "2025-12-05T00:00:00Z"
    wrong_token = check_billing_credentials("azure", _azure(azure_stand_in, access_token="stolen-token"), now_ms=NOW)
    assert wrong_token.refused and "AuthenticationFailed" in wrong_token.why
    assert "stolen-token" not in wrong_token.why
    other = "11111111-2222-3333-4444-555555555555"
    wrong_subscription = check_billing_credentials("azure", _azure(azure_stand_in, subscription_id=other), now_ms=NOW)
    assert wrong_subscription.refused and "AuthorizationFailed" in wrong_subscription.why and other in wrong_subscription.why
