"""The one error of the credentials package, and how secrets are kept out of messages."""

from __future__ import annotations

from .. import redaction


class CredentialsUnavailable(RuntimeError):
    """No usable credentials: the message says what was tried; it never holds a secret.

    It is never chained to the exception that caused it (SDK errors can quote the OIDC
    token in a URL): the cause is described, scrubbed, in the message instead.
    """


def scrub(text: str, known: tuple[str | None, ...] = ()) -> str:
    """``text`` with the ``known`` secret values and any token, signature or JWT masked."""
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, redaction.MASK)
    return redaction.redact(text)
