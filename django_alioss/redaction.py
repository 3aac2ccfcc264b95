"""Keep secrets out of log records, including the SDKs' own.

oss2 logs request headers at DEBUG (``Authorization``, ``x-oss-security-token``) and
alibabacloud-credentials/Tea may log STS requests and answers (the OIDC token is a
query parameter, the answer holds the new secret and token). A filter on those
loggers rewrites each record's message with the secrets masked, whatever handlers the
user's logging configuration attaches.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

_PATTERNS = [
    # JSON/dict/header style: 'x-oss-security-token': 'value', "AccessKeySecret": "value"
    re.compile(
        r"""(?P<prefix>['"]?(?:x-oss-security-token|security-?token|securitytoken|"""
        r"""access_?key_?secret|accesskeysecret|authorization|oidctoken|x-oss-signature|"""
        r"""signature)['"]?\s*[:=]\s*['"]?)(?P<secret>[^'"&,}\s]+(?:\s[^'"&,}\s:]+)?)""",
        re.IGNORECASE,
    ),
    # Any JWT (an OIDC token) anywhere.
    re.compile(r"(?P<prefix>)(?P<secret>eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"),
    # STS security tokens start with CAIS.
    re.compile(r"(?P<prefix>)(?P<secret>CAIS[A-Za-z0-9+/=%]{20,})"),
]


def mask_key_id(access_key_id: str | None) -> str | None:
    """An AccessKey id as shown anywhere we print one: ``LTAI****abcd``; ids shorter than
    12 characters are all hidden (``****``); empty stays ``None``."""
    if not access_key_id:
        return None
    if len(access_key_id) < 12:
        return "****"
    return f"{access_key_id[:4]}****{access_key_id[-4:]}"


def redact(text: str) -> str:
    """Mask security tokens, secrets, signatures and JWTs in ``text``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group("prefix") + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's problem, not a leak
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


SDK_LOGGERS = (
    "oss2", "oss2.http", "oss2.api", "oss2.auth", "oss2.models", "oss2.resumable",
    "credentials", "alibabacloud-tea", "alibabacloud_credentials",
    "urllib3.connectionpool",  # logs request lines: the STS URL carries the OIDC token
)

_FILTER = RedactingFilter()


def install() -> None:
    """Attach the one redacting filter to the SDK loggers and ours (idempotent: a logger
    never gets it twice)."""
    for name in (*SDK_LOGGERS, "django_alioss"):
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
