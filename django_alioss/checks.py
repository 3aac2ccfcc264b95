"""System checks (``manage.py check``) for every storage alias that uses django-alioss.

No check sends anything over the network: storages are built with
:func:`~django_alioss.diagnostics.build_storage` (no manifest load) and the
credentials provider is built but never asked for credentials.

======================  ===========================================================
``django_alioss.E001``  endpoint or bucket_name missing
``django_alioss.E002``  RRSA selected, its environment incomplete, rrsa_fallback off
``django_alioss.E003``  signature V4 without a region (none derivable from endpoint)
``django_alioss.E004``  unknown keys in ``OPTIONS``
``django_alioss.E005``  querystring_expire beyond 7 days (OSS refuses > 604800 s)
``django_alioss.E006``  any other invalid configuration (the ImproperlyConfigured text)
``django_alioss.E007``  the backend of an alias naming django_alioss cannot be imported
``django_alioss.E008``  cdn_auth_type set without cdn_auth_key
``django_alioss.E009``  cdn_auth_type set without custom_domain (the CDN domain)
``django_alioss.E010``  a type C cdn_auth_key that is not 16 to 32 letters and digits
``django_alioss.E011``  an invalid entry in image_styles (name or processing string)
``django_alioss.W001``  an ``http://`` endpoint while DEBUG is False
``django_alioss.W002``  RRSA selected, its environment incomplete, no static fallback
``django_alioss.W003``  an OSS static storage, but ``collectstatic`` is not ours
``django_alioss.W004``  cdn_auth_key set without cdn_auth_type: URLs are not signed for it
``django_alioss.W005``  RRSA selected, unusable here, the static fallback would be used
``django_alioss.W006``  querystring_expire beyond role_duration (URLs die with the keys)
======================  ===========================================================
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import get_commands

from .cdn import TYPE_C_KEY
from .credentials import CredentialsProvider, UnavailableProvider, build_provider
from .diagnostics import backend_class, build_storage, configured_value, storage_configs
from .options import OPTIONS, region_from_endpoint, unknown_options_text
from .processing import validate_styles
from .storage import CREDENTIAL_OPTIONS, OSSStaticStorage, OSSStorage

MAX_URL_EXPIRE = 7 * 24 * 3600
CHECK_TAG = "django_alioss"


def _id(code: str) -> str:
    return f"django_alioss.{code}"


def _error(code: str, alias: str, message: str, hint: str | None = None) -> checks.Error:
    return checks.Error(f"STORAGES[{alias!r}]: {message}", hint=hint, id=_id(code))


def _warning(code: str, alias: str, message: str, hint: str | None = None) -> checks.Warning:
    return checks.Warning(f"STORAGES[{alias!r}]: {message}", hint=hint, id=_id(code))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _setting_hint(name: str, alias: str) -> str:
    setting = OPTIONS[name].setting_name
    return (f"Set STORAGES[{alias!r}]['OPTIONS'][{name!r}], the {setting} setting or the "
            f"{setting} environment variable.")


@contextlib.contextmanager
def _quiet_in_this_thread(logger: logging.Logger) -> Iterator[None]:
    """Drop ``logger``'s records from this thread meanwhile: a provider built only to be
    inspected must not announce an RRSA fallback (the storage does at first use)."""
    thread = threading.get_ident()

    def other_threads(record: logging.LogRecord) -> bool:
        return record.thread != thread

    logger.addFilter(other_threads)
    try:
        yield
    finally:
        logger.removeFilter(other_threads)


def _precheck(cls: type[OSSStorage], options: Mapping[str, Any], alias: str
              ) -> tuple[list[checks.CheckMessage], dict[str, Any] | None]:
    """Problems found from the raw values alone, and the options to build with (None
    when building would only repeat an error already reported)."""
    messages: list[checks.CheckMessage] = []
    build_options: dict[str, Any] | None = {k: v for k, v in options.items() if k in OPTIONS}

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        messages.append(_error(
            "E004", alias, f"unknown option(s) {unknown_options_text(unknown)} in OPTIONS.",
            hint=f"Valid options: {', '.join(sorted(OPTIONS))}."))

    def raw(name: str) -> tuple[Any, str]:
        return configured_value(cls, options, name, alias)

    for name in ("endpoint", "bucket_name"):
        if not _text(raw(name)[0]):
            messages.append(_error("E001", alias, f"{name!r} is not configured.",
                                   hint=_setting_hint(name, alias)))
            build_options = None

    expire, origin = raw("querystring_expire")
    try:
        seconds = int(str(expire).strip().replace("_", ""))
    except ValueError:
        seconds = None  # the build reports the invalid value
    if seconds is not None and seconds > MAX_URL_EXPIRE:
        messages.append(_error(
            "E005", alias,
            f"querystring_expire is {seconds} s ({seconds / 86400:g} days, from {origin}); OSS "
            f"refuses signed URLs valid for more than {MAX_URL_EXPIRE} s (7 days).",
            hint="Use at most 604800; URLs needed for longer must be re-signed when served."))
        if build_options is not None and "querystring_expire" in options:
            build_options["querystring_expire"] = MAX_URL_EXPIRE  # check the rest
        else:  # a class attribute, setting or environment value: the build fails on it
            build_options = None

    signature, _ = raw("signature_version")
    endpoints = [_text(raw("endpoint")[0]), _text(raw("public_endpoint")[0])]
    if (_text(signature) == "v4" and not _text(raw("region")[0]) and endpoints[0]
            and not any(region_from_endpoint(e) for e in endpoints if e)):
        messages.append(_error(
            "E003", alias,
            f"signature V4 needs a region and none can be derived from endpoint {endpoints[0]!r}.",
            hint="Set the 'region' option (ALIOSS_REGION), e.g. 'cn-hangzhou', or use "
                 "signature_version 'v1'."))
        build_options = None
    return messages, build_options


def _cdn_and_image_checks(storage: OSSStorage, alias: str) -> list[checks.CheckMessage]:
    """E008-E011 and W004: the CDN URL authentication and image style options (the key
    itself is never quoted)."""
    messages: list[checks.CheckMessage] = []
    kind, key = storage.cdn_auth_type, storage.cdn_auth_key
    if kind and not key:
        messages.append(_error(
            "E008", alias, f"cdn_auth_type is {kind!r} but cdn_auth_key is not set: CDN URLs "
            "cannot be signed.", hint=_setting_hint("cdn_auth_key", alias)))
    if kind and not storage.custom_domain:
        messages.append(_error(
            "E009", alias, f"cdn_auth_type is {kind!r} but custom_domain is not set: CDN URL "
            "authentication signs URLs of the CDN domain.",
            hint=_setting_hint("custom_domain", alias)))
    if kind == "C" and key and not TYPE_C_KEY.fullmatch(key):
        messages.append(_error(
            "E010", alias, f"cdn_auth_key has {len(key)} characters; a type C key is 16 to 32 "
            "letters and digits.", hint="Copy the key from the CDN console's URL "
                                        "authentication settings."))
    if key and not kind:
        messages.append(_warning(
            "W004", alias, "cdn_auth_key is set but cdn_auth_type is not: custom_domain URLs "
            "are not signed for the CDN.", hint="Set cdn_auth_type to 'A', 'B' or 'C' as "
                                                "configured in the CDN console."))
    try:
        validate_styles(storage.image_styles)
    except ValueError as exc:
        messages.append(_error("E011", alias, f"image_styles: {exc}.",
                               hint="See the README's 'Image processing' section."))
    return messages


def check_alias(alias: str, config: Mapping[str, Any]) -> list[checks.CheckMessage]:
    """The messages for one storage alias (none when its backend is not ours)."""
    backend = config.get("BACKEND")
    try:
        cls = backend_class(config)
    except ImportError as exc:
        if isinstance(backend, str) and backend.startswith("django_alioss."):
            return [_error("E007", alias, f"cannot import backend {backend!r}: {exc}.")]
        return []
    if cls is None:
        return []
    options = config.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        return [_error("E006", alias, f"OPTIONS must be a dict, not {type(options).__name__}.")]
    messages, build_options = _precheck(cls, options, alias)
    if build_options is None:
        return messages
    try:
        storage = build_storage(cls, build_options)
        with _quiet_in_this_thread(logging.getLogger("django_alioss")):
            provider = build_provider({n: getattr(storage, n) for n in CREDENTIAL_OPTIONS},
                                      shared=False)
    except ImproperlyConfigured as exc:
        return [*messages, _error("E006", alias, str(exc))]

    if not settings.DEBUG:
        for name in ("endpoint", "public_endpoint"):
            value = getattr(storage, name)
            if value and value.lower().startswith("http://"):
                messages.append(_warning(
                    "W001", alias, f"{name} {value!r} uses plain http while DEBUG is False: "
                    "requests, credentials and signed URLs travel unencrypted.",
                    hint=f"Use an https:// {name}."))
    messages.extend(_cdn_and_image_checks(storage, alias))
    return [*messages, *_rrsa_messages(storage, provider, alias)]


RRSA_ROLE_SOURCES = ("rrsa", "ram_role_arn")
ENABLE_RRSA_HINT = ("Enable RRSA for the pod's service account (ACK injects "
                    "ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and "
                    "ALIBABA_CLOUD_OIDC_TOKEN_FILE), or set the role_arn, oidc_provider_arn "
                    "and oidc_token_file options.")


def token_file_hint(path: str) -> str:
    """Why the OIDC token file at ``path`` cannot be read, and the fix (no I/O beyond
    ``stat``)."""
    try:
        info = os.stat(path)
    except OSError:
        return (f"No file at {path}: ACK mounts the token only into pods created after RRSA "
                "was enabled for their service account (restart the pod), or oidc_token_file "
                "/ ALIBABA_CLOUD_OIDC_TOKEN_FILE names another path.")
    if not stat.S_ISREG(info.st_mode):
        return (f"{path} is not a file: point oidc_token_file / ALIBABA_CLOUD_OIDC_TOKEN_FILE "
                "at the token itself.")
    return (f"{path} exists but this process (uid {os.getuid()}, gid {os.getgid()}) cannot "
            f"read it: mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid}, gid "
            f"{info.st_gid}. Run the app as that user or group (Kubernetes: the pod's "
            "securityContext runAsUser / fsGroup) or make the file readable.")


def _rrsa_hint(provider: CredentialsProvider) -> str:
    """The fix for unusable RRSA: the token file's problem, or how to enable RRSA."""
    path = provider.describe().get("oidc_token_file")
    if path and "token file" in provider.why:
        return token_file_hint(path)
    return ENABLE_RRSA_HINT


def _rrsa_messages(storage: OSSStorage, provider: CredentialsProvider,
                   alias: str) -> list[checks.CheckMessage]:
    """E002/W002/W005: RRSA is selected but cannot work here; W006: signed URLs would
    outlive the role credentials that sign them."""
    if provider.source == "static-fallback":  # decided now: the fallback is the provider
        key = provider.describe().get("access_key_id")
        return [_warning(
            "W005", alias, f"RRSA is selected but cannot work here, so the static AccessKey "
            f"{key} from ALIBABA_CLOUD_ACCESS_KEY_ID would be used instead ({provider.why}).",
            hint=_rrsa_hint(provider) + " Set rrsa_fallback=False (ALIOSS_RRSA_FALLBACK=false)"
                 " to make this an error instead of a silent fallback.")]
    if isinstance(provider, UnavailableProvider) and provider.source == "rrsa":
        if storage.rrsa_fallback:
            return [_warning(
                "W002", alias, f"RRSA is selected but unusable and there is no static "
                f"fallback: {provider.why}.",
                hint=_rrsa_hint(provider) + " Or set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET for "
                     "the fallback.")]
        return [_error(
            "E002", alias, f"RRSA is selected, rrsa_fallback is disabled "
            f"and RRSA cannot work here: {provider.why}.", hint=_rrsa_hint(provider))]
    if (provider.source in RRSA_ROLE_SOURCES and storage.querystring_auth
            and storage.querystring_expire > storage.role_duration):
        return [_warning(
            "W006", alias, f"querystring_expire is {storage.querystring_expire} s but the "
            f"{provider.source} credentials that sign URLs live {storage.role_duration} s "
            "(role_duration): a signed URL expires with its credentials, so it lives at most "
            f"{storage.role_duration} s, less as the credentials age.",
            hint="Raise role_duration (up to the role's maximum session duration, at most "
                 "43200) or lower querystring_expire; URLs that must live longer need static "
                 "keys or a CDN with URL authentication.")]
    return []


def check_storages(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check every configured storage whose backend is a django-alioss class."""
    messages: list[checks.CheckMessage] = []
    for alias, config in storage_configs().items():
        messages.extend(check_alias(alias, config))
    return messages


def check_collectstatic(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W003: the ``staticfiles`` storage is an ``OSSStaticStorage``, but ``manage.py
    collectstatic`` runs another app's command (Django picks the first app in
    INSTALLED_APPS that has one), so nothing is skipped and nothing runs in parallel."""
    config = storage_configs().get("staticfiles")
    try:
        cls = backend_class(config) if config else None
    except ImportError:
        return []  # E007 reports it
    owner = get_commands().get("collectstatic")
    if cls is None or not issubclass(cls, OSSStaticStorage) or owner == "django_alioss":
        return []
    return [_warning(
        "W003", "staticfiles",
        f"{cls.__name__} is the staticfiles storage, but 'manage.py collectstatic' is the "
        f"command of {owner!r}: every file is re-uploaded on every run, one at a time.",
        hint="List 'django_alioss' before 'django.contrib.staticfiles' (and any other app "
             "with a collectstatic command) in INSTALLED_APPS.")]


def register() -> None:
    """Register :func:`check_storages` and :func:`check_collectstatic` (tags
    ``django_alioss`` and ``staticfiles``)."""
    checks.register(check_storages, CHECK_TAG, checks.Tags.staticfiles)
    checks.register(check_collectstatic, CHECK_TAG, checks.Tags.staticfiles)
