"""What a storage holds: a :class:`CredentialsProvider` serving credentials to oss2.

- :class:`StaticProvider`: fixed keys; no expiry, no refresh, no lock.
- :class:`UnavailableProvider`: a configuration that cannot give credentials; every use
  raises :class:`~.errors.CredentialsUnavailable` with the stored reason.
- :class:`RefreshingProvider`: the cache in front of a refreshable
  :class:`~.sources.Source`.

The cache refreshes ahead once less than ``max(REFRESH_MARGIN_MIN, lifetime *
REFRESH_FRACTION)`` remains, with one fetch per refresh across threads (others keep the
still-valid credentials meanwhile). The last good credentials are kept through failed
refreshes until they expire (minus ``EXPIRY_SKEW``); retries back off exponentially
with jitter (:func:`django_alioss.retry.backoff`, ``BACKOFF_BASE`` doubling to
``BACKOFF_CAP``); ``invalidate(snapshot)`` forces a refresh after OSS rejected a token.
Credentials without an expiration are kept for good when they carry no token, and
re-fetched every ``UNKNOWN_EXPIRY_REFRESH`` seconds when they do.

``get_credentials()`` is the hot path (oss2 calls it for every request and every
``sign_url``): while the cached credentials are fresh it costs one attribute read and
one clock call; while another thread refreshes them ahead, a lock test and one more.

Providers are config-immutable and shared: copies are the object itself, and a pickle
holds only the provider's :class:`Recipe` (non-secret state and the function that
rebuilds it, see :mod:`.registry`).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..redaction import mask_key_id
from ..retry import backoff
from .environment import ENV_ACCESS_KEY_ID
from .errors import CredentialsUnavailable, scrub
from .sdk import describe_error
from .snapshot import Snapshot, iso, oss2_credentials
from .sources import Source

if TYPE_CHECKING:
    import oss2.credentials

logger = logging.getLogger("django_alioss")

Clock = Callable[[], float]

#: Refresh ahead when less than max(REFRESH_MARGIN_MIN, lifetime * REFRESH_FRACTION) remains.
REFRESH_MARGIN_MIN = 300.0
REFRESH_FRACTION = 0.25
#: Credentials are served until this many seconds before their expiration.
EXPIRY_SKEW = 10.0
#: Retry delays after failed refreshes: BACKOFF_BASE doubling up to BACKOFF_CAP, jittered.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
#: Re-fetch interval for credentials that carry a token but no expiration.
UNKNOWN_EXPIRY_REFRESH = 600.0

_INF = math.inf


@dataclass(frozen=True)
class Recipe:
    """How a provider is pickled: ``rebuild(state)`` at unpickling; ``state`` holds no
    secret (and ``config_id``, the provider's registry key)."""

    rebuild: Callable[[Mapping[str, Any]], CredentialsProvider]
    state: Mapping[str, Any]


class CredentialsProvider:
    """What the storage holds: ``get_credentials()`` for oss2, plus diagnostics."""

    source = "custom"

    def __init__(self, *, why: str, details: Mapping[str, Any] | None = None,
                 recipe: Recipe | None = None) -> None:
        self.why = why
        self._details = dict(details or {})
        self._recipe = recipe

    def get_credentials(self) -> oss2.credentials.Credentials:
        """Current credentials as ``oss2.credentials.Credentials`` (the oss2 seam)."""
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        """Current credentials as a :class:`Snapshot` (same freshness rules)."""
        raise NotImplementedError

    def invalidate(self, snap: Snapshot | oss2.credentials.Credentials) -> None:
        """OSS rejected ``snap`` (expired/invalid token): refresh before the next use."""

    def describe(self) -> dict[str, Any]:
        """Diagnostics without secrets."""
        info: dict[str, Any] = {
            "source": self.source, "why": self.why,
            "role_arn": None, "role_session_name": None, "oidc_token_file": None,
            "sts_endpoint": None, "expiration": None, "last_refresh": None,
            "sts_calls": 0, "refresh_failures": 0, "access_key_id": None,
            "config_id": self._recipe.state.get("config_id") if self._recipe else None,
        }
        info.update(self._details)
        return info

    def __repr__(self) -> str:
        info = self.describe()
        return (f"<{type(self).__name__} source={info['source']!r} "
                f"access_key_id={info['access_key_id']!r} expiration={info['expiration']!r}>")

    __str__ = __repr__

    def __copy__(self) -> CredentialsProvider:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> CredentialsProvider:
        return self

    def __reduce__(self) -> Any:
        if self._recipe is None:
            raise TypeError(f"{type(self).__name__} not made by build_provider() cannot be "
                            "pickled")
        return (self._recipe.rebuild, (copy.copy(dict(self._recipe.state)),))


class StaticProvider(CredentialsProvider):
    """Fixed credentials: no expiry, no refresh, no lock."""

    def __init__(self, snap: Snapshot, *, why: str, details: Mapping[str, Any] | None = None,
                 recipe: Recipe | None = None) -> None:
        super().__init__(why=why, details=details, recipe=recipe)
        self.source = snap.source
        self._snap = snap
        self._creds = oss2_credentials(snap)

    def get_credentials(self) -> oss2.credentials.Credentials:
        return self._creds

    def snapshot(self) -> Snapshot:
        return self._snap

    def invalidate(self, snap: Snapshot | oss2.credentials.Credentials) -> None:
        logger.debug("credentials %s were rejected; static credentials cannot be refreshed",
                     mask_key_id(self._snap.access_key_id))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["access_key_id"] = mask_key_id(self._snap.access_key_id)
        info["expiration"] = iso(self._snap.expiration)
        info["security_token"] = "set" if self._snap.security_token else None
        return info


class UnavailableProvider(CredentialsProvider):
    """A configuration that cannot give credentials: every use raises the stored reason."""

    def __init__(self, source: str, *, why: str, details: Mapping[str, Any] | None = None,
                 recipe: Recipe | None = None) -> None:
        super().__init__(why=why, details=details, recipe=recipe)
        self.source = source

    def get_credentials(self) -> oss2.credentials.Credentials:
        raise CredentialsUnavailable(self.why)

    def snapshot(self) -> Snapshot:
        raise CredentialsUnavailable(self.why)


class CacheState(NamedTuple):
    """What the cache serves, and until when (replaced whole, never mutated)."""

    snap: Snapshot
    creds: Any  # oss2.credentials.Credentials
    refresh_at: float  # refresh ahead from this moment
    usable_until: float  # serve until this moment


class RefreshingProvider(CredentialsProvider):
    """The refresh-ahead cache in front of a refreshable :class:`~.sources.Source`.

    ``fallback`` (RRSA only): static credentials to switch to, permanently, if the very
    first fetch fails; ``fallback_missing`` explains why there are none (then the first
    failure raises listing both attempts). ``fallback=None`` and
    ``fallback_missing=None`` mean no fallback at all (``rrsa_fallback=False``).
    """

    def __init__(self, source: Source, *, clock: Clock, why: str,
                 fallback: Snapshot | None = None, fallback_missing: str | None = None,
                 recipe: Recipe | None = None) -> None:
        super().__init__(why=why, recipe=recipe)
        self.source = source.name
        self._source = source
        self._clock = clock
        self._fallback = fallback
        self._fallback_missing = fallback_missing
        self._fallback_reason: str | None = None
        self._lock = threading.Lock()
        self._state: CacheState | None = None
        self._ever_succeeded = False
        self._next_attempt = -_INF
        self._failures = 0
        self._total_failures = 0
        self._calls = 0
        self._last_error: str | None = None
        self._last_refresh: float | None = None

    # -- hot path ------------------------------------------------------------------------------
    def get_credentials(self) -> oss2.credentials.Credentials:
        state = self._state
        if state is not None and self._clock() < state.refresh_at:
            return state.creds
        return (self._while_refreshing() or self._current()).creds

    def snapshot(self) -> Snapshot:
        state = self._state
        if state is not None and self._clock() < state.refresh_at:
            return state.snap
        return (self._while_refreshing() or self._current()).snap

    def _while_refreshing(self) -> CacheState | None:
        """While another thread holds the lock (refreshing ahead), the credentials still
        valid: what :meth:`_current` would return, without its slow path (during a refresh
        every other call comes here; going through it cost ~10% of a signed URL)."""
        if self._lock.locked():
            newest = self._state
            if newest is not None and self._clock() < newest.usable_until:
                return newest
        return None

    # -- slow path -----------------------------------------------------------------------------
    def _current(self) -> CacheState:
        now = self._clock()
        state = self._state
        if state is not None and now < state.usable_until:
            # Still valid, refresh ahead: one thread refreshes, the others carry on.
            if now >= self._next_attempt and self._lock.acquire(blocking=False):
                try:
                    if self._state is state:
                        error = self._attempt()
                        if error is not None:
                            self._log_failure(error, state)
                finally:
                    self._lock.release()
            newest = self._state
            if newest is not None and self._clock() < newest.usable_until:
                return newest
        # Nothing valid (expired, invalidated or never fetched): wait for whoever
        # refreshes, or refresh ourselves.
        with self._lock:
            now = self._clock()
            state = self._state
            if state is not None and now < state.usable_until:
                return state
            if now < self._next_attempt:
                raise self._unavailable(now)
            error = self._attempt()
            if error is None:
                assert self._state is not None
                return self._state
            if not self._ever_succeeded:
                return self._first_failure(error)
            raise self._unavailable(self._clock())

    def _attempt(self) -> str | None:
        """One fetch (lock held). Installs the result, or records and returns the error.

        The exception is reduced to a scrubbed line here and dropped, so that nothing
        raised later can carry it (or a secret it quotes) as its context.
        """
        self._calls += 1
        started = self._clock()
        try:
            snap = self._source.fetch()
            if snap.expiration is not None and snap.expiration - EXPIRY_SKEW <= self._clock():
                raise CredentialsUnavailable(
                    f"the credentials received expire at {iso(snap.expiration)}, which is "
                    f"already past on this host's clock ({iso(self._clock())}): clock skew?")
        except Exception as exc:
            self._failures += 1
            self._total_failures += 1
            self._last_error = self._scrub(describe_error(exc))
            self._next_attempt = self._clock() + backoff(
                self._failures, base=BACKOFF_BASE, cap=BACKOFF_CAP)
            return self._last_error
        self._install(snap, started)
        self._failures = 0
        self._next_attempt = -_INF
        self._ever_succeeded = True
        self._last_refresh = started
        logger.debug("credentials refreshed from %s: %s, expiring %s", self.source,
                     mask_key_id(snap.access_key_id), iso(snap.expiration))
        return None

    def _install(self, snap: Snapshot, started: float) -> None:
        creds = oss2_credentials(snap)
        if snap.expiration is None:
            refresh_at = started + UNKNOWN_EXPIRY_REFRESH if snap.security_token else _INF
            self._state = CacheState(snap, creds, refresh_at, _INF)
            return
        lifetime = snap.expiration - started
        margin = max(REFRESH_MARGIN_MIN, lifetime * REFRESH_FRACTION)
        usable_until = snap.expiration - EXPIRY_SKEW
        # Never plan the next refresh sooner than half the remaining time: credentials
        # shorter-lived than the margin must not turn every request into an STS call.
        refresh_at = max(snap.expiration - margin, started + (usable_until - started) / 2)
        self._state = CacheState(snap, creds, refresh_at, usable_until)

    def _first_failure(self, error: str) -> CacheState:
        """The first fetch failed (lock held): fall back to static keys, or raise."""
        if self._fallback is not None:
            role = self._source.details().get("role_arn")
            self._fallback_reason = f"{self.source} failed at first use: {error}"
            logger.warning(
                "django-alioss: %s credentials for role %s unavailable (%s); falling back to "
                "static AccessKey %s from %s", self.source.upper(), role, error,
                mask_key_id(self._fallback.access_key_id), ENV_ACCESS_KEY_ID)
            self.source = "static-fallback"
            self._state = CacheState(self._fallback, oss2_credentials(self._fallback), _INF, _INF)
            self._next_attempt = -_INF
            return self._state
        message = f"{self._summary()}: {error}"
        if self._fallback_missing is not None:
            message += f"; static fallback: {self._fallback_missing}"
        raise CredentialsUnavailable(message + self._retry_note(self._clock()))

    def _unavailable(self, now: float) -> CredentialsUnavailable:
        state = self._state
        if state is not None and state.usable_until == -_INF:
            detail = (f"credentials {mask_key_id(state.snap.access_key_id)} were rejected "
                      "(invalidated)")
        elif state is not None and state.snap.expiration is not None:
            detail = (f"credentials {mask_key_id(state.snap.access_key_id)} expired at "
                      f"{iso(state.snap.expiration)}")
        else:
            detail = "no credentials obtained yet"
        message = f"{self._summary()}: {detail}; last error: {self._last_error}"
        if self._fallback_missing is not None and not self._ever_succeeded:
            message += f"; static fallback: {self._fallback_missing}"
        return CredentialsUnavailable(message + self._retry_note(now))

    def _summary(self) -> str:
        role = self._source.details().get("role_arn")
        return f"no usable credentials from {self._source.name}" + (
            f" (role {role})" if role else "")

    def _retry_note(self, now: float) -> str:
        wait = max(0.0, self._next_attempt - now)
        return f"; {self._failures} consecutive failure(s), next attempt in {wait:.1f}s"

    def _log_failure(self, error: str, state: CacheState | None) -> None:
        until = iso(state.snap.expiration) if state is not None else None
        logger.warning(
            "django-alioss: refreshing %s credentials failed (%d consecutive): %s; "
            "current credentials stay in use until %s; next attempt in %.1fs",
            self.source, self._failures, error, until,
            max(0.0, self._next_attempt - self._clock()))

    def _scrub(self, text: str) -> str:
        known: list[str | None] = list(self._source.secrets())
        state = self._state
        if state is not None:
            known += [state.snap.access_key_secret, state.snap.security_token]
        if self._fallback is not None:
            known += [self._fallback.access_key_secret, self._fallback.security_token]
        return scrub(text, tuple(known))

    # -- invalidation & diagnostics --------------------------------------------------------------
    def invalidate(self, snap: Snapshot | oss2.credentials.Credentials) -> None:
        state = self._state
        if state is None or (snap is not state.snap and snap is not state.creds):
            return  # already replaced (or never served)
        if self.source == "static-fallback":
            logger.debug("static fallback credentials were rejected; nothing to refresh")
            return
        with self._lock:
            if self._state is state:
                self._state = state._replace(refresh_at=-_INF, usable_until=-_INF)
                self._next_attempt = -_INF
                logger.info("django-alioss: credentials %s were rejected by OSS; "
                            "refreshing before next use", mask_key_id(state.snap.access_key_id))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(self._source.details())
        state = self._state
        info.update({
            "why": self.why if self._fallback_reason is None
            else f"{self.why}; {self._fallback_reason}",
            "sts_calls": self._calls,
            "refresh_failures": self._total_failures,
            "consecutive_failures": self._failures,
            "last_error": self._last_error,
            "last_refresh": iso(self._last_refresh),
            "next_attempt": iso(self._next_attempt),
        })
        if state is not None:
            info["access_key_id"] = mask_key_id(state.snap.access_key_id)
            info["expiration"] = iso(state.snap.expiration)
            info["refresh_at"] = iso(state.refresh_at)
            info["security_token"] = "set" if state.snap.security_token else None
        return info
