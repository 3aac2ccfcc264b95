"""Bucket CORS rules for uploads from the browser, without I/O: whether an origin may
send a request, merging an origin's rule in without touching the others, and the
report ``alioss_check`` and ``alioss_cors show`` print.

The rules themselves are read and written through the client
(:meth:`~django_alioss.client.OSSClient.get_bucket_cors`, ``put_bucket_cors``).
Matching follows OSS: ``*`` in an origin or header pattern stands for any characters,
the first rule allowing the origin, the method and every header answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .client import CorsConfiguration, CorsRule

METHODS = ("GET", "PUT", "DELETE", "POST", "HEAD")
UPLOAD_METHODS = ("POST", "PUT")
"""What ``alioss_cors set`` allows by default: form uploads and presigned PUTs."""
DEFAULT_EXPOSE_HEADERS = ("ETag", "x-oss-request-id")
DEFAULT_MAX_AGE = 600
MAX_RULES = 10
_ORIGIN = re.compile(r"(\*|https?://[^/?#\s]+)")


def _matches(pattern: str, value: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def allows(rule: CorsRule, origin: str, method: str, headers: Sequence[str] = ()) -> bool:
    """Whether ``rule`` lets ``origin`` send ``method`` with request ``headers``."""
    return (method.upper() in rule.allowed_methods
            and any(_matches(p, origin) for p in rule.allowed_origins)
            and all(any(_matches(p, h) for p in rule.allowed_headers) for h in headers))


def allowing_rule(cors: CorsConfiguration, origin: str, method: str) -> int | None:
    """The number (1-based) of the first rule allowing ``method`` from ``origin``."""
    for number, rule in enumerate(cors.rules, 1):
        if allows(rule, origin, method):
            return number
    return None


def check_origin(origin: str) -> str:
    """``origin`` as a rule holds it: ``scheme://host[:port]`` (one ``*`` allowed) or
    ``*``; ValueError for anything else (a path, a missing scheme)."""
    origin = origin.strip().rstrip("/")
    if not _ORIGIN.fullmatch(origin) or origin.count("*") > 1:
        raise ValueError(f"origin {origin!r}: use scheme://host[:port], e.g. "
                         "https://www.example.com (one * wildcard allowed), or *")
    return origin


def merge(cors: CorsConfiguration, origins: Sequence[str],
          methods: Sequence[str] = UPLOAD_METHODS, headers: Sequence[str] = ("*",),
          expose_headers: Sequence[str] = DEFAULT_EXPOSE_HEADERS,
          max_age: int | None = DEFAULT_MAX_AGE) -> CorsConfiguration:
    """``cors`` with ``origins`` allowed ``methods``; every other rule is kept as is.

    A rule whose origins are exactly ``origins`` (one an earlier merge made) gains the
    methods and headers (union) and takes ``max_age``; otherwise a rule is appended
    (ValueError past :data:`MAX_RULES`). ``ResponseVary`` is kept.
    """
    wanted = tuple(dict.fromkeys(check_origin(o) for o in origins))
    verbs = tuple(dict.fromkeys(m.upper() for m in methods))
    unknown = [m for m in verbs if m not in METHODS]
    if not wanted or not verbs or unknown:
        raise ValueError(f"give at least one origin and methods among {', '.join(METHODS)}"
                         + (f" (not {', '.join(unknown)})" if unknown else ""))
    rules = list(cors.rules)
    for index, rule in enumerate(rules):
        if set(rule.allowed_origins) == set(wanted):
            rules[index] = CorsRule(
                rule.allowed_origins,
                tuple(dict.fromkeys((*rule.allowed_methods, *verbs))),
                tuple(dict.fromkeys((*rule.allowed_headers, *headers))),
                tuple(dict.fromkeys((*rule.expose_headers, *expose_headers))),
                max_age if max_age is not None else rule.max_age_seconds)
            break
    else:
        if len(rules) >= MAX_RULES:
            raise ValueError(f"the bucket already has {MAX_RULES} CORS rules, the most OSS "
                             "keeps: remove one in the console first")
        rules.append(CorsRule(wanted, verbs, tuple(headers), tuple(expose_headers), max_age))
    return CorsConfiguration(tuple(rules), cors.response_vary)


def describe_rule(rule: CorsRule) -> str:
    """One line for people."""
    parts = [f"origins {', '.join(rule.allowed_origins)}",
             f"methods {', '.join(rule.allowed_methods)}"]
    if rule.allowed_headers:
        parts.append(f"headers {', '.join(rule.allowed_headers)}")
    if rule.expose_headers:
        parts.append(f"exposed {', '.join(rule.expose_headers)}")
    if rule.max_age_seconds is not None:
        parts.append(f"max age {rule.max_age_seconds}s")
    return "; ".join(parts)


def post_report(cors: CorsConfiguration, origins: Sequence[str]) -> tuple[str, str]:
    """``("OK" | "FAIL", detail)``: whether every origin in ``origins`` may POST (send
    a form upload) to the bucket, naming the rule that allows each or the fix."""
    allowed, refused = [], []
    for origin in origins:
        number = allowing_rule(cors, origin, "POST")
        if number is None:
            refused.append(origin)
        else:
            allowed.append(f"{origin} (rule {number})")
    if refused:
        fix = " ".join(f"--origin {o}" for o in refused)
        why = "the bucket has no CORS rules" if not cors.rules else "no CORS rule allows it"
        return "FAIL", (f"browser uploads (POST) refused from {', '.join(refused)}: {why}; "
                        f"run manage.py alioss_cors set {fix}")
    return "OK", f"browser uploads (POST) allowed from {', '.join(allowed)}"
