"""A local OSS + STS + OIDC-issuer emulator: verifies signatures, fails like the real services.

``from django_alioss.emulator import Emulator``; see :mod:`.emulator`. The name is
imported lazily so that loading the pytest plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from .emulator import Emulator

        return Emulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
