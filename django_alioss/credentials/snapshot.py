"""One set of credentials at a point in time, and its oss2 form, neither showing a secret.

:class:`Snapshot` is what every source returns and every provider serves;
:func:`oss2_credentials` is the ``oss2.credentials.Credentials`` that oss2 signs with.
Both have a repr without secrets and refuse to be pickled. :func:`snapshot_from`
normalises whatever a source returned (oss2 or SDK credentials, any object, a mapping).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..redaction import mask_key_id
from .errors import CredentialsUnavailable

if TYPE_CHECKING:
    import oss2.credentials


def iso(epoch: float | None) -> str | None:
    """``2026-01-15T08:00:00Z`` for an epoch; None for None or an infinite time."""
    if epoch is None or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, repr=False, eq=False)
class Snapshot:
    """One set of credentials as served at a point in time (immutable).

    ``security_token`` is None for plain AccessKeys; ``expiration`` is an epoch float or
    None (never expires). ``repr`` shows no secret; snapshots cannot be pickled.
    """

    access_key_id: str
    access_key_secret: str
    security_token: str | None
    expiration: float | None
    source: str

    def __repr__(self) -> str:
        return (f"Snapshot(access_key_id={mask_key_id(self.access_key_id)!r}, "
                f"security_token={'<set>' if self.security_token else None}, "
                f"expiration={iso(self.expiration)!r}, source={self.source!r})")

    def __reduce__(self) -> Any:
        raise TypeError("Snapshot holds secrets and is not picklable")

    def __copy__(self) -> Snapshot:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Snapshot:
        return self

    def relabelled(self, source: str) -> Snapshot:
        """The same credentials, served as coming from ``source``."""
        return Snapshot(self.access_key_id, self.access_key_secret, self.security_token,
                        self.expiration, source)


_OSS2_CLASS: type | None = None


def oss2_credentials(snap: Snapshot) -> oss2.credentials.Credentials:
    """``snap`` as ``oss2.credentials.Credentials`` whose repr shows no secret and which
    cannot be pickled (oss2 is imported on first use)."""
    global _OSS2_CLASS
    if _OSS2_CLASS is None:
        from oss2.credentials import Credentials

        class SecretFreeCredentials(Credentials):
            def __repr__(self) -> str:
                return (f"<oss2 Credentials {mask_key_id(self.access_key_id)}"
                        f"{' +token' if self.security_token else ''}>")

            __str__ = __repr__

            def __reduce__(self) -> Any:
                raise TypeError("credentials hold secrets and are not picklable")

        _OSS2_CLASS = SecretFreeCredentials
    return _OSS2_CLASS(snap.access_key_id, snap.access_key_secret, snap.security_token or "")


def parse_expiration(value: Any) -> float | None:
    """Epoch seconds from an int/float, aware/naive-UTC datetime or ISO-8601 string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("expiration must be a number, datetime or ISO-8601 string")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        return parse_expiration(datetime.fromisoformat(text))
    raise TypeError(f"unsupported expiration type {type(value).__name__}")


def _field(obj: Any, name: str) -> Any:
    """``obj.name``, ``obj.get_name()`` or ``obj[name]``, whichever exists."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    getter = getattr(obj, f"get_{name}", None)
    if callable(getter):
        return getter()
    return getattr(obj, name, None)


def snapshot_from(obj: Any, source: str) -> Snapshot:
    """Normalise what a source returned (oss2/SDK Credentials, any object or mapping)."""
    if isinstance(obj, Snapshot):
        return obj.relabelled(source)
    ak, sk = _field(obj, "access_key_id"), _field(obj, "access_key_secret")
    if not ak or not sk:
        raise CredentialsUnavailable(
            f"{source}: the credentials returned have no access_key_id or access_key_secret")
    return Snapshot(str(ak), str(sk), _field(obj, "security_token") or None,
                    parse_expiration(_field(obj, "expiration")), source)
