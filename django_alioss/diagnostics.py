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

from .client.errors import Failure, Target, grantee, hint_for
from .credentials import CredentialsUnavailable
from .exceptions import OSSError
from .options import OPTIONS
from .storage import OSSStorage

#: Settings that named the backends of two aliases before Django 5.1.
LEGACY_SETTINGS = {"default": "DEFAULT_FILE_STORAGE", "staticfiles": "STATICFILES_STORAGE"}


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
    return grantee(credentials_info(storage), role_policy=bool(storage.role_policy),
                   ecs_role_name=storage.ecs_role_name)


def explain(exc: BaseException, storage: OSSStorage | None = None) -> str:
    """One line: what failed and how to fix it (never a secret). OSS failures get the
    hint of :data:`django_alioss.client.errors.HINTS` (the table their messages use),
    naming the storage's bucket, endpoint and the RAM principal to grant."""
    if isinstance(exc, CredentialsUnavailable):
        return f"no credentials: {exc}"
    if isinstance(exc, ImproperlyConfigured):
        return f"configuration: {exc}"
    if not isinstance(exc, OSSError):
        return f"{type(exc).__name__}: {exc}"
    text = exc.summary
    if storage is None:
        target, where = Target("the endpoint", "<bucket>"), ""
    else:
        target = Target(storage.endpoint, storage.bucket_name, storage.region)
        where = _grantee(storage)
    failure = Failure(exc.status, exc.code, text, exc.operation, exc.auth_action)
    hint = hint_for(failure, target, where)
    return f"{text} -> {hint}" if hint else text


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
