"""The combined emulator: OSS, STS and an OIDC issuer in one process.

``Emulator`` starts the three services on 127.0.0.1 (free ports by default), creates
one bucket, a RAM user with an AccessKey that may use it, an OIDC provider and an RRSA
role trusting the service account ``system:serviceaccount:<namespace>:<sa>``, and a
projected token file that is rotated like the kubelet rotates it.
"""

from __future__ import annotations

import logging
import shlex
import tempfile
from pathlib import Path
from typing import Any

from .admin import AdminEndpoint
from .controls import Controls
from .ecs import ECSMetadataService
from .httpserver import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServiceServer
from .iam import IAM, Role, User
from .oidc import OIDCIssuer, ProjectedTokenFile
from .oss import OSSService
from .store import DirectoryStore, MemoryStore
from .sts import STSService

logger = logging.getLogger("django_alioss.emulator")

DEFAULT_BUCKET = "alioss-emulator"
DEFAULT_REGION = "cn-hangzhou"
STS_AUDIENCE = "sts.aliyuncs.com"


def bucket_policy(bucket: str) -> dict[str, Any]:
    """A RAM policy allowing every OSS action on ``bucket`` and its objects."""
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


class Emulator:
    """Local OSS + STS + OIDC issuer; use as a context manager or call start()/stop().

    With ``port=0`` (the default) every service gets a free port; with a fixed
    ``port`` the STS, the OIDC issuer and the ECS instance metadata service (the
    ``worker_role``'s credentials) take ``port + 1``, ``port + 2`` and ``port + 3``
    unless given.
    ``data_dir`` keeps objects (and the token file) across restarts; without it objects
    live in memory and the token file in a temporary directory removed at stop.
    ``admin=True`` also serves the HTTP control endpoint under ``<endpoint>/_emulator/``.
    Every listener closes a connection idle for ``idle_timeout`` seconds (``None``:
    never) and serves at most ``max_connections`` at once (one more gets 503 and is
    closed).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, sts_port: int | None = None,
                 oidc_port: int | None = None, ecs_port: int | None = None,
                 bucket: str = DEFAULT_BUCKET,
                 region: str = DEFAULT_REGION, data_dir: str | Path | None = None,
                 admin: bool = False, namespace: str = "default",
                 service_account: str = "alioss", token_lifetime: int = 3600,
                 role_max_session_duration: int = 43200,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.host = host
        self.region = region
        self.bucket_name = bucket
        self.namespace = namespace
        self.service_account = service_account
        self.controls = Controls()
        self.iam = IAM()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.store: MemoryStore | DirectoryStore = DirectoryStore(self.data_dir / "objects")
        else:
            self.store = MemoryStore()
        if not self.store.has_bucket(bucket):
            self.store.create_bucket(bucket)

        self.issuer = OIDCIssuer(self.controls)
        self.oss = OSSService(iam=self.iam, controls=self.controls, store=self.store,
                              region=region)
        self.sts = STSService(iam=self.iam, controls=self.controls, issuers={})
        self.ecs = ECSMetadataService(self.iam, self.controls)
        sts_port = sts_port if sts_port is not None else (port + 1 if port else 0)
        oidc_port = oidc_port if oidc_port is not None else (port + 2 if port else 0)
        ecs_port = ecs_port if ecs_port is not None else (port + 3 if port else 0)
        admin_endpoint = AdminEndpoint(self) if admin else None
        limits: dict[str, Any] = {"idle_timeout": idle_timeout,
                                  "max_connections": max_connections}
        self._servers = [
            ServiceServer(self.oss, self.controls, host, port, admin=admin_endpoint, **limits),
            ServiceServer(self.sts, self.controls, host, sts_port, **limits),
            ServiceServer(self.issuer, self.controls, host, oidc_port, **limits),
            ServiceServer(self.ecs, self.controls, host, ecs_port, **limits),
        ]
        self.issuer.issuer_url = self._servers[2].url
        self.sts.issuers[self.issuer.issuer_url] = self.issuer

        self.user: User = self.iam.add_user("alioss-dev", [
            bucket_policy(bucket),
            {"Version": "1", "Statement": [
                {"Effect": "Allow", "Action": "oss:ListBuckets", "Resource": "*"},
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "acs:ram::*:role/*"},
            ]},
        ])
        self.provider = self.iam.add_oidc_provider(
            "ack-rrsa-emulator", self.issuer.issuer_url, [STS_AUDIENCE])
        self.subject = f"system:serviceaccount:{namespace}:{service_account}"
        self.role: Role = self.iam.add_role(
            "alioss-rrsa",
            rrsa_trust_policy(self.provider.arn, self.issuer.issuer_url, self.subject),
            [bucket_policy(bucket)],
            max_session_duration=role_max_session_duration,
        )
        self.ram_role: Role = self.iam.add_role(
            "alioss-app",
            {"Version": "1", "Statement": [{
                "Action": "sts:AssumeRole", "Effect": "Allow",
                "Principal": {"RAM": [f"acs:ram::{self.iam.account_id}:root"]},
            }]},
            [bucket_policy(bucket)],
            max_session_duration=role_max_session_duration,
        )
        self.worker_role: Role = self.iam.add_role(
            "alioss-worker",
            {"Version": "1", "Statement": [{
                "Action": "sts:AssumeRole", "Effect": "Allow",
                "Principal": {"Service": ["ecs.aliyuncs.com"]},
            }]},
            [bucket_policy(bucket)],
        )
        self.ecs.role = self.worker_role
        if self.data_dir is not None:
            token_dir = self.data_dir / "rrsa-tokens"
        else:
            self._tempdir = tempfile.TemporaryDirectory(prefix="alioss-emulator-")
            token_dir = Path(self._tempdir.name) / "rrsa-tokens"
        token_dir.mkdir(parents=True, exist_ok=True)
        self.token_file = ProjectedTokenFile(
            self.issuer, str(token_dir / "token"), namespace=namespace,
            service_account=service_account, audience=[STS_AUDIENCE], lifetime=token_lifetime,
        )
        self._started = False

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> Emulator:
        for server in self._servers:
            server.start()
        self.token_file.write()
        self.token_file.start()
        self._started = True
        # DEBUG: the CLI prints its own banner, and so do embedders (the demo).
        logger.debug("emulator serving %s", self.describe())
        return self

    def stop(self) -> None:
        if self._started:
            self.token_file.stop()
        for server in self._servers:
            if self._started:
                server.stop()
            else:
                server.server_close()
        self._started = False
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what clients need ----------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self._servers[0].url

    @property
    def sts_endpoint(self) -> str:
        return self._servers[1].url

    @property
    def issuer_url(self) -> str:
        return self._servers[2].url

    @property
    def ecs_metadata_url(self) -> str:
        """The ECS instance metadata service (with ``worker_role`` attached).

        Clients reach it as an HTTP proxy: ``HTTP_PROXY=<this URL>`` makes their
        requests for ``http://100.100.100.200/...`` arrive here instead.
        """
        return self._servers[3].url

    @property
    def admin_url(self) -> str | None:
        return f"{self.endpoint}/_emulator/" if self._servers[0].admin is not None else None

    @property
    def access_key_id(self) -> str:
        return self.user.access_key_id

    @property
    def access_key_secret(self) -> str:
        return self.user.access_key_secret

    @property
    def role_arn(self) -> str:
        return self.role.arn

    @property
    def ram_role_arn(self) -> str:
        return self.ram_role.arn

    @property
    def oidc_provider_arn(self) -> str:
        return self.provider.arn

    @property
    def oidc_token_file(self) -> str:
        return self.token_file.path

    def describe(self) -> str:
        """One line naming every listener: the CLI's banner."""
        return (f"OSS {self.endpoint} (bucket {self.bucket_name}), STS {self.sts_endpoint}, "
                f"OIDC issuer {self.issuer_url}, ECS metadata {self.ecs_metadata_url}")

    def env(self) -> dict[str, str]:
        """The environment a Django process needs to use this emulator (RRSA and static keys)."""
        env = {
            "ALIOSS_ENDPOINT": self.endpoint,
            "ALIOSS_BUCKET_NAME": self.bucket_name,
            "ALIOSS_REGION": self.region,
            "ALIOSS_STS_ENDPOINT": self.sts_endpoint,
            "ALIBABA_CLOUD_ROLE_ARN": self.role_arn,
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": self.oidc_provider_arn,
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE": self.oidc_token_file,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.access_key_secret,
            # Not read by django-alioss: where the other two listeners are.
            "ALIOSS_EMULATOR_OIDC_ISSUER_URL": self.issuer_url,
            "ALIOSS_EMULATOR_ECS_METADATA_URL": self.ecs_metadata_url,
        }
        if self.admin_url:
            env["ALIOSS_EMULATOR_ADMIN_URL"] = self.admin_url
        return env

    def export_lines(self) -> str:
        """``export NAME=value`` lines for ``eval "$(python -m django_alioss.emulator)"``."""
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env().items())

    def reset(self) -> None:
        """Clear faults and the request log and put the clock back (between tests)."""
        self.controls.reset()
