"""The one gateway around boto3: a cluster's EC2 instances, EBS volumes and Cost Explorer bill.

Databricks tags every instance and volume of a cluster with ``Vendor=Databricks``
and ``ClusterId=<id>``; that tag is how we find them. Every describe call is
paginated, and filters listing instance ids are cut into chunks because EC2
rejects more than 200 filter values in one call (large clusters broke other
tools exactly there). Cost Explorer is asked for the cluster's days grouped by
the ``ClusterId`` tag and by usage type, so compute (``BoxUsage``/``SpotUsage``)
and storage (``EBS:``) can be told apart; its raw pages are returned as they
came and parsed by ``server.costing.reconcile``. The amounts are ``AmortizedCost``, without
the charge types that are the account's and not what the cluster consumed (``NOT_CONSUMED``).

Cost Explorer only groups and filters by tags activated as cost allocation tags
(Billing console > Cost allocation tags: ``ClusterId``; activation is not
retroactive and takes up to 24 h). Each ``GetCostAndUsage`` request (each page)
costs $0.01.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from server.costing.reconcile import AWS_COST_METRIC
from server.errors import FailedPrecondition, Unavailable

# EC2 allows at most 200 values per filter; stay below it.
FILTER_CHUNK = 199
# Error codes that say the credentials or their permissions are wrong, whatever the call: a definite
# answer, never worth a retry (Cost Explorer is a JSON API: a bad key id is UnrecognizedClientException,
# a bad secret InvalidSignatureException; the query APIs and moto say InvalidClientTokenId and
# SignatureDoesNotMatch).
DENIED_CODES = frozenset({
    "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure", "UnrecognizedClientException",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException", "ExpiredToken",
    "ExpiredTokenException", "InvalidAccessKeyId", "MissingAuthenticationToken", "IncompleteSignature",
})
# The placeholder cluster the billing check asks about: its answer is empty, the permissions it needs
# are exactly those of a real bill read.
CHECK_CLUSTER_ID = "trimtab-billing-check"


@dataclass(frozen=True)
class AwsCredentials:
    """A workspace's AWS access. ``endpoint_url`` points at a stand-in (moto) in tests and the demo."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    endpoint_url: str | None = None


@dataclass(frozen=True)
class CloudInstance:
    instance_id: str
    instance_type: str
    spot: bool
    state: str
    launch_time_ms: int
    private_ip: str
    tags: dict[str, str]


@dataclass(frozen=True)
class CloudVolume:
    volume_id: str
    volume_type: str
    size_gb: int
    iops: int | None
    throughput: int | None
    instance_id: str
    tags: dict[str, str]


def _tags(items: Sequence[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or ()}


def _chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield list(values[i:i + size])


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


# Cost Explorer's RECORD_TYPE values (the console's "Charge type") left out of a cluster's bill:
# credits, refunds and EDP discount lines lower what the account pays, not what the cluster's
# resources cost, and configurations are compared on what they consume (a 30% credit read the run
# 30% cheaper, and the models learned its configuration so). Tax is not in the catalog's list prices
# (nor in Azure's PreTaxCost). Kept: Usage, DiscountedUsage (Reserved Instance hours) and
# SavingsPlanCoveredUsage, which carry their share of the commitment under AmortizedCost, and the
# Savings Plan negation lines (0 amortized) and fees, which are never tagged with a cluster.
NOT_CONSUMED = ("Credit", "Refund", "Enterprise Discount Program Discount", "Tax")


def cost_query(cluster_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The Cost Explorer request for one cluster's days (End is exclusive, so one day past the end)."""
    end_day = (datetime.fromtimestamp(end_ms / 1000, tz=UTC).date() + timedelta(days=1)).isoformat()
    return {
        "TimePeriod": {"Start": _day(start_ms), "End": end_day},
        "Granularity": "DAILY",
        # Amortized: RI- and Savings-Plan-covered hours carry their share of the commitment instead
        # of ~0 (see server.costing.reconcile for why not NetAmortizedCost).
        "Metrics": [AWS_COST_METRIC],
        # The cluster's lines AND not the charge types above (a Not inside an And: Cost Explorer's
        # compound Expression; a dimension's values match any of them).
        "Filter": {"And": [
            {"Tags": {"Key": "ClusterId", "Values": [cluster_id], "MatchOptions": ["EQUALS"]}},
            {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": list(NOT_CONSUMED)}}},
        ]},
        "GroupBy": [{"Type": "TAG", "Key": "ClusterId"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }


class AwsGateway:
    """Read-only calls a workspace's IAM role needs: ec2:DescribeInstances, ec2:DescribeVolumes, ce:GetCostAndUsage."""

    def __init__(self, credentials: AwsCredentials, *, page_size: int = 200, chunk_size: int = FILTER_CHUNK,
                 max_attempts: int = 3, timeout_s: float | None = None) -> None:
        """``timeout_s``: the connect and read timeout of each attempt (botocore's 60 s when None)."""
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            region_name=credentials.region,
        )
        timeouts = {} if timeout_s is None else {"connect_timeout": timeout_s, "read_timeout": timeout_s}
        config = BotoConfig(retries={"max_attempts": max_attempts, "mode": "standard"}, **timeouts)
        self._ec2 = session.client("ec2", endpoint_url=credentials.endpoint_url, config=config)
        # Cost Explorer has one global endpoint in us-east-1.
        self._ce = session.client("ce", region_name="us-east-1", endpoint_url=credentials.endpoint_url, config=config)
        self._page_size = page_size
        self._chunk_size = min(chunk_size, FILTER_CHUNK)

    def cluster_instances(self, cluster_id: str) -> list[CloudInstance]:
        """Every instance tagged with the cluster's id, whatever its state (terminated ones stay visible a while)."""
        filters = [{"Name": "tag:ClusterId", "Values": [cluster_id]}, {"Name": "tag:Vendor", "Values": ["Databricks"]}]
        out: list[CloudInstance] = []
        for page in self._pages(self._ec2, "describe_instances", Filters=filters):
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    out.append(CloudInstance(
                        instance_id=inst["InstanceId"],
                        instance_type=inst.get("InstanceType", ""),
                        spot=inst.get("InstanceLifecycle") == "spot",
                        state=inst.get("State", {}).get("Name", ""),
                        launch_time_ms=int(inst["LaunchTime"].timestamp() * 1000) if "LaunchTime" in inst else 0,
                        private_ip=inst.get("PrivateIpAddress", ""),
                        tags=_tags(inst.get("Tags")),
                    ))
        return out

    def cluster_volumes(self, cluster_id: str, instance_ids: Sequence[str]) -> list[CloudVolume]:
        """The cluster's tagged volumes attached to ``instance_ids`` (ids sent in chunks below EC2's limit)."""
        out: dict[str, CloudVolume] = {}
        for chunk in _chunks(sorted(set(instance_ids)), self._chunk_size):
            filters = [{"Name": "attachment.instance-id", "Values": chunk},
                       {"Name": "tag:ClusterId", "Values": [cluster_id]}]
            for page in self._pages(self._ec2, "describe_volumes", Filters=filters):
                for vol in page.get("Volumes", []):
                    attachments = vol.get("Attachments") or [{}]
                    out[vol["VolumeId"]] = CloudVolume(
                        volume_id=vol["VolumeId"],
                        volume_type=vol.get("VolumeType", ""),
                        size_gb=int(vol.get("Size", 0)),
                        iops=vol.get("Iops"),
                        throughput=vol.get("Throughput"),
                        instance_id=attachments[0].get("InstanceId", ""),
                        tags=_tags(vol.get("Tags")),
                    )
        return list(out.values())

    def cluster_cost_pages(self, cluster_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Raw Cost Explorer pages for the cluster's days, following NextPageToken."""
        request = cost_query(cluster_id, start_ms, end_ms)
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs = dict(request, NextPageToken=token) if token else request
            page = self._call(self._ce, "get_cost_and_usage", **kwargs)
            page.pop("ResponseMetadata", None)
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                return pages

    def check_cost_read(self, now_ms: int) -> None:
        """One Cost Explorer page of the query a bill read sends (yesterday, a placeholder cluster):
        the credentials and ce:GetCostAndUsage tried at once. Costs one request ($0.01). Raises
        `FailedPrecondition` when AWS refuses them, `Unavailable` when it cannot tell."""
        day_ms = now_ms - 86_400_000
        self._call(self._ce, "get_cost_and_usage", **cost_query(CHECK_CLUSTER_ID, day_ms, day_ms))

    # ----------------------------------------------------------------- plumbing
    def _pages(self, client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = client.get_paginator(operation)
        try:
            yield from paginator.paginate(PaginationConfig={"PageSize": self._page_size}, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(operation, exc) from exc

    @staticmethod
    def _call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(client, operation)(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(operation, exc) from exc


def _translate(operation: str, exc: Exception) -> Exception:
    if isinstance(exc, NoCredentialsError):
        return FailedPrecondition(f"AWS {operation}: no AWS credentials")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if (xml := _XML_ERROR.search(message)) is not None:
            # An XML error body where JSON was expected (a proxy, or moto's IAM check in front of Cost
            # Explorer): botocore gives up on it and the code is the HTTP status; its Code and Message say it.
            code, message = xml.group(1), xml.group(2)
        if code in DENIED_CODES or status in (401, 403):
            return FailedPrecondition(f"AWS {operation} denied ({code}): {message}")
        return Unavailable(f"AWS {operation} failed ({code or 'error'}): {message}")
    return Unavailable(f"AWS {operation} failed: {exc}")


_XML_ERROR = re.compile(r"<Code>([^<]*)</Code>\s*<Message>([^<]*)</Message>", re.S)


def default_credentials() -> AwsCredentials | None:
    """Credentials from boto3's usual chain (environment, profile, instance role), or None when there are none."""
    session = boto3.session.Session()
    creds = session.get_credentials()
    if creds is None:
        return None
    frozen = creds.get_frozen_credentials()
    return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token, session.region_name or "us-east-1")
