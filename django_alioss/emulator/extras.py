"""The emulator's own dependencies (PyJWT, cryptography) come with an extra: a clear
error naming it when they are missing."""

from __future__ import annotations

EXTRA = "emulator"
INSTALL_HINT = f"pip install 'django-alioss[{EXTRA}]'"


def missing_extra(exc: ImportError) -> ImportError:
    """The ImportError to raise instead of ``exc`` when an emulator dependency is missing."""
    top_level = (exc.name or "").split(".")[0] or None  # the distribution's package
    return ImportError(
        f"The django-alioss emulator needs PyJWT and cryptography "
        f"({top_level or 'a dependency'} is missing): install the '{EXTRA}' extra: "
        f"{INSTALL_HINT}", name=top_level)
