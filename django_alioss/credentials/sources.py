"""Where refreshable credentials come from: each source's ``fetch()`` makes one real call.

- :class:`OIDCSource`: RRSA, AssumeRoleWithOIDC with the projected token file (re-read
  at every fetch).
- :class:`AssumeRoleSource`: ``ram_role_arn``, AssumeRole signed with an AccessKey.
- :class:`EcsRoleSource`: ``ecs_ram_role``, the worker's RAM role from instance metadata.
- :class:`CallableSource`: a user callable (or an object's ``get_credentials``).
- :class:`ChainSource`: the SDK's default chain, built from the given environment.

Sources hold no cache and no lock: :class:`~.providers.RefreshingProvider` decides when
to fetch. ``details()`` is non-secret configuration for diagnostics; ``secrets()`` lists
the secret values a source knows so that error messages can be scrubbed of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..redaction import mask_key_id
from .environment import ENV_ECS_METADATA, ENV_IMDSV1_DISABLED, env_flag
from .errors import CredentialsUnavailable
from .sdk import Timeouts, describe_error, fetch_once, http_options, sdk_providers
from .snapshot import Snapshot, snapshot_from


class Source:
    """A refreshable origin of credentials; ``fetch()`` performs one real call."""

    name = "custom"

    def fetch(self) -> Snapshot:
        raise NotImplementedError

    def details(self) -> dict[str, Any]:
        """Non-secret configuration for ``describe()``."""
        return {}

    def secrets(self) -> tuple[str | None, ...]:
        """Secret values this source knows, to blank them out of error messages."""
        return ()


@dataclass(frozen=True)
class StsSettings:
    """What every STS role source asks for alike (hashable: part of registry keys)."""

    role_session_name: str
    duration: int
    policy: str | None
    sts_endpoint: str
    timeouts: Timeouts

    def sdk_arguments(self) -> dict[str, Any]:
        """Keyword arguments every SDK STS provider takes alike."""
        return {
            "role_session_name": self.role_session_name,
            "duration_seconds": self.duration,
            "policy": self.policy,
            "sts_endpoint": self.sts_endpoint,
            "http_options": http_options(self.timeouts),
        }

    def details(self) -> dict[str, Any]:
        return {"role_session_name": self.role_session_name, "sts_endpoint": self.sts_endpoint,
                "duration": self.duration}


class OIDCSource(Source):
    """RRSA: AssumeRoleWithOIDC with the (re-read) projected token file, via the SDK."""

    name = "rrsa"

    def __init__(self, role_arn: str, oidc_provider_arn: str, oidc_token_file: str,
                 sts: StsSettings) -> None:
        self.role_arn = role_arn
        self.oidc_provider_arn = oidc_provider_arn
        self.oidc_token_file = oidc_token_file
        self.sts = sts

    def fetch(self) -> Snapshot:
        provider = sdk_providers().OIDCRoleArnCredentialsProvider(
            role_arn=self.role_arn,
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_token_file_path=self.oidc_token_file,
            **self.sts.sdk_arguments(),
        )
        return snapshot_from(fetch_once(provider), self.name)

    def details(self) -> dict[str, Any]:
        return {
            "role_arn": self.role_arn,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_token_file": self.oidc_token_file,
            **self.sts.details(),
        }


class AssumeRoleSource(Source):
    """``ram_role_arn``: AssumeRole signed with an AccessKey, via the SDK."""

    name = "ram_role_arn"

    def __init__(self, signing_keys: Snapshot, role_arn: str, sts: StsSettings) -> None:
        self._keys = signing_keys
        self.role_arn = role_arn
        self.sts = sts

    def fetch(self) -> Snapshot:
        provider = sdk_providers().RamRoleArnCredentialsProvider(
            access_key_id=self._keys.access_key_id,
            access_key_secret=self._keys.access_key_secret,
            security_token=self._keys.security_token,
            role_arn=self.role_arn,
            **self.sts.sdk_arguments(),
        )
        return snapshot_from(fetch_once(provider), self.name)

    def details(self) -> dict[str, Any]:
        return {
            "role_arn": self.role_arn,
            **self.sts.details(),
            "signing_access_key_id": mask_key_id(self._keys.access_key_id),
        }

    def secrets(self) -> tuple[str | None, ...]:
        return (self._keys.access_key_secret, self._keys.security_token)


class EcsRoleSource(Source):
    """``ecs_ram_role``: the worker's RAM role from the instance metadata service.

    The SDK provider is built with ``async_update_enabled=False``: no background thread
    (the cache in front of this source schedules refreshes).
    """

    name = "ecs_ram_role"

    def __init__(self, role_name: str | None, disable_imds_v1: bool, timeouts: Timeouts) -> None:
        self.role_name = role_name
        self.disable_imds_v1 = disable_imds_v1
        self.timeouts = timeouts

    def fetch(self) -> Snapshot:
        # "" (not None) makes the SDK discover the role name instead of reading the
        # environment variable it captured at import time.
        provider = sdk_providers().EcsRamRoleCredentialsProvider(
            role_name=self.role_name or "",
            disable_imds_v1=self.disable_imds_v1,
            http_options=http_options(self.timeouts),
            async_update_enabled=False,
        )
        return snapshot_from(fetch_once(provider), self.name)

    def details(self) -> dict[str, Any]:
        return {"ecs_role_name": self.role_name or "(discovered from metadata)"}


class CallableSource(Source):
    """A user callable (or an object's ``get_credentials``) called at every refresh."""

    name = "custom"

    def __init__(self, func: Callable[[], Any], label: str) -> None:
        self.func = func
        self.label = label

    def fetch(self) -> Snapshot:
        return snapshot_from(self.func(), self.name)

    def details(self) -> dict[str, Any]:
        return {"callable": self.label}


Link = tuple[str, Callable[[], Any]]


class ChainSource(Source):
    """The SDK's default chain (minus the env-key link, decided at build time), built
    from ``environ`` at call time rather than from what the SDK captured at import.

    Links in order: OIDC (if the three RRSA variables are set), CLI profile
    (``~/.aliyun/config.json``), credentials file, ECS metadata (unless
    ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true``), credentials URI. The link that
    answered last is tried first on the next refresh.
    """

    name = "default_chain"

    def __init__(self, environ: Mapping[str, str], oidc: OIDCSource | None,
                 timeouts: Timeouts) -> None:
        self._oidc = oidc
        self._links = chain_links(environ, oidc, timeouts)
        self.last_link: str | None = None

    def fetch(self) -> Snapshot:
        links = sorted(self._links, key=lambda link: link[0] != self.last_link)
        errors = []
        for label, fetch in links:
            try:
                result = snapshot_from(fetch(), self.name)
            except Exception as exc:
                errors.append(f"{label}: {describe_error(exc)}")
                continue
            self.last_link = label
            return result
        raise CredentialsUnavailable(
            "no link of the default chain gave credentials (" + "; ".join(errors) + ")")

    def details(self) -> dict[str, Any]:
        info: dict[str, Any] = {"chain": [label for label, _ in self._links],
                                "chain_link": self.last_link}
        if self._oidc is not None:
            info.update(self._oidc.details())
        return info


def chain_links(environ: Mapping[str, str], oidc: OIDCSource | None,
                timeouts: Timeouts) -> list[Link]:
    """The default chain's links after the environment keys, as the SDK orders them."""
    home = environ.get("HOME") or os.path.expanduser("~")
    profile = environ.get("ALIBABA_CLOUD_PROFILE") or None
    links: list[Link] = []
    if oidc is not None:
        links.append(("oidc", oidc.fetch))
    if not env_flag(environ, "ALIBABA_CLOUD_CLI_PROFILE_DISABLED"):
        cli_file = os.path.join(home, ".aliyun", "config.json")
        links.append(("cli_profile", lambda: sdk_providers().CLIProfileCredentialsProvider(
            profile_name=profile, profile_file=cli_file).get_credentials()))
    ini_file = environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE") or os.path.join(
        home, ".alibabacloud", "credentials.ini")
    links.append(("credentials_file", lambda: sdk_providers().ProfileCredentialsProvider(
        profile_file=ini_file, profile_name=profile or "default").get_credentials()))
    if not env_flag(environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED"):
        ecs = EcsRoleSource(environ.get(ENV_ECS_METADATA) or None,
                            env_flag(environ, ENV_IMDSV1_DISABLED), timeouts)
        links.append(("ecs_ram_role", ecs.fetch))
    uri = environ.get("ALIBABA_CLOUD_CREDENTIALS_URI")
    if uri:
        links.append(("credentials_uri", lambda: fetch_once(sdk_providers().URLCredentialsProvider(
            uri=uri, http_options=http_options(timeouts)))))
    return links
