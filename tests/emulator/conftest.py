"""Fixtures for the OSS emulator tests: an account, a store and OSS on 127.0.0.1.

``oss`` (per test, on a module-wide server) gives an :class:`OSSEnv`; tests reach the
service with the real oss2 SDK (``env.bucket()``) or raw ``requests`` (``env.http``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import oss2
import pytest
import requests

from django_alioss.emulator.controls import Controls
from django_alioss.emulator.httpserver import ServiceServer
from django_alioss.emulator.iam import IAM, Role, Session, User
from django_alioss.emulator.oss import MAX_OBJECT_SIZE, OSSService
from django_alioss.emulator.store import MIN_PART_SIZE, MemoryStore, Store

REGION = "cn-hangzhou"
BUCKET = "test-bucket"
ALLOW_ALL_OSS = {"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": ["oss:*"], "Resource": ["*"]}]}


def _session(pool_size: int = 40) -> oss2.Session:
    session = oss2.Session(pool_size=pool_size)
    session.session.trust_env = False  # never route 127.0.0.1 through a proxy from the env
    return session


@dataclass
class OSSEnv:
    """One running OSS emulator plus an admin user allowed ``oss:*``."""

    controls: Controls
    iam: IAM
    store: Store
    service: OSSService
    server: ServiceServer
    admin: User
    bucket_name: str = BUCKET
    session: oss2.Session = field(default_factory=_session)
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.trust_env = False

    @property
    def endpoint(self) -> str:
        return self.server.url

    def auth(self, user: User | None = None, version: str = "v1") -> Any:
        user = user or self.admin
        if version == "v4":
            return oss2.AuthV4(user.access_key_id, user.access_key_secret)
        return oss2.Auth(user.access_key_id, user.access_key_secret)

    def bucket(self, auth: Any = None, name: str | None = None, **options: Any) -> oss2.Bucket:
        """An oss2 Bucket on this emulator (V1 admin auth unless ``auth`` is given)."""
        options.setdefault("session", self.session)
        options.setdefault("region", REGION)
        return oss2.Bucket(auth or self.auth(), self.endpoint, name or self.bucket_name,
                           **options)

    def service_client(self, auth: Any = None) -> oss2.Service:
        return oss2.Service(auth or self.auth(), self.endpoint, session=self.session,
                            region=REGION)

    def role(self, name: str, policies: list[dict[str, Any]]) -> Role:
        trust = {"Version": "1", "Statement": [{
            "Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"RAM": [f"acs:ram::{self.iam.account_id}:root"]}}]}
        return self.iam.add_role(name, trust, policies)

    def session_for(self, role: Role, lifetime: float = 3600) -> Session:
        return self.iam.issue_session(role, "s", expiration=self.controls.clock.now() + lifetime)

    def sts_auth(self, session: Session, version: str = "v1") -> oss2.StsAuth:
        return oss2.StsAuth(session.access_key_id, session.access_key_secret,
                            session.security_token,
                            auth_version=oss2.AUTH_VERSION_4 if version == "v4"
                            else oss2.AUTH_VERSION_1)

    def stop(self) -> None:
        self.server.stop()
        self.http.close()


def start_oss(store: Store | None = None, *, bucket: str | None = BUCKET,
              iam: IAM | None = None, admin: User | None = None) -> OSSEnv:
    """Start an OSS emulator on 127.0.0.1:0 (the caller stops it with ``env.stop()``)."""
    controls = Controls()
    iam = iam or IAM()
    store = store if store is not None else MemoryStore()
    if bucket and not store.has_bucket(bucket):
        store.create_bucket(bucket)
    admin = admin or iam.add_user("admin", [ALLOW_ALL_OSS])
    service = OSSService(iam=iam, controls=controls, store=store, region=REGION)
    server = ServiceServer(service, controls, "127.0.0.1", 0)
    server.start()
    return OSSEnv(controls, iam, store, service, server, admin, bucket or BUCKET)


@pytest.fixture(scope="module")
def oss_env() -> Iterator[OSSEnv]:
    env = start_oss()
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture
def oss(oss_env: OSSEnv) -> Iterator[OSSEnv]:
    """The module's emulator, with clock, faults, limits and CNAMEs reset after the test."""
    yield oss_env
    oss_env.controls.reset()
    oss_env.service.cname_domains.clear()
    oss_env.service.endpoint_hosts.clear()
    oss_env.service.max_object_size = MAX_OBJECT_SIZE
    oss_env.service.min_part_size = MIN_PART_SIZE


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}/"
