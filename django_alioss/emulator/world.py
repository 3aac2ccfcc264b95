"""The account an :class:`~.emulator.Emulator` starts with: a RAM user with an AccessKey,
an OIDC provider, and the roles that may use the bucket (RRSA, AssumeRole, ECS worker).

Nothing here needs PyJWT or cryptography: the CLI builds its parser from these defaults
before the emulator (and its ``emulator`` extra) is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .iam import IAM, OIDCProvider, Role, User

DEFAULT_BUCKET = "alioss-emulator"
DEFAULT_REGION = "cn-hangzhou"
STS_AUDIENCE = "sts.aliyuncs.com"


def bucket_policy(bucket: str) -> dict[str, Any]:
    """A RAM policy allowing every OSS action on ``bucket`` and its objects (``"*"``: on
    every bucket of the account, creating and deleting buckets included)."""
    return {
        "Version": "1",
        "Statement": [{
            "Effect": "Allow",
            "Action": "oss:*",
            "Resource": [f"acs:oss:*:*:{bucket}", f"acs:oss:*:*:{bucket}/*"],
        }],
    }


def rrsa_trust_policy(provider_arn: str, issuer_url: str, subject: str) -> dict[str, Any]:
    """The trust policy ACK's console writes for an RRSA role (StringEquals on iss/aud/sub)."""
    return {
        "Version": "1",
        "Statement": [{
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Federated": [provider_arn]},
            "Condition": {"StringEquals": {
                "oidc:aud": STS_AUDIENCE,
                "oidc:iss": issuer_url,
                "oidc:sub": subject,
            }},
        }],
    }


def _trusting(principal: dict[str, list[str]]) -> dict[str, Any]:
    return {"Version": "1", "Statement": [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": principal}]}


@dataclass(frozen=True)
class World:
    """What :func:`seed_world` created."""

    user: User  # static AccessKey: the bucket, ListBuckets, sts:AssumeRole
    provider: OIDCProvider  # the RRSA OIDC provider (the emulated issuer)
    subject: str  # system:serviceaccount:<namespace>:<service account>
    role: Role  # RRSA: trusts the provider for that subject
    ram_role: Role  # AssumeRole: trusts the account
    worker_role: Role  # the ECS instance's role


def seed_world(iam: IAM, bucket: str, issuer_url: str, *, namespace: str,
               service_account: str, role_max_session_duration: int,
               account_wide: bool = False) -> World:
    """Create the emulator's user, OIDC provider and roles in ``iam``. They may use
    ``bucket``; with ``account_wide``, every bucket of the account (the user may then
    create and delete buckets: PutBucket, DeleteBucket)."""
    scope = "*" if account_wide else bucket
    user = iam.add_user("alioss-dev", [
        bucket_policy(scope),
        {"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": "oss:ListBuckets", "Resource": "*"},
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "acs:ram::*:role/*"},
        ]},
    ])
    provider = iam.add_oidc_provider("ack-rrsa-emulator", issuer_url, [STS_AUDIENCE])
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    role = iam.add_role("alioss-rrsa", rrsa_trust_policy(provider.arn, issuer_url, subject),
                        [bucket_policy(scope)],
                        max_session_duration=role_max_session_duration)
    ram_role = iam.add_role("alioss-app",
                            _trusting({"RAM": [f"acs:ram::{iam.account_id}:root"]}),
                            [bucket_policy(scope)],
                            max_session_duration=role_max_session_duration)
    worker_role = iam.add_role("alioss-worker", _trusting({"Service": ["ecs.aliyuncs.com"]}),
                               [bucket_policy(scope)])
    return World(user, provider, subject, role, ram_role, worker_role)
