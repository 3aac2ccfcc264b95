"""Credentials for OSS: RRSA first, static keys as fallback, every other source, cached.

``build_provider(options)`` turns the credential options into a
:class:`CredentialsProvider` (no network call). ``provider.get_credentials()`` returns an
``oss2.credentials.Credentials``, so ``oss2.ProviderAuthV4(provider)`` can sign with it.

The package, one job per module; each module imports only modules listed before it
(``tests/backend/test_credentials_resolution.py`` checks it):

- :mod:`.errors`: :class:`CredentialsUnavailable`; scrubbing secrets out of messages.
- :mod:`.snapshot`: :class:`Snapshot` and the oss2 ``Credentials`` adapter, no secret in
  their reprs, neither picklable.
- :mod:`.environment`: the environment variables read, and how.
- :mod:`.sdk`: the alibabacloud-credentials adapter (lazy import, logging neutralised by
  :func:`ensure_sdk_logging_quiet`, one fetch per fresh SDK provider, error lines).
- :mod:`.sources`: RRSA (OIDC), AssumeRole, ECS RAM role, callables, the default chain.
- :mod:`.providers`: static, unavailable, and the refresh-ahead cache (single flight,
  backoff, last good credentials, RRSA's fallback to static keys).
- :mod:`.registry`: one live provider per configuration in the process, keyed by a
  salted digest.
- :mod:`.resolve`: the parsed options and the resolution rule (quoted in the README).
- :mod:`.build`: :func:`build_provider` and unpickling.

Time: the cache uses ``clock`` (keyword of :func:`build_provider`, default
``time.time``). Tests that move the emulator's clock pass a clock that moves with it.

Secrets: no secret key, security token or OIDC token appears in ``repr``/``str``,
exception messages (or their ``__cause__``/``__context__``), log records or pickles.
"""

from __future__ import annotations

from .build import build_provider
from .errors import CredentialsUnavailable
from .providers import CredentialsProvider, RefreshingProvider, StaticProvider, UnavailableProvider
from .sdk import ensure_sdk_logging_quiet
from .snapshot import Snapshot

__all__ = [
    "CredentialsProvider",
    "CredentialsUnavailable",
    "RefreshingProvider",
    "Snapshot",
    "StaticProvider",
    "UnavailableProvider",
    "build_provider",
    "ensure_sdk_logging_quiet",
]
