"""IAM users on the moto stand-in, for tests that turn moto's IAM checks on (`enable_iam_authentication`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sandbox.clouds.aws import AwsStandIn


@dataclass(frozen=True)
class IamUser:
    name: str
    key_id: str
    secret: str


def iam_user(stand_in: AwsStandIn, user: str, actions: list[str]) -> IamUser:
    """A new IAM user (``user`` and a unique suffix: moto's IAM is one per process) allowed ``actions``
    and nothing else, with an access key. Call with moto's IAM checks off (its default)."""
    name = f"{user}-{uuid.uuid4().hex[:8]}"
    iam = stand_in.client("iam")
    iam.create_user(UserName=name)
    allow(stand_in, name, actions)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return IamUser(name, key["AccessKeyId"], key["SecretAccessKey"])


def allow(stand_in: AwsStandIn, user: str, actions: list[str]) -> None:
    """Set ``user``'s one policy to allow ``actions`` (again later: a permission granted since)."""
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    stand_in.client("iam").put_user_policy(UserName=user, PolicyName="trimtab-test",
                                           PolicyDocument=json.dumps(policy))
