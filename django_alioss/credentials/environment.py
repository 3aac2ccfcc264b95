"""The environment variables the credentials read, and how they are read.

Always from the mapping given (``os.environ`` by default) at build time, never from
what alibabacloud-credentials captured when it was imported.
"""

from __future__ import annotations

from collections.abc import Mapping

from .snapshot import Snapshot

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"
ENV_ROLE_SESSION_NAME = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
ENV_STS_REGION = "ALIBABA_CLOUD_STS_REGION"
ENV_VPC_ENDPOINT_ENABLED = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"
ENV_ECS_METADATA = "ALIBABA_CLOUD_ECS_METADATA"
ENV_IMDSV1_DISABLED = "ALIBABA_CLOUD_IMDSV1_DISABLED"

#: RRSA settings by option name: the variables that stand in for the option, in order
#: (ACK's webhook injects the ALIBABA_CLOUD_* spellings, its secrets-store provider the
#: ALICLOUD_* ones).
RRSA_ENV = {
    "role_arn": ("ALIBABA_CLOUD_ROLE_ARN", "ALICLOUD_ROLE_ARN"),
    "oidc_provider_arn": ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALICLOUD_OIDC_PROVIDER_ARN"),
    "oidc_token_file": ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALICLOUD_OIDC_TOKEN_FILE"),
}

_TRUE = ("1", "true", "yes", "on")


def env_value(environ: Mapping[str, str], *names: str) -> tuple[str, str | None]:
    """The first non-blank value among ``names`` (stripped) and the variable it came
    from, else ``("", None)``."""
    for name in names:
        value = (environ.get(name) or "").strip()
        if value:
            return value, name
    return "", None


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """A yes/no variable: true for ``true``/``1``/``yes``/``on`` (any case), else false."""
    return (environ.get(name) or "").strip().lower() in _TRUE


def static_keys(environ: Mapping[str, str], source: str) -> tuple[Snapshot | None, str | None]:
    """The AccessKey in ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (+ ``_SECURITY_TOKEN``)
    as a never-expiring snapshot labelled ``source``, or None and why there is none."""
    ak = env_value(environ, ENV_ACCESS_KEY_ID)[0]
    sk = env_value(environ, ENV_ACCESS_KEY_SECRET)[0]
    missing = [name for name, value in ((ENV_ACCESS_KEY_ID, ak), (ENV_ACCESS_KEY_SECRET, sk))
               if not value]
    if missing:
        return None, f"{' and '.join(missing)} not set"
    token = env_value(environ, ENV_SECURITY_TOKEN)[0] or None
    return Snapshot(ak, sk, token, None, source), None
