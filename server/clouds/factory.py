"""A workspace's stored cloud credentials (JSON) -> the bill source that reconciles its runs.

Accepted JSON (``trimtab workspace add ... `` stores it encrypted):

- AWS: ``{"access_key_id", "secret_access_key", "session_token"?, "region"?, "endpoint_url"?}``
- Azure: ``{"subscription_id", "resource_group"?, and either "access_token" or
  "tenant_id" + "client_id" + "client_secret", "base_url"?, "ca_bundle"?}``

``endpoint_url``/``base_url``/``ca_bundle`` point at the sandbox's stand-ins.
Unknown keys are refused so a typo never silently drops a setting.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from server.clouds.aws import AwsCredentials, AwsGateway
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import AwsBill, AzureBill, BillSource
from server.errors import FailedPrecondition, InvalidArgument, TrimtabError

AWS_KEYS = {"access_key_id": True, "secret_access_key": True, "session_token": False, "region": False,
            "endpoint_url": False}
AZURE_KEYS = {"subscription_id": True, "resource_group": False, "tenant_id": False, "client_id": False,
              "client_secret": False, "access_token": False, "base_url": False, "ca_bundle": False}


def _check(cloud: str, data: Any, keys: dict[str, bool]) -> dict[str, str]:
    if not isinstance(data, dict):
        raise InvalidArgument(f"{cloud} cloud credentials: expected a JSON object")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise InvalidArgument(f"{cloud} cloud credentials: unknown keys {', '.join(unknown)} "
                              f"(known: {', '.join(keys)})")
    missing = [k for k, required in keys.items() if required and not data.get(k)]
    if missing:
        raise InvalidArgument(f"{cloud} cloud credentials: missing {', '.join(missing)}")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise InvalidArgument(f"{cloud} cloud credentials: {', '.join(bad)} must be strings")
    return data


def parse_cloud_credentials(cloud: str, text: str) -> AwsCredentials | AzureCredentials:
    """Validates stored credentials; raises InvalidArgument naming what is wrong (never echoing secrets)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{cloud} cloud credentials: not valid JSON ({exc.msg})") from None
    except (RecursionError, ValueError):
        # Nesting deeper than the parser's recursion limit (RecursionError), or a number too long to
        # convert (ValueError): not credentials either way, and never a server failure.
        raise InvalidArgument(f"{cloud} cloud credentials: not valid JSON (nested too deeply or a value "
                              "too large)") from None
    if cloud == "aws":
        return AwsCredentials(**_check("aws", data, AWS_KEYS))
    if cloud == "azure":
        creds = AzureCredentials(**_check("azure", data, AZURE_KEYS))
        if not creds.access_token and not (creds.tenant_id and creds.client_id and creds.client_secret):
            raise InvalidArgument("azure cloud credentials: need access_token, or tenant_id, client_id and "
                                  "client_secret")
        return creds
    raise InvalidArgument(f"cloud must be aws or azure, not {cloud!r}")


def bill_source(cloud: str, credentials_json: str | None) -> BillSource | None:
    """The workspace's bill source, or None without credentials (runs then keep the catalog estimate)."""
    if not credentials_json:
        return None
    creds = parse_cloud_credentials(cloud, credentials_json)
    if isinstance(creds, AwsCredentials):
        return AwsBill(AwsGateway(creds))
    return AzureBill(AzureCostGateway(creds))


# A person waits on `workspace add`/`set`: one try, bounded, whatever the SDKs' own timeouts do
# (a DNS lookup that hangs is outside them).
BILLING_CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BillingCheck:
    """What one bill read with new credentials said: ``ok``; else ``refused`` (the cloud answered
    that the credentials, their scope or their permissions are wrong: no retry mends that) or not
    (no answer in time, a network error, a 5xx: it may pass), and ``why``, with no secret in it."""

    ok: bool
    refused: bool = False
    why: str = ""


def check_billing_credentials(cloud: str, text: str, *, now_ms: int, timeout_s: float | None = None) -> BillingCheck:
    """Try ``text`` (validated JSON credentials) with one cheap bill read of the query re-costing
    sends, within ``timeout_s`` (`BILLING_CHECK_TIMEOUT_S` when None). Never raises for what the cloud answered."""
    if timeout_s is None:
        timeout_s = BILLING_CHECK_TIMEOUT_S
    creds = parse_cloud_credentials(cloud, text)
    outcome: list[BillingCheck] = []

    def attempt() -> None:
        try:
            if isinstance(creds, AwsCredentials):
                AwsGateway(creds, max_attempts=1, timeout_s=timeout_s).check_cost_read(now_ms)
            else:
                AzureCostGateway(creds).check_cost_read(now_ms, timeout_s)
        except FailedPrecondition as exc:
            outcome.append(BillingCheck(False, refused=True, why=_without_secrets(exc.message, creds)))
        except Exception as exc:  # noqa: BLE001 - whatever else failed, the check could not tell
            why = exc.message if isinstance(exc, TrimtabError) else f"{type(exc).__name__}: {exc}"
            outcome.append(BillingCheck(False, why=_without_secrets(why, creds)))
        else:
            outcome.append(BillingCheck(True))

    # A thread of its own, so the deadline holds even where the SDK's timeouts do not reach; one still
    # waiting past it ends by itself (daemon) and its outcome is dropped.
    thread = threading.Thread(target=attempt, name="trimtab-billing-check", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        return BillingCheck(False, why=f"no answer from the {cloud} billing API within {timeout_s:g} s")
    return outcome[0]


# The longest reason kept: an SDK may put a whole response body in its message.
MAX_WHY_CHARS = 400


def _without_secrets(message: str, creds: AwsCredentials | AzureCredentials) -> str:
    """``message`` with every secret of ``creds`` taken out (an error may quote what was sent), cut short."""
    secrets = ([creds.secret_access_key, creds.session_token] if isinstance(creds, AwsCredentials)
               else [creds.client_secret, creds.access_token])
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = " ".join(message.split())
    return message if len(message) <= MAX_WHY_CHARS else message[:MAX_WHY_CHARS - 3] + "..."
