"""The process registry: one live provider per distinct configuration.

Identical configurations in one process share one provider (one STS call per refresh
for the whole process). Keys are :func:`digest` values: an HMAC with a random
per-process salt, so no raw secret is ever a key and a key means nothing elsewhere.
Entries are weak: a provider no storage holds any more is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .providers import CredentialsProvider

_SALT = secrets.token_bytes(16)


def digest(*values: Any) -> str:
    """A salted (per process) hash of ``values``' repr: stands for secrets in registry
    keys and pickles."""
    return hmac.new(_SALT, repr(values).encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class ProviderRegistry:
    """Live providers by configuration digest (weakly held, thread-safe)."""

    def __init__(self) -> None:
        self._providers: weakref.WeakValueDictionary[str, CredentialsProvider] = \
            weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get(self, config_id: str) -> CredentialsProvider | None:
        """The live provider of ``config_id``, if any."""
        return self._providers.get(config_id)

    def get_or_build(self, config_id: str,
                     build: Callable[[], CredentialsProvider]) -> CredentialsProvider:
        """The live provider of ``config_id``, else ``build()``'s, registered."""
        with self._lock:
            provider = self._providers.get(config_id)
            if provider is None:
                provider = build()
                self._providers[config_id] = provider
            return provider


#: The registry of this process.
REGISTRY = ProviderRegistry()
