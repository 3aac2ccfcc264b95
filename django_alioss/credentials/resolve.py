"""The resolution rule: parsed options (+ the environment) -> which provider, and its key.

:class:`CredentialOptions` holds the credential options parsed by the one option table
(:data:`django_alioss.options.OPTIONS`: types, bounds and error messages live there);
:class:`Resolver` applies the rule to them (README, "Resolution rule"):

1. ``credentials_provider`` set: ``"rrsa"``, ``"static"``, ``"ram_role_arn"``,
   ``"ecs_ram_role"``, ``"default_chain"``, a dotted path to a callable, a callable, or a
   ready :class:`~.providers.CredentialsProvider`. Anything else is ``ImproperlyConfigured``.
2. Otherwise, ``access_key_id`` and ``access_key_secret`` both empty or the literal
   ``rrsa`` (any case): RRSA (AssumeRoleWithOIDC with the projected token file). Role
   ARN, OIDC provider ARN and token file come from the options, else
   ``ALIBABA_CLOUD_ROLE_ARN`` / ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN`` /
   ``ALIBABA_CLOUD_OIDC_TOKEN_FILE``, else the ``ALICLOUD_*`` spellings.
3. If RRSA cannot be had (environment incomplete or token file unreadable, decided when
   the provider is built; STS refusing the first AssumeRoleWithOIDC, decided at first
   use) and ``rrsa_fallback`` is true (the default): static keys from
   ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (+
   ``ALIBABA_CLOUD_SECURITY_TOKEN``), announced once by a WARNING on the
   ``django_alioss`` logger. Without those, or with ``rrsa_fallback=False``,
   :class:`~.errors.CredentialsUnavailable` is raised at first use.
4. Otherwise: the configured static keys (+ ``security_token``).

What is checked here is only what the option table cannot know: the combination of
options, the STS session-name rule, that ``role_policy`` is a JSON object, and the
environment. No I/O beyond reading the environment and checking the token file exists.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured

from ..options import CREDENTIAL_OPTIONS, OPTIONS, SECRET_OPTIONS, OptionValues
from ..redaction import mask_key_id
from .environment import (
    ENV_ACCESS_KEY_ID,
    ENV_ACCESS_KEY_SECRET,
    ENV_ECS_METADATA,
    ENV_IMDSV1_DISABLED,
    ENV_ROLE_SESSION_NAME,
    ENV_SECURITY_TOKEN,
    ENV_STS_REGION,
    ENV_VPC_ENDPOINT_ENABLED,
    RRSA_ENV,
    env_flag,
    env_value,
    static_keys,
)
from .providers import (
    Clock,
    CredentialsProvider,
    Recipe,
    RefreshingProvider,
    StaticProvider,
    UnavailableProvider,
)
from .registry import digest
from .snapshot import Snapshot
from .sources import (
    AssumeRoleSource,
    CallableSource,
    ChainSource,
    EcsRoleSource,
    OIDCSource,
    StsSettings,
)

logger = logging.getLogger("django_alioss")

SOURCES = ("rrsa", "static", "ram_role_arn", "ecs_ram_role", "default_chain")
SESSION_NAME_PREFIX = "django-alioss-"
_SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
_PARSED_FROM = "the options given to build_provider"


class CredentialOptions(OptionValues):
    """The credential options (:data:`~django_alioss.options.CREDENTIAL_OPTIONS`) as the
    typed attributes of :class:`~django_alioss.options.OptionValues`, each parsed by its
    entry in the option table; the other options are not set.

    ``options`` may hold raw values (tests, ``checks``, direct callers) or the values the
    storage already parsed (parsing them again is idempotent and cheap): either way the
    rules and the error messages are the table's; nothing here re-validates types or
    bounds. A missing or None value takes the option's default; other keys are ignored.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        for name in CREDENTIAL_OPTIONS:
            setattr(self, name, _parse_option(name, options.get(name)))

    def __repr__(self) -> str:
        return f"<CredentialOptions {self.restorable()!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("CredentialOptions may hold secrets and are not picklable")

    def restorable(self) -> dict[str, Any]:
        """What a pickle may keep: no secret option, no provider instance."""
        return {name: getattr(self, name) for name in CREDENTIAL_OPTIONS
                if name not in SECRET_OPTIONS
                and not isinstance(getattr(self, name), CredentialsProvider)}

    def secrets_given(self) -> bool:
        """A secret credential option holds a real value (not empty, not the ``rrsa``
        marker). Secret options of other kinds (``cdn_auth_key``) are not credentials."""
        return any(not _is_rrsa_marker(getattr(self, name))
                   for name in SECRET_OPTIONS if name in CREDENTIAL_OPTIONS)


def _parse_option(name: str, value: Any) -> Any:
    option = OPTIONS[name]
    return option.default if value is None else option.parse(value, _PARSED_FROM)


def _text(value: str | None) -> str:
    return (value or "").strip()


def _is_rrsa_marker(value: str | None) -> bool:
    text = _text(value)
    return text == "" or text.lower() == "rrsa"


class Plan(NamedTuple):
    """A resolved configuration: its registry key parts (secrets only as digests) and
    how to build its provider (no network)."""

    key: tuple[Any, ...]
    build: Callable[[Recipe], CredentialsProvider]


class Resolver:
    """Applies the resolution rule to parsed options and an environment."""

    def __init__(self, options: CredentialOptions, environ: Mapping[str, str],
                 clock: Clock) -> None:
        self.options = options
        self.environ = environ
        self.clock = clock
        self.timeouts = (options.connect_timeout, options.read_timeout)

    # -- the rule ------------------------------------------------------------------------------
    def plan(self) -> Plan:
        choice = self.options.credentials_provider
        if isinstance(choice, CredentialsProvider):
            return Plan(("instance", id(choice)), lambda recipe: choice)
        if choice is not None and choice != "":
            return self.explicit(choice)
        opts = self.options
        if _is_rrsa_marker(opts.access_key_id) and _is_rrsa_marker(opts.access_key_secret):
            if _text(opts.security_token):
                raise ImproperlyConfigured(
                    "security_token is set but access_key_id/access_key_secret are not")
            empty = not (_text(opts.access_key_id) or _text(opts.access_key_secret))
            keys = "empty" if empty else "set to 'rrsa'"
            return self.rrsa(f"access_key_id/access_key_secret {keys}: RRSA")
        return self.static_from_options()

    def explicit(self, choice: Any) -> Plan:
        """``credentials_provider`` names a source, a callable or an object."""
        if not isinstance(choice, str):
            return self.custom(choice, _label(choice), f"credentials_provider={_label(choice)}")
        why = f"credentials_provider={choice!r}"
        kind = choice.strip().lower()
        if kind == "rrsa":
            return self.rrsa(why)
        if kind == "static":
            return self.static_from_options(why=why, allow_env=True)
        if kind == "ram_role_arn":
            return self.ram_role_arn(why)
        if kind == "ecs_ram_role":
            return self.ecs_ram_role(why)
        if kind == "default_chain":
            return self.default_chain(why)
        return self.custom(_import_callable(choice.strip()), choice.strip(), why)

    def custom(self, func: Any, label: str, why: str) -> Plan:
        """A callable, or an object whose ``get_credentials`` is called, at every refresh."""
        target = None if isinstance(func, type) else getattr(func, "get_credentials", None)
        fetch = target if callable(target) else func
        if not callable(fetch):
            raise ImproperlyConfigured(_unknown_source_message(label))
        source = CallableSource(fetch, label)
        return Plan(("custom", _identity(func), _identity(self.clock)),
                    lambda recipe: RefreshingProvider(source, clock=self.clock, why=why,
                                                      recipe=recipe))

    def static_from_options(self, why: str | None = None, allow_env: bool = False) -> Plan:
        ak, sk = _text(self.options.access_key_id), _text(self.options.access_key_secret)
        if _is_rrsa_marker(ak) != _is_rrsa_marker(sk) and "rrsa" in (ak.lower(), sk.lower()):
            raise ImproperlyConfigured(
                "access_key_id/access_key_secret: either both are 'rrsa' (or empty) for RRSA, "
                "or both hold an AccessKey")
        if bool(ak) != bool(sk):
            missing = "access_key_secret" if ak else "access_key_id"
            raise ImproperlyConfigured(f"{missing} is missing: static keys need both "
                                       "access_key_id and access_key_secret")
        if ak or not allow_env:
            snap = Snapshot(ak, sk, _text(self.options.security_token) or None, None, "static")
            why = why or "access_key_id/access_key_secret configured"
        else:
            env_snap, missing_env = static_keys(self.environ, "static")
            if env_snap is None:
                raise ImproperlyConfigured(
                    f"credentials_provider='static' needs access_key_id/access_key_secret "
                    f"(options) or {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} "
                    f"({missing_env})")
            snap = env_snap
            why = f"{why}: keys from {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET}"
        return Plan(("static", *_keys_key(snap)),
                    lambda recipe: StaticProvider(snap, why=why or "", recipe=recipe))

    def rrsa(self, why: str) -> Plan:
        values, missing = self.rrsa_parts()
        sts = self.sts_settings()
        fallback_allowed = self.options.rrsa_fallback
        fallback, fallback_missing = (static_keys(self.environ, "static-fallback")
                                      if fallback_allowed else (None, None))
        problem = None
        if missing:
            problem = f"RRSA environment incomplete: missing {', '.join(missing)}"
        elif not (os.path.isfile(values["oidc_token_file"])
                  and os.access(values["oidc_token_file"], os.R_OK)):
            problem = f"OIDC token file {values['oidc_token_file']} is not readable"
        key = ("rrsa", tuple(sorted(values.items())), sts, fallback_allowed,
               _keys_key(fallback), fallback_missing, problem, _identity(self.clock))
        if problem is not None:
            details = {"role_arn": values.get("role_arn"),
                       "oidc_provider_arn": values.get("oidc_provider_arn"),
                       "oidc_token_file": values.get("oidc_token_file"),
                       "role_session_name": sts.role_session_name,
                       "sts_endpoint": sts.sts_endpoint}
            return Plan(key, _without_rrsa(why, problem, details, fallback, fallback_missing))
        source = OIDCSource(values["role_arn"], values["oidc_provider_arn"],
                            values["oidc_token_file"], sts)
        return Plan(key, lambda recipe: RefreshingProvider(
            source, clock=self.clock, why=why, fallback=fallback,
            fallback_missing=fallback_missing, recipe=recipe))

    def ram_role_arn(self, why: str) -> Plan:
        ak, sk = _text(self.options.access_key_id), _text(self.options.access_key_secret)
        keys: Snapshot | None = Snapshot(ak, sk, _text(self.options.security_token) or None,
                                         None, "static") if ak and sk else None
        if keys is None and not (ak or sk):
            keys = static_keys(self.environ, "static")[0]
        role_arn = _text(self.options.role_arn) or env_value(self.environ,
                                                             *RRSA_ENV["role_arn"])[0]
        if keys is None or not role_arn:
            raise ImproperlyConfigured(
                "credentials_provider='ram_role_arn' needs role_arn and an AccessKey "
                "(access_key_id/access_key_secret, or "
                f"{ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET})")
        sts = self.sts_settings()
        source = AssumeRoleSource(keys, role_arn, sts)
        key = ("ram_role_arn", *_keys_key(keys), role_arn, sts, _identity(self.clock))
        return Plan(key, lambda recipe: RefreshingProvider(
            source, clock=self.clock, why=why, recipe=recipe))

    def ecs_ram_role(self, why: str) -> Plan:
        role_name = (_text(self.options.ecs_role_name)
                     or env_value(self.environ, ENV_ECS_METADATA)[0])
        disable_v1 = env_flag(self.environ, ENV_IMDSV1_DISABLED)
        source = EcsRoleSource(role_name or None, disable_v1, self.timeouts)
        key = ("ecs_ram_role", role_name, disable_v1, self.timeouts, _identity(self.clock))
        return Plan(key, lambda recipe: RefreshingProvider(
            source, clock=self.clock, why=why, recipe=recipe))

    def default_chain(self, why: str) -> Plan:
        env_snap = static_keys(self.environ, "default_chain")[0]
        if env_snap is not None:
            chain_why = f"{why}: {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} set"
            return Plan(("default_chain", "env", *_keys_key(env_snap)),
                        lambda recipe: StaticProvider(
                            env_snap, why=chain_why, details={"chain_link": "environment"},
                            recipe=recipe))
        values, missing = self.rrsa_parts()
        oidc = None
        if not missing:
            oidc = OIDCSource(values["role_arn"], values["oidc_provider_arn"],
                              values["oidc_token_file"], self.sts_settings())
        chain_env = tuple(sorted((k, v) for k, v in self.environ.items()
                                 if k.startswith("ALIBABA_CLOUD_") and k not in
                                 (ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN)))
        oidc_key = tuple(sorted(oidc.details().items())) if oidc is not None else None
        key = ("default_chain", chain_env, oidc_key, self.timeouts,
               _text(self.environ.get("HOME")), _identity(self.clock))
        source = ChainSource(self.environ, oidc, self.timeouts)
        return Plan(key, lambda recipe: RefreshingProvider(
            source, clock=self.clock, why=why, recipe=recipe))

    # -- the parts -----------------------------------------------------------------------------
    def rrsa_parts(self) -> tuple[dict[str, str], list[str]]:
        """RRSA's role ARN, OIDC provider ARN and token file (option, else environment),
        and what is missing."""
        values: dict[str, str] = {}
        missing: list[str] = []
        for option, env_names in RRSA_ENV.items():
            value = _text(getattr(self.options, option)) or env_value(self.environ,
                                                                      *env_names)[0]
            if value:
                values[option] = value
            else:
                missing.append(f"{env_names[0]} (or option {option})")
        return values, missing

    def sts_settings(self) -> StsSettings:
        return StsSettings(self.session_name(), self.options.role_duration, self.policy(),
                           self.sts_endpoint(), self.timeouts)

    def session_name(self) -> str:
        name, origin = _text(self.options.role_session_name), "role_session_name"
        if not name:
            name, env_name = env_value(self.environ, ENV_ROLE_SESSION_NAME)
            origin = env_name or origin
        if not name:
            host = _text(self.environ.get("HOSTNAME")) or socket.gethostname() or "host"
            host = re.sub(r"[^A-Za-z0-9.@_-]", "-", host)
            return (SESSION_NAME_PREFIX + host)[:64]
        if not _SESSION_NAME_RE.match(name):
            raise ImproperlyConfigured(
                f"{origin} must be 2..64 characters of A-Z a-z 0-9 . @ _ -, got {name!r}")
        return name

    def policy(self) -> str | None:
        """The session policy (the option table checked it is a JSON object)."""
        return self.options.role_policy or None

    def sts_endpoint(self) -> str:
        endpoint = _text(self.options.sts_endpoint)
        if endpoint:
            return endpoint.rstrip("/")
        region = _text(self.options.sts_region) or env_value(self.environ, ENV_STS_REGION)[0]
        vpc = self.options.sts_vpc_endpoint
        if vpc is None:
            vpc = env_flag(self.environ, ENV_VPC_ENDPOINT_ENABLED)
        prefix = "sts-vpc" if vpc else "sts"
        return f"{prefix}.{region}.aliyuncs.com" if region else "sts.aliyuncs.com"


def _without_rrsa(why: str, problem: str, details: dict[str, Any], fallback: Snapshot | None,
                  fallback_missing: str | None) -> Callable[[Recipe], CredentialsProvider]:
    """RRSA cannot work here (decided at build time): the static fallback, or a provider
    that raises at first use saying why (and why there is no fallback, if allowed)."""
    def build(recipe: Recipe) -> CredentialsProvider:
        if fallback is not None:
            logger.warning(
                "django-alioss: %s; falling back to static AccessKey %s from %s",
                problem, mask_key_id(fallback.access_key_id), ENV_ACCESS_KEY_ID)
            return StaticProvider(fallback, why=f"{why}; {problem}", details=details,
                                  recipe=recipe)
        reason = f"no usable credentials: {problem}"
        if fallback_missing is not None:
            reason += f"; static fallback: {fallback_missing}"
        return UnavailableProvider("rrsa", why=reason, details=details, recipe=recipe)

    return build


def _keys_key(snap: Snapshot | None) -> tuple[str | None, str | None]:
    """A snapshot's part of a registry key: its key id and a digest of its secrets."""
    if snap is None:
        return (None, None)
    return (snap.access_key_id,
            digest(snap.access_key_id, snap.access_key_secret, snap.security_token))


def _identity(obj: Any) -> str:
    """Identifies a callable in a registry key (its provider keeps it alive, so the id
    cannot be reused while the key is in use)."""
    if obj is time.time:
        return "time.time"
    owner = getattr(obj, "__self__", None)
    if owner is not None and hasattr(obj, "__func__"):  # bound method: new object per lookup
        return f"{_label(obj)}@{id(owner):x}"
    return f"{_label(obj)}@{id(obj):x}"


def _label(value: Any) -> str:
    if isinstance(value, str):
        return value
    module = getattr(value, "__module__", None) or type(value).__module__
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}.{name}"


def _unknown_source_message(choice: Any) -> str:
    return (f"credentials_provider={_label(choice)!r} is not valid: use one of "
            f"{', '.join(repr(s) for s in SOURCES)}, a dotted path to a callable, or a "
            "callable returning credentials")


def _import_callable(path: str) -> Any:
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ImproperlyConfigured(_unknown_source_message(path))
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(
            f"{_unknown_source_message(path)} (import failed: {exc})") from None
