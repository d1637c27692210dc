"""Both cloud stand-ins plus the billing observer, started together by `trimtab sandbox up --clouds`
(sandbox/clouds/up.py) and the end-to-end tests. `trimtab demo` does not start them: its runs are
priced from the catalog alone.

    stack = CloudStack.start(instance_rate, storage_rate, delay_s=0).attach(workspace)
    ... trimtab workspace add ... with stack.credentials_json("aws")  (or "azure")
    stack.stop()

The credentials JSON is what a workspace stores for bill reconciliation; it
points Trimtab's real boto3 / Azure clients at the local stand-ins.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.clouds.aws import DUMMY_KEY, AwsStandIn
from sandbox.clouds.azure import AzureStandIn
from sandbox.clouds.billing import CloudBilling, InstanceRate, ProvisionedRate, StorageRate


@dataclass
class CloudStack:
    aws: AwsStandIn
    azure: AzureStandIn
    billing: CloudBilling

    @classmethod
    def start(cls, instance_rate: InstanceRate, storage_rate: StorageRate, *, region: str = "us-east-1",
              delay_s: float = 0.0, now: Callable[[], float] = time.time,
              provisioned_rate: ProvisionedRate | None = None) -> CloudStack:
        aws = AwsStandIn(region=region).start()
        try:
            azure = AzureStandIn().start()
        except Exception:
            aws.stop()
            raise
        billing = CloudBilling(aws=aws, azure=azure, instance_rate=instance_rate, storage_rate=storage_rate,
                               region=region, delay_s=delay_s, now=now, provisioned_rate=provisioned_rate)
        return cls(aws, azure, billing)

    def attach(self, workspace: Any) -> CloudStack:
        """Registers the billing observer with a sandbox ``Workspace`` (or ``RunningWorkspace``)."""
        self.billing.attach(workspace)
        return self

    def credentials_json(self, cloud: str) -> str:
        if cloud == "aws":
            return json.dumps({"access_key_id": DUMMY_KEY, "secret_access_key": DUMMY_KEY,
                               "region": self.aws.region, "endpoint_url": self.aws.endpoint_url})
        if cloud == "azure":
            return json.dumps({"subscription_id": self.azure.subscription_id, "access_token": self.azure.token,
                               "base_url": self.azure.base_url, "ca_bundle": str(self.azure.cert_path)})
        raise ValueError(f"cloud must be aws or azure, not {cloud!r}")

    def stop(self) -> None:
        self.azure.stop()
        self.aws.stop()
