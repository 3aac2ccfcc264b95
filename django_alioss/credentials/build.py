"""The entry point: options -> a (shared) provider; and a pickled provider -> a provider.

``build_provider(options)`` parses the options once with the option table, applies the
resolution rule (:mod:`.resolve`) and returns the live provider of an identical
configuration from the process registry (:mod:`.registry`) or a new one. No network.

Pickling a provider keeps only its non-secret options (:meth:`CredentialOptions.restorable`):
unpickling in the same process returns the live shared provider; elsewhere the provider
is rebuilt from those options and ``os.environ``. Secrets that were given directly in
the options are never pickled (a ``credentials_provider`` callable is pickled by
reference, so it must be a module-level name); they are recovered from
``ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET`` when that environment names the same AccessKey id,
otherwise the unpickled provider raises :class:`~.errors.CredentialsUnavailable` on use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..redaction import mask_key_id
from .environment import ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN, env_value
from .providers import Clock, CredentialsProvider, Recipe, UnavailableProvider
from .registry import REGISTRY, digest
from .resolve import CredentialOptions, Resolver


def build_provider(options: Mapping[str, Any], *, clock: Clock = time.time,
                   shared: bool = True) -> CredentialsProvider:
    """The credentials provider for ``options`` (see the module docstring). No network.

    ``options`` holds credential options by name, raw or already parsed (the storage
    passes its parsed attributes), and optionally ``environ``, the environment to read
    instead of ``os.environ``. ``clock`` is the time source of the cache (tests move it
    with the emulator's clock). ``shared=True`` returns the live provider already built
    for an identical configuration in this process, if any. Raises
    ``ImproperlyConfigured`` for invalid options; unavailable credentials surface as
    :class:`~.errors.CredentialsUnavailable` at first use, not here.
    """
    parsed = CredentialOptions(options)
    environ = options.get("environ")
    plan = Resolver(parsed, os.environ if environ is None else environ, clock).plan()
    config_id = digest(plan.key)
    recipe = Recipe(restore_provider, {
        "options": parsed.restorable(), "config_id": config_id,
        "clock": clock if clock is time.time else None,
        "secrets_in_options": parsed.secrets_given()})
    if not shared:
        return plan.build(recipe)
    return REGISTRY.get_or_build(config_id, lambda: plan.build(recipe))


def restore_provider(state: Mapping[str, Any]) -> CredentialsProvider:
    """Unpickle: the live provider of this configuration, else one rebuilt from the
    non-secret options and ``os.environ`` (see the module docstring)."""
    live = REGISTRY.get(state.get("config_id") or "")
    if live is not None:
        return live
    recipe = Recipe(restore_provider, state)
    options = dict(state.get("options") or {})
    if state.get("secrets_in_options"):
        ak = (options.get("access_key_id") or "").strip()
        env_ak = env_value(os.environ, ENV_ACCESS_KEY_ID)[0]
        env_sk = env_value(os.environ, ENV_ACCESS_KEY_SECRET)[0]
        if not (ak and ak == env_ak and env_sk):
            return UnavailableProvider(
                "static", recipe=recipe,
                why=f"unpickled provider for AccessKey {mask_key_id(ak)}: secrets given in "
                    "the options are never pickled; rebuild it with build_provider(options) "
                    "in this process")
        options["access_key_secret"] = env_sk
        options["security_token"] = env_value(os.environ, ENV_SECURITY_TOKEN)[0] or None
    try:
        return build_provider(options, clock=state.get("clock") or time.time)
    except ImproperlyConfigured as exc:
        return UnavailableProvider(
            "custom", recipe=recipe,
            why=f"unpickled provider could not be rebuilt from its non-secret options: {exc}")
