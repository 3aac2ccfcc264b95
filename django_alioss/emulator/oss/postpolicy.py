"""The policy of a PostObject form: parsed (InvalidPolicyDocument when malformed), its
expiration and conditions checked against the form (AccessDenied "Invalid according to
Policy: ..."), its ``content-length-range`` handed to the upload.

Written from the protocol description, like :mod:`..auth`: nothing here comes from the
backend's presigner. Condition names are matched case-insensitively; a field the form
lacks compares as ``""``; ``$bucket`` (or ``{"bucket": ...}``) is the bucket's name.
Fields that no condition names are accepted: whether OSS refuses such extra fields
is unconfirmed, so the emulator stays permissive (django-alioss pins every field it
sets, so its forms do not depend on it).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import WireError

OPERATORS = ("eq", "starts-with", "in", "not-in", "content-length-range")
_EXPIRATION = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?Z")


def invalid_policy(message: str, ec: str | None = None) -> WireError:
    return WireError(400, "InvalidPolicyDocument", f"Invalid Policy: {message}", ec=ec)


def _denied(message: str) -> WireError:
    return WireError(403, "AccessDenied", f"Invalid according to Policy: {message}")


@dataclass(frozen=True)
class Policy:
    """A parsed policy: when it expires (epoch) and its conditions, as sent."""

    expiration: float
    conditions: tuple[Any, ...]

    @property
    def size_range(self) -> tuple[int, int] | None:
        """The tightest ``content-length-range`` (None: the policy sets none)."""
        ranges = [(c[1], c[2]) for c in self.conditions
                  if isinstance(c, list) and c and c[0] == "content-length-range"]
        if not ranges:
            return None
        return max(low for low, _ in ranges), min(high for _, high in ranges)


def _expiration(value: Any) -> float:
    match = _EXPIRATION.fullmatch(value) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError
        return float(calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        raise invalid_policy(f"Invalid 'expiration' value: {value!r}.") from None


def _check_shape(condition: Any) -> None:
    """InvalidPolicyDocument unless ``condition`` is a well-formed condition."""
    if isinstance(condition, dict):
        if len(condition) != 1 or not isinstance(next(iter(condition.values())), str):
            raise invalid_policy("Invalid Simple-Condition: Simple-Conditions must have "
                                 "exactly one property specified.")
        return
    if not isinstance(condition, list) or not condition:
        raise invalid_policy("Condition is not of type map or list.", ec="0006-00000222")
    operator = condition[0]
    if operator not in OPERATORS:
        raise invalid_policy(f"Invalid Condition: unknown operator {operator!r}.")
    if operator == "content-length-range":
        if (len(condition) != 3 or not all(type(v) is int and v >= 0 for v in condition[1:])
                or condition[1] > condition[2]):
            raise invalid_policy("Invalid content-length-range: it takes two integers, "
                                 "min <= max.", ec="0006-00000224")
        return
    expected = list if operator in ("in", "not-in") else str
    if (len(condition) != 3 or not isinstance(condition[1], str)
            or not isinstance(condition[2], expected)):
        raise invalid_policy(f"Invalid Condition: {operator} takes a field name and a "
                             f"{expected.__name__}.", ec="0006-00000224")


def parse_policy(text: str) -> Policy:
    """The policy a form's ``policy`` field carries (base64 of UTF-8 JSON)."""
    try:
        document = json.loads(base64.b64decode(text.strip(), validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_policy("Policy is not base64-encoded JSON.") from None
    if not isinstance(document, dict):
        raise invalid_policy("Policy is not a JSON object.")
    if "expiration" not in document:
        raise invalid_policy("Policy missing expiration.", ec="0006-00000208")
    if not isinstance(document.get("conditions"), list):
        raise invalid_policy("Policy missing conditions.")
    for condition in document["conditions"]:
        _check_shape(condition)
    return Policy(_expiration(document["expiration"]), tuple(document["conditions"]))


def _value(fields: Mapping[str, str], name: str, bucket: str) -> str:
    name = name.removeprefix("$").lower()
    return bucket if name == "bucket" else fields.get(name, "")


def _holds(condition: Any, fields: Mapping[str, str], bucket: str) -> bool:
    if isinstance(condition, dict):
        ((name, expected),) = condition.items()
        return _value(fields, name, bucket) == expected
    operator = condition[0]
    if operator == "content-length-range":
        return True  # checked against the file's size as it arrives
    value = _value(fields, condition[1], bucket)
    if operator == "eq":
        return bool(value == condition[2])
    if operator == "starts-with":
        return value.startswith(condition[2])
    members = [str(member) for member in condition[2]]
    return (value in members) == (operator == "in")


def check_policy(policy: Policy, fields: Mapping[str, str], bucket: str, now: float) -> None:
    """AccessDenied when the policy has expired or a condition fails for ``fields``
    (lowercased names, before ``${filename}`` is replaced)."""
    if now > policy.expiration:
        raise _denied("Policy expired.")
    for condition in policy.conditions:
        if not _holds(condition, fields, bucket):
            raise _denied(f"Policy Condition failed: {json.dumps(condition)}")
