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
from typing import Any

from server.clouds.aws import AwsCredentials, AwsGateway
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import AwsBill, AzureBill, BillSource
from server.errors import InvalidArgument

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
