"""Billing credentials are tried when they are given (`workspace add`, `add --replace`, `set
--cloud-credentials-env`): refused by the cloud, the command fails (exit 1) and nothing changes, unless
--skip-billing-check; not answered, they are stored with a warning. `workspace show` then says how the
bill reads went, as re-costing records them.

Real parts: the `trimtab` entry point against a real server (gRPC on 127.0.0.1:0) on SQLite and
PostgreSQL, the workspace emulator over HTTP (the Databricks token check), moto's server with its
IAM checks on (a user without ce:GetCostAndUsage, keys it does not know) and the HTTPS Azure stand-in
answering 401 and 403.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import pytest
from moto.core.authorization import disable_iam_authentication, enable_iam_authentication

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.azure import AzureStandIn
from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.clouds import factory
from server.collect.bills import Recoster, WorkspaceBills
from server.costing.billing import price_run
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.domain import Project, Run
from server.services.secrets import SecretBox
from server.store import Store
from tests.clouds.iam import IamUser, allow, iam_user

Trimtab = Callable[..., tuple[int, str, str]]
HOUR = 3_600_000
T0 = 1_765_000_000_000  # 2025-12-06 05:46 UTC
REFUSED_HINT = "--skip-billing-check"


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsStandIn]:
    with AwsStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def azure() -> Iterator[AzureStandIn]:
    with AzureStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def trimtab(trimtab: Trimtab, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> Trimtab:
    """conftest's `trimtab` (its server collects nothing and re-costs nothing: the test runs re-costing passes
    itself), with the emulator's token in TT_DBX_TOKEN for `workspace add`."""
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    return trimtab


def _add(emulator: RunningWorkspace, cloud: str, *extra: str) -> tuple[str, ...]:
    return ("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN", "--cloud", cloud,
            "--cloud-credentials-env", "TT_CREDS", *extra)


def _aws_creds(aws: AwsStandIn, user: IamUser | None = None, *, key_id: str = "", secret: str = "") -> str:
    return json.dumps({"access_key_id": user.key_id if user else key_id,
                       "secret_access_key": user.secret if user else secret, "endpoint_url": aws.endpoint_url})


def _stored(store: Store, key: bytes) -> str | None:
    encrypted = store.workspaces.secrets("sbx").cloud_credentials_encrypted
    return SecretBox(key).decrypt(encrypted) if encrypted else None


def test_aws_credentials_the_cloud_refuses_are_not_stored_unless_asked(
        trimtab: Trimtab, any_store: Store, server_key: bytes, emulator: RunningWorkspace, aws: AwsStandIn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    no_ce = iam_user(aws, "no-cost-explorer", ["ec2:DescribeInstances"])
    reader = iam_user(aws, "bill-reader", ["ce:GetCostAndUsage"])
    with enable_iam_authentication():
        # Keys AWS does not know: refused, nothing stored (not even the workspace), the secret never echoed.
        monkeypatch.setenv("TT_CREDS", _aws_creds(aws, key_id="AKIAUNKNOWN000000000", secret="very-s3cret-value"))
        code, out, err = trimtab(*_add(emulator, "aws"))
        assert code == 1, err
        assert "workspace 'sbx' not added: the aws billing API refused the cloud credentials" in err
        assert "InvalidClientTokenId" in err and REFUSED_HINT in err and "very-s3cret-value" not in out + err
        assert any_store.workspaces.list() == []

        # Keys without Cost Explorer permission: refused too, naming the permission.
        monkeypatch.setenv("TT_CREDS", _aws_creds(aws, no_ce))
        code, _, err = trimtab(*_add(emulator, "aws"))
        assert code == 1 and "not authorized to perform: ce:GetCostAndUsage" in err
        assert no_ce.secret not in err

        # Working keys: stored, said, and shown as read.
        monkeypatch.setenv("TT_CREDS", _aws_creds(aws, reader))
        code, out, err = trimtab(*_add(emulator, "aws", "--plan", "enterprise", "--region", "us-west-2"))
        assert code == 0, err
        assert "cloud billing credentials tried: the aws billing API answered a bill read" in err
        assert "bill reads:  last answered" in out and "FAILED" not in out

        # --replace with refused keys keeps everything as it was: the token, the plan, the credentials.
        before = any_store.workspaces.get("sbx")
        monkeypatch.setenv("TT_DBX_TOKEN", emulator.add_token())
        monkeypatch.setenv("TT_CREDS", _aws_creds(aws, no_ce))
        code, _, err = trimtab(*_add(emulator, "aws", "--replace", "--plan", "premium"))
        assert code == 1 and "workspace 'sbx' not updated: the aws billing API refused" in err
        assert any_store.workspaces.get("sbx") == before and _stored(any_store, server_key) == _aws_creds(aws, reader)

        # Stored anyway when asked: shown as not read yet, then failing once re-costing tried them.
        code, out, err = trimtab(*_add(emulator, "aws", "--replace", "--skip-billing-check"))
        assert code == 0, err
        assert "stored untried (--skip-billing-check)" in err
        assert _stored(any_store, server_key) == _aws_creds(aws, no_ce)
        assert any_store.workspaces.get("sbx").plan == "enterprise"  # not given: kept
        assert "bill reads:  none yet" in out


def test_set_tries_new_credentials_and_a_refusal_changes_nothing(
        trimtab: Trimtab, any_store: Store, server_key: bytes, emulator: RunningWorkspace, aws: AwsStandIn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    reader = iam_user(aws, "bill-reader", ["ce:GetCostAndUsage"])
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws")
    assert code == 0, err
    with enable_iam_authentication():
        monkeypatch.setenv("TT_CREDS", _aws_creds(aws, key_id="AKIAUNKNOWN000000000", secret="nope"))
        code, _, err = trimtab("workspace", "set", "sbx", "--cloud-credentials-env", "TT_CREDS", "--plan", "standard")
        assert code == 1 and "workspace 'sbx' not updated" in err and REFUSED_HINT in err
        ws = any_store.workspaces.get("sbx")
        assert not ws.has_cloud_credentials and ws.plan == "premium"  # the plan given with them not saved either

        monkeypatch.setenv("TT_CREDS", _aws_creds(aws, reader))
        code, out, err = trimtab("workspace", "set", "sbx", "--cloud-credentials-env", "TT_CREDS")
        assert code == 0, err
        assert "answered a bill read" in err and "bill reads:  last answered" in out
        assert _stored(any_store, server_key) == _aws_creds(aws, reader)
    code, _, err = trimtab("workspace", "set", "sbx", "--skip-billing-check")
    assert code == 2 and "--skip-billing-check goes with --cloud-credentials-env" in err


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback listener that accepts connections and never answers (a cloud endpoint timing out)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_credentials_not_answered_in_time_are_stored_with_a_warning(
        trimtab: Trimtab, any_store: Store, server_key: bytes, emulator: RunningWorkspace, silent_endpoint: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "BILLING_CHECK_TIMEOUT_S", 1.0)  # the server's deadline, shortened
    creds = json.dumps({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t-value", "endpoint_url": silent_endpoint})
    monkeypatch.setenv("TT_CREDS", creds)
    code, out, err = trimtab(*_add(emulator, "aws"))
    assert code == 0, err
    assert "warning: workspace sbx: the billing credentials were stored but not confirmed" in err
    assert "no answer" in err or "timed out" in err.lower()
    assert "s3cr3t-value" not in out + err
    assert _stored(any_store, server_key) == creds
    assert "bill reads:  FAILED" in out
    code, out, _ = trimtab("--json", "workspace", "show", "sbx")
    shown = json.loads(out)
    assert shown["bill_read_failed_at_ms"] > 0 and "bills_read_at_ms" not in shown and shown["bill_read_error"]


def test_azure_401_and_403_are_refused(trimtab: Trimtab, any_store: Store, emulator: RunningWorkspace,
                                       azure: AzureStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"subscription_id": azure.subscription_id, "access_token": azure.token, "base_url": azure.base_url,
            "ca_bundle": str(azure.cert_path)}
    monkeypatch.setenv("TT_CREDS", json.dumps({**base, "access_token": "expired-token-value"}))
    code, out, err = trimtab(*_add(emulator, "azure"))
    assert code == 1 and "the azure billing API refused the cloud credentials" in err and "AuthenticationFailed" in err
    assert "expired-token-value" not in out + err
    monkeypatch.setenv("TT_CREDS", json.dumps({**base, "subscription_id": "99999999-0000-0000-0000-000000000000"}))
    code, _, err = trimtab(*_add(emulator, "azure"))
    assert code == 1 and "AuthorizationFailed" in err and "99999999-0000-0000-0000-000000000000" in err
    assert any_store.workspaces.list() == []
    monkeypatch.setenv("TT_CREDS", json.dumps(base))
    code, out, err = trimtab(*_add(emulator, "azure"))
    assert code == 0 and "the azure billing API answered a bill read" in err


def test_show_says_a_failing_then_working_re_cost(
        trimtab: Trimtab, any_store: Store, server_key: bytes, emulator: RunningWorkspace, aws: AwsStandIn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    user = iam_user(aws, "granted-later", ["ec2:DescribeInstances"])
    monkeypatch.setenv("TT_CREDS", _aws_creds(aws, user))
    assert trimtab(*_add(emulator, "aws", "--skip-billing-check"))[0] == 0
    project = any_store.projects.add(Project(workspace="sbx", job_id=7, cluster_key="main"))
    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)])
    estimate = price_run(usage, load_catalog(), cluster_id="c-1", start_ms=T0, end_ms=T0 + HOUR, bill_source=None)
    any_store.runs.add(Run(project_id=project.id, databricks_run_id=1, cluster_id="c-1", start_ms=T0,
                           end_ms=T0 + HOUR, cost=estimate))
    clock = FakeClock(start_ms=T0 + 5 * HOUR)
    recoster = Recoster(any_store, WorkspaceBills(any_store, SecretBox(server_key)), clock)

    with enable_iam_authentication():
        report = recoster.recost_once()
        assert report.errors, report
        code, out, _ = trimtab("workspace", "show", "sbx")
        assert code == 0
        assert "bill reads:  FAILED 2025-12-06 10:46 UTC: AWS get_cost_and_usage denied (AccessDenied)" in out
        assert "last answered" not in out and "--cloud-credentials-env" in out

        with disable_iam_authentication():  # the permission is granted (by an administrator)
            allow(aws, user.name, ["ce:GetCostAndUsage"])
        clock.advance(3600)
        report = recoster.recost_once()
        assert not report.errors, report
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert "bill reads:  last answered 2025-12-06 11:46 UTC" in out and "FAILED" not in out
    ws = any_store.workspaces.get("sbx")
    assert (ws.bills_read_at_ms, ws.bill_read_failed_at_ms, ws.bill_read_error) == (T0 + 6 * HOUR, None, "")
