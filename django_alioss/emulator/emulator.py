"""The combined emulator: OSS, STS, an OIDC issuer and ECS instance metadata in one process
(and, when asked, a CDN edge with URL authentication in front of the bucket).

``Emulator`` starts the four services on 127.0.0.1 (free ports by default), creates
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
from .cdn import DEFAULT_TTL, CDNAuth, CDNEdge
from .controls import Controls
from .ecs import ECSMetadataService
from .httpserver import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Service, ServiceServer
from .iam import IAM, Role, User
from .oidc import OIDCIssuer, ProjectedTokenFile
from .oss import OSSService
from .store import DirectoryStore, MemoryStore
from .sts import STSService
from .world import (
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    STS_AUDIENCE,
    bucket_policy,
    rrsa_trust_policy,
    seed_world,
)

logger = logging.getLogger("django_alioss.emulator")

__all__ = ["DEFAULT_BUCKET", "DEFAULT_REGION", "STS_AUDIENCE", "Emulator", "bucket_policy",
           "rrsa_trust_policy"]


def _next(port: int, offset: int, given: int | None) -> int:
    """A listener's port: ``given``, else ``port + offset`` (0, a free one, for port 0)."""
    if given is not None:
        return given
    return port + offset if port else 0


class Emulator:
    """Local OSS + STS + OIDC issuer + ECS metadata; a context manager, or start()/stop().

    With ``port=0`` (the default) every service gets a free port; with a fixed
    ``port`` the STS, the OIDC issuer and the ECS instance metadata service (the
    ``worker_role``'s credentials) take ``port + 1``, ``port + 2`` and ``port + 3``
    unless given.
    ``data_dir`` keeps objects (and the token file) across restarts; without it objects
    live in memory and the token file in a temporary directory removed at stop.
    ``admin=True`` also serves the HTTP control endpoint under ``<endpoint>/_emulator/``.
    Every listener closes a connection idle for ``idle_timeout`` seconds (``None``:
    never) and serves at most ``max_connections`` at once (one more gets 503 and is
    closed). ``account_wide=True`` lets the seeded user and roles use every bucket of
    the account, and the user create and delete buckets (suites that PutBucket, such as
    oss2's own tests); by default they may use ``bucket`` only.
    ``cdn_auth_type`` (``"A"``, ``"B"`` or ``"C"``, with ``cdn_auth_key`` and
    ``cdn_auth_ttl``) also starts a CDN edge serving the bucket on ``cdn_port`` (default
    ``port + 4``) that checks CDN URL authentication (:mod:`.cdn`): see :attr:`cdn_url`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, sts_port: int | None = None,
                 oidc_port: int | None = None, ecs_port: int | None = None,
                 bucket: str = DEFAULT_BUCKET,
                 region: str = DEFAULT_REGION, data_dir: str | Path | None = None,
                 admin: bool = False, namespace: str = "default",
                 service_account: str = "alioss", token_lifetime: int = 3600,
                 role_max_session_duration: int = 43200,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 account_wide: bool = False,
                 cdn_auth_type: str | None = None, cdn_auth_key: str | None = None,
                 cdn_auth_ttl: int = DEFAULT_TTL, cdn_port: int | None = None) -> None:
        self.host = host
        self.region = region
        self.bucket_name = bucket
        self.namespace = namespace
        self.service_account = service_account
        self.account_wide = account_wide
        self.controls = Controls()
        self.iam = IAM()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.store = self._open_store(bucket)
        self.issuer = OIDCIssuer(self.controls)
        self.oss = OSSService(iam=self.iam, controls=self.controls, store=self.store,
                              region=region)
        self.sts = STSService(iam=self.iam, controls=self.controls, issuers={})
        self.ecs = ECSMetadataService(self.iam, self.controls)
        self.cdn: CDNEdge | None = None
        if cdn_auth_type is not None:
            self.cdn = CDNEdge(self.oss, self.controls, bucket,
                               CDNAuth(cdn_auth_type, cdn_auth_key or "", cdn_auth_ttl))
        self._servers = self._listen(
            host, [port, _next(port, 1, sts_port), _next(port, 2, oidc_port),
                   _next(port, 3, ecs_port), _next(port, 4, cdn_port)],
            admin=AdminEndpoint(self) if admin else None,
            idle_timeout=idle_timeout, max_connections=max_connections)
        self.issuer.issuer_url = self._servers[2].url
        self.sts.issuers[self.issuer.issuer_url] = self.issuer

        world = seed_world(self.iam, bucket, self.issuer.issuer_url, namespace=namespace,
                           service_account=service_account,
                           role_max_session_duration=role_max_session_duration,
                           account_wide=account_wide)
        self.user: User = world.user
        self.provider = world.provider
        self.subject = world.subject
        self.role: Role = world.role
        self.ram_role: Role = world.ram_role
        self.worker_role: Role = world.worker_role
        self.ecs.role = self.worker_role
        self.token_file = ProjectedTokenFile(
            self.issuer, str(self._token_dir() / "token"), namespace=namespace,
            service_account=service_account, audience=[STS_AUDIENCE], lifetime=token_lifetime,
        )
        self._started = False

    def _open_store(self, bucket: str) -> MemoryStore | DirectoryStore:
        """Objects under ``data_dir`` (kept across restarts) or in memory; ``bucket`` exists."""
        store: MemoryStore | DirectoryStore
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            store = DirectoryStore(self.data_dir / "objects")
        else:
            store = MemoryStore()
        if not store.has_bucket(bucket):
            store.create_bucket(bucket)
        return store

    def _listen(self, host: str, ports: list[int], admin: AdminEndpoint | None,
                **limits: Any) -> list[ServiceServer]:
        """Bind OSS (with the admin endpoint), STS, the issuer, ECS metadata and the CDN
        edge (if any), in order."""
        services: list[Service] = [self.oss, self.sts, self.issuer, self.ecs]
        if self.cdn is not None:
            services.append(self.cdn)
        servers: list[ServiceServer] = []
        try:
            for service, port in zip(services, ports, strict=False):
                servers.append(ServiceServer(service, self.controls, host, port,
                                             admin=admin if service is self.oss else None,
                                             **limits))
        except BaseException:
            for server in servers:  # a port in use: free the ones already bound
                server.server_close()
            raise
        return servers

    def _token_dir(self) -> Path:
        """``<data_dir>/rrsa-tokens``, or one in a temporary directory removed at stop."""
        if self.data_dir is not None:
            token_dir = self.data_dir / "rrsa-tokens"
        else:
            self._tempdir = tempfile.TemporaryDirectory(prefix="alioss-emulator-")
            token_dir = Path(self._tempdir.name) / "rrsa-tokens"
        token_dir.mkdir(parents=True, exist_ok=True)
        return token_dir

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
    def cdn_url(self) -> str | None:
        """The CDN edge (``None`` without ``cdn_auth_type``): a storage reaches it with
        :meth:`cdn_options`."""
        return self._servers[4].url if self.cdn is not None else None

    def cdn_options(self) -> dict[str, object]:
        """Storage options whose URLs go through the CDN edge, signed for it:
        ``custom_domain``, ``url_protocol`` and ``cdn_auth_*`` (the edge's current
        settings). ``ValueError`` when the emulator has no CDN edge."""
        if self.cdn is None or self.cdn_url is None:
            raise ValueError("this emulator has no CDN edge: pass cdn_auth_type=...")
        auth = self.cdn.auth
        return {"custom_domain": self.cdn_url.removeprefix("http://"), "url_protocol": "http:",
                "cdn_auth_type": auth.auth_type, "cdn_auth_key": auth.key,
                "cdn_auth_ttl": auth.ttl}

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
        buckets = "every bucket of the account" if self.account_wide else "bucket"
        text = (f"OSS {self.endpoint} ({buckets} {self.bucket_name}), STS {self.sts_endpoint}, "
                f"OIDC issuer {self.issuer_url}, ECS metadata {self.ecs_metadata_url}")
        if self.cdn is not None:
            text += f", CDN edge {self.cdn_url} (URL authentication type {self.cdn.auth.auth_type})"
        return text

    def env(self, static_keys: bool = True) -> dict[str, str]:
        """The environment a Django process needs to use this emulator: RRSA and (unless
        ``static_keys`` is false) the RAM user's static AccessKey."""
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
            # A role the RAM user may AssumeRole into (ram_role_arn, the STS SDK), and the
            # account (the owner id OSS reports).
            "ALIOSS_EMULATOR_RAM_ROLE_ARN": self.ram_role_arn,
            "ALIOSS_EMULATOR_ACCOUNT_ID": self.iam.account_id,
        }
        if self.admin_url:
            env["ALIOSS_EMULATOR_ADMIN_URL"] = self.admin_url
        if self.cdn_url:
            env["ALIOSS_EMULATOR_CDN_URL"] = self.cdn_url
        if not static_keys:
            del env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
        return env

    def export_lines(self, static_keys: bool = True) -> str:
        """``export NAME=value`` lines for ``eval "$(python -m django_alioss.emulator)"``
        (without the static AccessKey when ``static_keys`` is false)."""
        return "".join(f"export {k}={shlex.quote(v)}\n"
                       for k, v in self.env(static_keys).items())

    def reset(self) -> None:
        """Clear faults and the request log and put the clock back (between tests)."""
        self.controls.reset()
