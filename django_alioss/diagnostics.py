"""Diagnostics shared by the system checks (:mod:`django_alioss.checks`) and the management
commands (``alioss_check``, ``alioss_cleanup_uploads``).

The contract of this module:

- **Finding storages** (:func:`storage_configs`, :func:`backend_class`,
  :func:`storage_for_alias`) follows Django's storage handler, including the legacy
  ``DEFAULT_FILE_STORAGE`` / ``STATICFILES_STORAGE`` settings on Django < 5.1.
- **Building** (:func:`build_storage`) parses and validates options only: no network,
  no manifest load, no credentials fetched.
- **Explaining** (:func:`explain`, :func:`configured_value`) returns text for people:
  what failed and how to fix it, where a value came from.
- **Nothing here prints, and nothing returns a secret**: options come from
  ``storage.describe()``, credentials from ``provider.describe()``, and exception
  messages of this library are already free of secrets.

It depends only on the core modules (options, storage, credentials, exceptions), never on
:mod:`django_alioss.checks` or on :mod:`django_alioss.management`, so both can import it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .credentials import CredentialsUnavailable
from .exceptions import OSSError
from .options import OPTIONS
from .storage import OSSStorage

#: Settings that named the backends of two aliases before Django 5.1.
LEGACY_SETTINGS = {"default": "DEFAULT_FILE_STORAGE", "staticfiles": "STATICFILES_STORAGE"}
KEY_ERRORS = ("InvalidAccessKeyId", "SignatureDoesNotMatch")
TOKEN_ERRORS = ("SecurityTokenExpired", "InvalidSecurityToken")
HEAD_OPERATIONS = ("HeadObject", "GetObjectMeta")


def storage_configs() -> dict[str, dict[str, Any]]:
    """Every configured storage alias -> ``{"BACKEND": ..., "OPTIONS": {...}}``, as
    Django's storage handler resolves them.

    ``STORAGES``, except on Django < 5.1 where an overridden ``DEFAULT_FILE_STORAGE`` /
    ``STATICFILES_STORAGE`` naming another backend wins (Django 4.2 copies a legacy
    setting into ``STORAGES`` at startup, but not under ``override_settings``).
    """
    configs = {alias: dict(config) for alias, config in getattr(settings, "STORAGES", {}).items()}
    if django.VERSION < (5, 1):
        for alias, setting in LEGACY_SETTINGS.items():
            if not settings.is_overridden(setting):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the setting's deprecation warning
                backend = getattr(settings, setting)
            if backend and configs.get(alias, {}).get("BACKEND") != backend:
                configs[alias] = {"BACKEND": backend}
    return configs


def backend_class(config: Mapping[str, Any]) -> type[OSSStorage] | None:
    """The config's backend class if it is one of ours (OSSStorage or a subclass), else
    None. Raises ImportError when the backend cannot be imported."""
    backend = config.get("BACKEND")
    if not isinstance(backend, str):
        return None
    cls = import_string(backend)
    return cls if isinstance(cls, type) and issubclass(cls, OSSStorage) else None


def build_storage(cls: type[OSSStorage], options: Mapping[str, Any]) -> OSSStorage:
    """An instance of ``cls`` configured from ``options``, without network access.

    Only :class:`OSSStorage`'s ``__init__`` runs (option parsing and validation): the
    ``__init__`` of mixins such as ``ManifestFilesMixin`` is skipped, because it reads
    ``staticfiles.json`` from the bucket. Raises ImproperlyConfigured like the
    constructor does.
    """
    storage = cls.__new__(cls)
    OSSStorage.__init__(storage, **dict(options))
    return storage


def storage_for_alias(alias: str) -> tuple[OSSStorage, Mapping[str, Any]]:
    """(storage, config) for ``alias``; ImproperlyConfigured when it is not configured
    or not a django-alioss storage."""
    configs = storage_configs()
    if alias not in configs:
        known = ", ".join(sorted(configs)) or "none"
        raise ImproperlyConfigured(f"no storage alias {alias!r} in STORAGES (configured: {known})")
    config = configs[alias]
    try:
        cls = backend_class(config)
    except ImportError as exc:
        raise ImproperlyConfigured(f"STORAGES[{alias!r}]: cannot import backend: {exc}") from None
    if cls is None:
        raise ImproperlyConfigured(
            f"STORAGES[{alias!r}] uses {config.get('BACKEND')!r}, not a django-alioss storage "
            "(django_alioss.storage.OSSStorage or a subclass)")
    return build_storage(cls, config.get("OPTIONS") or {}), config


def configured_value(cls: type[OSSStorage], options: Mapping[str, Any], name: str,
                     alias: str) -> tuple[Any, str]:
    """(raw value, where it came from) of option ``name``, in the storage's lookup order:
    OPTIONS, class attribute, ``ALIOSS_<NAME>`` setting, environment, default."""
    option = OPTIONS[name]
    if name in options:
        return options[name], f"STORAGES[{alias!r}]['OPTIONS'][{name!r}]"
    if hasattr(cls, name):
        return getattr(cls, name), f"{cls.__name__}.{name}"
    setting = option.setting_name
    if hasattr(settings, setting):
        return getattr(settings, setting), f"setting {setting}"
    if setting in os.environ:
        return os.environ[setting], f"environment variable {setting}"
    return option.default, "the default"


def credentials_info(storage: OSSStorage) -> dict[str, Any]:
    """``storage.credentials.describe()``, or ``{}`` when the provider cannot be built."""
    try:
        return storage.credentials.describe()
    except (ImproperlyConfigured, CredentialsUnavailable):
        return {}


def _grantee(storage: OSSStorage) -> str:
    """Where permissions of the storage's credentials are granted, in words."""
    info = credentials_info(storage)
    source = info.get("source")
    role = info.get("role_arn")
    if source in ("rrsa", "ram_role_arn") and role:
        where = f"a RAM policy attached to role {role}"
        if storage.role_policy:
            where += " (and the session policy in the role_policy option, which narrows it)"
        return where
    if source == "ecs_ram_role":
        role_name = storage.ecs_role_name or "(auto-detected)"
        return f"a RAM policy attached to the worker RAM role {role_name}"
    key = info.get("access_key_id")
    owner = (f"the RAM user that owns AccessKey {key}" if key
             else "the RAM user or role whose keys are used")
    if source == "static-fallback":
        owner += " (the static fallback: RRSA was not used, see the credentials step)"
    return f"a RAM policy attached to {owner}"


def explain(exc: BaseException, storage: OSSStorage | None = None) -> str:
    """One line: what failed and how to fix it (never a secret)."""
    if isinstance(exc, CredentialsUnavailable):
        return f"no credentials: {exc}"
    if isinstance(exc, ImproperlyConfigured):
        return f"configuration: {exc}"
    if not isinstance(exc, OSSError):
        return f"{type(exc).__name__}: {exc}"
    text = str(exc)
    endpoint = storage.endpoint if storage is not None else "the endpoint"
    bucket = storage.bucket_name if storage is not None else "<bucket>"
    if exc.status == -2:
        return (f"{text} -> cannot reach {endpoint}: check the endpoint option "
                "(ALIOSS_ENDPOINT), DNS and the network path (-internal endpoints only "
                "answer inside the region's VPC)")
    if exc.code == "AccessDenied" or (exc.status == 403
                                      and exc.code not in (*KEY_ERRORS, *TOKEN_ERRORS)):
        where = _grantee(storage) if storage is not None else "the RAM policy of the credentials"
        if exc.auth_action:
            return (f"{text} -> the credentials lack {exc.auth_action}: allow "
                    f"{exc.auth_action} on acs:oss:*:*:{bucket}/* in {where}")
        if exc.operation in HEAD_OPERATIONS:
            return (f"{text} -> a HEAD answer carries no detail; the credentials probably lack "
                    f"oss:GetObject: allow it on acs:oss:*:*:{bucket}/* in {where}")
        return (f"{text} -> OSS refused without naming a RAM action: the request was "
                "anonymous (unsigned URLs, from querystring_auth=False or custom_domain, need "
                "public-read objects: set default_acl='public-read' or make the bucket "
                "public-read) or a bucket policy denies it")
    if exc.code in KEY_ERRORS:
        return (f"{text} -> check the AccessKey id and secret (access_key_id/"
                "access_key_secret, ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET) and that the "
                "endpoint belongs to the same cloud")
    if exc.code in TOKEN_ERRORS:
        return (f"{text} -> OSS rejected the STS token: check this host's clock and that "
                "the STS endpoint issues tokens for this account")
    if exc.code == "NoSuchBucket":
        return (f"{text} -> bucket {bucket} does not exist at {endpoint}: check "
                "bucket_name and the endpoint's region")
    if exc.code == "RequestTimeTooSkewed":
        return f"{text} -> this host's clock is more than 15 minutes off: synchronise it (NTP)"
    return text


def format_age(seconds: float) -> str:
    """``93784`` -> ``1d 2h 3m``; under a minute: ``42s``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts)
