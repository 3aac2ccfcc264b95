"""Browser-form uploads (PostObject): the policy document and its signatures, pure.

A form upload carries a policy, the base64 of a JSON document
``{"expiration": "...", "conditions": [...]}``, and a signature over that base64 text:

- V4: ``x-oss-signature`` = hex HMAC-SHA256 of the policy with the V4 signing key of
  the day of ``x-oss-date`` (:func:`~django_alioss.signing.v4_signing_key`), with the
  fields ``x-oss-signature-version``, ``x-oss-credential`` and ``x-oss-date``;
- V1: ``Signature`` = base64 HMAC-SHA1(secret, policy), with ``OSSAccessKeyId``.

STS credentials add ``x-oss-security-token``. :func:`sign_post_form` builds every form
field but the file; no I/O, no oss2. Like :mod:`django_alioss.signing`, this is the
presigner half of a deliberate twin: the emulator checks forms with its own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .signing import SIGNATURE_VERSIONS, V4_ALGORITHM, V4_MAX_EXPIRES, v4_signing_key

FILENAME_PLACEHOLDER = "${filename}"
"""At the end of a key, OSS replaces it with the name of the uploaded file."""

POLICY_MAX_EXPIRES = V4_MAX_EXPIRES
"""Longest life given to a form policy, in seconds (7 days, as for V4 URLs)."""

RESERVED_FIELDS = frozenset({
    "key", "file", "policy", "ossaccesskeyid", "signature", "x-oss-signature",
    "x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-security-token",
})
"""Form fields (lowercased) that :func:`sign_post_form` sets itself."""

Condition = Any
"""A policy condition: ``{"field": "value"}`` (exact match) or a list such as
``["starts-with", "$key", "uploads/"]`` or ``["content-length-range", 0, 1024]``."""


def policy_expiration(epoch: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS.000Z`` (UTC), the policy's ``expiration`` format."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(epoch)))


def encode_policy(expiration: str, conditions: Sequence[Condition]) -> str:
    """The base64 policy field: compact UTF-8 JSON of ``expiration`` and ``conditions``."""
    document = {"expiration": expiration, "conditions": list(conditions)}
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def v4_policy_signature(policy: str, access_key_secret: str, day: str, region: str) -> str:
    """``x-oss-signature`` of a V4 form: hex HMAC-SHA256 of the base64 ``policy`` with the
    signing key of ``day`` (``YYYYMMDD``) and ``region``."""
    key = v4_signing_key(access_key_secret, day, region)
    return hmac.new(key, policy.encode("ascii"), hashlib.sha256).hexdigest()


def v1_policy_signature(policy: str, access_key_secret: str) -> str:
    """``Signature`` of a V1 form: base64 HMAC-SHA1(secret, base64 ``policy``)."""
    digest = hmac.new(access_key_secret.encode("utf-8"), policy.encode("ascii"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


def v4_credential(access_key_id: str, day: str, region: str) -> str:
    """``<AccessKeyId>/<day>/<region>/oss/aliyun_v4_request``."""
    return f"{access_key_id}/{day}/{region}/oss/aliyun_v4_request"


def key_condition(key: str) -> Condition:
    """The condition a key is held to: exact, or a prefix when it ends with
    ``${filename}`` (which may appear nowhere else)."""
    head, placeholder, tail = key.partition(FILENAME_PLACEHOLDER)
    if placeholder and (tail or FILENAME_PLACEHOLDER in head):
        raise ValueError(f"{FILENAME_PLACEHOLDER} is only allowed at the end of a key: {key!r}")
    if placeholder:
        return ["starts-with", "$key", head]
    return ["eq", "$key", key]


def _signer_fields(signature_version: str, access_key_id: str, region: str, now: int,
                   security_token: str | None) -> dict[str, str]:
    """The fields naming the signer, each also pinned in the policy."""
    signer: dict[str, str] = {}
    if signature_version == "v4":
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        signer["x-oss-signature-version"] = V4_ALGORITHM
        signer["x-oss-credential"] = v4_credential(access_key_id, stamp[:8], region)
        signer["x-oss-date"] = stamp
    if security_token:
        signer["x-oss-security-token"] = security_token
    return signer


def sign_post_form(
    *,
    bucket_name: str,
    key: str,
    access_key_id: str,
    access_key_secret: str,
    now: int,
    expires: int,
    signature_version: str = "v4",
    region: str = "",
    security_token: str | None = None,
    fields: Mapping[str, str] | None = None,
    conditions: Sequence[Condition] = (),
) -> dict[str, str]:
    """Every field of a form uploading to ``key`` (all but the file, which goes last).

    The policy expires ``expires`` seconds after ``now`` (1..:data:`POLICY_MAX_EXPIRES`)
    and holds: the bucket, the key (:func:`key_condition`), each of ``fields`` and of
    the signer's fields exactly, then ``conditions``. Raises ValueError on bad arguments.
    """
    if signature_version not in SIGNATURE_VERSIONS:
        raise ValueError(f"signature_version must be one of {SIGNATURE_VERSIONS}, "
                         f"got {signature_version!r}")
    if signature_version == "v4" and not region:
        raise ValueError("a V4 form needs a region")
    if not access_key_id or not access_key_secret:
        raise ValueError("access_key_id and access_key_secret must be non-empty")
    if type(expires) is not int or not 1 <= expires <= POLICY_MAX_EXPIRES:
        raise ValueError(f"expires must be 1..{POLICY_MAX_EXPIRES} seconds, got {expires!r}")
    extra = {str(k): str(v) for k, v in (fields or {}).items()}
    clash = sorted(k for k in extra if k.lower() in RESERVED_FIELDS)
    if clash:
        raise ValueError(f"fields may not set {clash}: the signer sets them")
    signer = _signer_fields(signature_version, access_key_id, region, now, security_token)
    policy_conditions: list[Condition] = [{"bucket": bucket_name}, key_condition(key)]
    policy_conditions += [{name: value} for name, value in {**extra, **signer}.items()]
    policy_conditions += list(conditions)
    policy = encode_policy(policy_expiration(now + expires), policy_conditions)
    form = {"key": key, **extra, **signer, "policy": policy}
    if signature_version == "v4":
        form["x-oss-signature"] = v4_policy_signature(
            policy, access_key_secret, signer["x-oss-date"][:8], region)
    else:
        form["OSSAccessKeyId"] = access_key_id
        form["Signature"] = v1_policy_signature(policy, access_key_secret)
    return form
