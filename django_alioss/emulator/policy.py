"""RAM policy evaluation: permission policies and trust-policy conditions.

Policy documents have RAM's JSON shape::

    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"],
      "Resource": ["acs:oss:*:*:bucket/prefix*"], "Condition": {...}}]}

Matching follows RAM: ``*`` and ``?`` wildcards, actions case-insensitive,
an explicit Deny beats any Allow, and no matching Allow is an implicit deny.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ALLOW = "Allow"
DENY = "Deny"


class PolicyError(ValueError):
    """A policy document that is not valid RAM policy grammar."""


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile(fnmatch.translate(pattern), flags)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """RAM wildcard matching: ``*`` any run of characters, ``?`` one character."""
    # fnmatch also treats [...] as a class; RAM does not, so escape brackets first.
    escaped = pattern.replace("[", "[[]")
    return _pattern(escaped, ignore_case).fullmatch(value) is not None


def as_list(value: Any) -> list[Any]:
    """A JSON value that may be a single item or a list, as a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def validate_policy(document: Mapping[str, Any]) -> None:
    """Raise PolicyError unless ``document`` is a well-formed RAM policy."""
    if not isinstance(document, Mapping):
        raise PolicyError("policy must be a JSON object")
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise PolicyError("policy needs a non-empty Statement list")
    for statement in statements:
        if not isinstance(statement, Mapping):
            raise PolicyError("each Statement must be an object")
        if statement.get("Effect") not in (ALLOW, DENY):
            raise PolicyError("Effect must be Allow or Deny")
        if not as_list(statement.get("Action")):
            raise PolicyError("Statement needs an Action")
        condition = statement.get("Condition", {})
        if not isinstance(condition, Mapping):
            raise PolicyError("Condition must be an object")
        for operator in condition:
            if operator not in CONDITION_OPERATORS:
                raise PolicyError(f"unsupported condition operator {operator!r}")


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_like(expected: str, actual: str) -> bool:
    return wildcard_match(expected, actual)


def _string_equals_ignore_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


CONDITION_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringLike": (_string_like, False),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEquals": (_string_equals, True),
    "StringNotLike": (_string_like, True),
}


def conditions_hold(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Evaluate a RAM Condition block against request context values.

    Context values may be strings or lists of strings (a JWT ``aud`` list): a key
    holds when any context value matches any expected value (negated operators: none
    does). A key absent from the context fails a positive operator.
    """
    for operator, keys in condition.items():
        compare, negate = CONDITION_OPERATORS[operator]
        for key, expected in keys.items():
            actual = [str(v) for v in as_list(context.get(key))]
            expected_values = [str(v) for v in as_list(expected)]
            matched = any(compare(e, a) for e in expected_values for a in actual)
            if negate:
                if matched:
                    return False
            elif not matched:
                return False
    return True


@dataclass(frozen=True)
class Decision:
    """The outcome of evaluating policies for one action on one resource."""

    allowed: bool
    reason: str  # "ExplicitAllow", "ExplicitDeny" or "ImplicitDeny"


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str,
                       context: Mapping[str, Any]) -> bool:
    actions = as_list(statement.get("Action"))
    if not any(wildcard_match(a, action, ignore_case=True) for a in actions):
        return False
    resources = as_list(statement.get("Resource", "*"))
    if not any(wildcard_match(r, resource) for r in resources):
        return False
    return conditions_hold(statement.get("Condition", {}), context)


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str,
             context: Mapping[str, Any] | None = None) -> Decision:
    """Decide whether ``policies`` (taken together) allow ``action`` on ``resource``."""
    context = context or {}
    allowed = False
    for policy in policies:
        for statement in as_list(policy.get("Statement")):
            if not _statement_applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == DENY:
                return Decision(False, "ExplicitDeny")
            allowed = True
    return Decision(True, "ExplicitAllow") if allowed else Decision(False, "ImplicitDeny")


def evaluate_all(policy_sets: Iterable[Iterable[Mapping[str, Any]]], action: str, resource: str,
                 context: Mapping[str, Any] | None = None) -> Decision:
    """Every set must allow: the role's policies and, if given, the session policy."""
    decision = Decision(True, "ExplicitAllow")
    for policies in policy_sets:
        decision = evaluate(policies, action, resource, context)
        if not decision.allowed:
            return decision
    return decision
