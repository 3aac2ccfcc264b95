"""Point a Django project's django-alioss storages at an emulator for one test: what the
``alioss_storages`` fixture of the pytest plugin does.

Every ``STORAGES`` alias whose backend is a django-alioss class gets the emulator's
endpoint, bucket, region and credentials in its ``OPTIONS`` (they win over class
attributes, ``ALIOSS_*`` settings and the environment), whatever it named before: real
OSS is never contacted. Its other options (``location``, ACLs, signature version, ...)
are kept. Django's storage cache is reset (``storages``, ``default_storage``,
``staticfiles_storage``), and so are model ``FileField``\\ s that hold a django-alioss
storage instance. Undoing the settings override (which Django answers by resetting the
storage cache again) and the field patches puts everything back.

Needs configured Django settings; imports Django only when used.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import django
from django.apps import apps
from django.conf import settings
from django.core.files.storage import storages
from django.db.models import FileField
from django.utils.functional import LazyObject, empty

from ..diagnostics import backend_class, storage_configs
from ..storage import OSSStorage

if TYPE_CHECKING:
    from .emulator import Emulator

RRSA = "rrsa"
STATIC_KEYS = "static"
MODES = (RRSA, STATIC_KEYS)
SESSION_NAME = "alioss-pytest"


def emulator_options(emulator: Emulator, mode: str = RRSA) -> dict[str, Any]:
    """The options that send a storage to ``emulator``: its endpoint, bucket and region,
    no URL domain of its own (nor CDN URL authentication for one), and RRSA through its
    STS and OIDC token file (``rrsa``, no fallback) or its RAM user's AccessKey
    (``static``)."""
    if mode not in MODES:
        raise ValueError(f"alioss_storages mode must be one of {', '.join(MODES)}; got {mode!r}")
    options: dict[str, Any] = {
        "endpoint": emulator.endpoint, "bucket_name": emulator.bucket_name,
        "region": emulator.region, "public_endpoint": None, "custom_domain": None,
        "is_cname": False, "cdn_auth_type": None, "cdn_auth_key": None,
        "sts_endpoint": emulator.sts_endpoint, "sts_region": None,
        "sts_vpc_endpoint": None, "security_token": None, "role_policy": None,
        "ecs_role_name": None, "credentials_provider": mode,
    }
    if mode == STATIC_KEYS:
        return {**options, "access_key_id": emulator.access_key_id,
                "access_key_secret": emulator.access_key_secret, "role_arn": None,
                "oidc_provider_arn": None, "oidc_token_file": None}
    return {**options, "access_key_id": None, "access_key_secret": None,
            "role_arn": emulator.role_arn, "oidc_provider_arn": emulator.oidc_provider_arn,
            "oidc_token_file": emulator.oidc_token_file, "role_session_name": SESSION_NAME,
            "rrsa_fallback": False}


def reset_storage_cache(backends: Mapping[str, Any] | None = None) -> None:
    """Forget every storage Django built (``storages``, ``default_storage``,
    ``staticfiles_storage``). With ``backends`` (Django < 5.1), the handler uses them as
    they are: an overridden ``STORAGES`` also overrides ``DEFAULT_FILE_STORAGE`` there,
    and the handler would rebuild the default storage from its ``BACKEND`` alone."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.files.storage import default_storage

    handler: Any = storages  # Django's private cache attributes (typed stubs omit them)
    handler.__dict__.pop("backends", None)  # a cached_property
    handler._backends = dict(backends) if backends is not None else None
    handler._storages = {}
    lazy: Any
    for lazy in (default_storage, staticfiles_storage):
        lazy._wrapped = empty


class EmulatedStorages:
    """The django-alioss storages of ``STORAGES``, pointed at one emulator.

    ``set_setting(name, value)`` applies a setting override (pytest-django's
    ``settings`` fixture, or :class:`django.test.override_settings`) that the caller
    undoes; ``patch(obj, name, value)`` replaces an attribute until the caller undoes it
    (``monkeypatch.setattr``).
    """

    def __init__(self, emulator: Emulator, mode: str,
                 set_setting: Callable[[str, Any], None],
                 patch: Callable[[Any, str, Any], None]) -> None:
        self.emulator = emulator
        self.mode = mode
        self._set_setting = set_setting
        self._patch = patch
        self.options: dict[str, dict[str, Any]] = {}

    @property
    def aliases(self) -> list[str]:
        """The aliases pointed at the emulator."""
        return sorted(self.options)

    def apply(self) -> None:
        """Point every django-alioss alias of the current ``STORAGES`` at the emulator
        (call it again after changing ``STORAGES`` in the test)."""
        overrides = emulator_options(self.emulator, self.mode)
        configured = storage_configs()
        changed = copy.deepcopy(dict(getattr(settings, "STORAGES", {})))
        self.options = {}
        for alias, config in configured.items():
            if backend_class(config) is None:
                continue
            options = {**(config.get("OPTIONS") or {}), **overrides}
            changed[alias] = {**config, "OPTIONS": options}
            self.options[alias] = options
        self._set_setting("STORAGES", changed)
        reset_storage_cache(changed if django.VERSION < (5, 1) else None)
        self._patch_model_fields(overrides)

    def _patch_model_fields(self, overrides: Mapping[str, Any]) -> None:
        """Model fields built with a django-alioss storage instance (``storage=...``)
        get the same storage, rebuilt from its constructor arguments plus ``overrides``."""
        for model in apps.get_models():
            for field in model._meta.get_fields():
                storage = getattr(field, "storage", None)
                if (not isinstance(field, FileField) or isinstance(storage, LazyObject)
                        or not isinstance(storage, OSSStorage)):
                    continue  # default_storage (a LazyObject) follows the reset cache
                _, kwargs = getattr(storage, "_constructor_args", ((), {}))
                self._patch(field, "storage", type(storage)(**{**kwargs, **overrides}))
