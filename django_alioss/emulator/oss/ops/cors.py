"""Bucket CORS: PutBucketCors, GetBucketCors, DeleteBucketCors, the preflight
(``OPTIONS``) answered from the rules, and the headers of actual cross-origin requests.

A rule matches a request when one of its AllowedOrigin patterns matches the Origin
(``*`` stands for any characters), its AllowedMethod lists the method and (preflight)
every requested header matches an AllowedHeader pattern (case-insensitively). The first
matching rule answers; a preflight that none matches is refused with 403.
"""

from __future__ import annotations

import re
from functools import lru_cache
from xml.etree.ElementTree import Element

from ...httpserver import Request, Response
from ...store import CorsConfiguration, CorsRule, NoSuchBucket, Store
from ..context import Call, Operation
from ..errors import WireError, invalid_argument, malformed_xml
from ..parsing import read_xml
from ..wire import XmlContent, xml_document, xml_response

MAX_RULES = 10
CORS_METHODS = ("GET", "PUT", "DELETE", "POST", "HEAD")
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the "
               "evalution of Origin, request method / Access-Control-Request-Method or "
               "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.IGNORECASE)


def _matches(patterns: tuple[str, ...], value: str) -> bool:
    return any(_pattern(p).fullmatch(value) for p in patterns)


def matching_rule(cors: CorsConfiguration | None, origin: str, method: str,
                  headers: tuple[str, ...] = ()) -> CorsRule | None:
    """The first rule allowing ``method`` from ``origin`` with request ``headers``."""
    if cors is None:
        return None
    for rule in cors.rules:
        if (method in rule.allowed_methods and _matches(rule.allowed_origins, origin)
                and all(_matches(rule.allowed_headers, h) for h in headers)):
            return rule
    return None


def _rule_headers(rule: CorsRule, origin: str) -> list[tuple[str, str]]:
    headers = [("Access-Control-Allow-Origin", origin),
               ("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods))]
    if rule.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.expose_headers)))
    if rule.max_age_seconds is not None:
        headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
    headers.append(("Vary", "Origin"))
    return headers


def cors_headers(store: Store, bucket: str, request: Request) -> list[tuple[str, str]]:
    """The CORS headers of an actual (non-preflight) request: those of the first rule
    matching its Origin and method; none without an Origin or a matching rule."""
    origin = request.header("Origin")
    if not origin or not bucket:
        return []
    try:
        cors = store.get_bucket(bucket).cors
    except NoSuchBucket:
        return []
    rule = matching_rule(cors, origin, request.method)
    return _rule_headers(rule, origin) if rule is not None else []


def preflight(call: Call) -> Response:
    """``OPTIONS`` on the bucket or an object: 200 with the matching rule's headers, 403
    when CORS is off or no rule matches (never signed, so never authorized)."""
    request = call.request
    origin = request.header("Origin") or ""
    method = (request.header("Access-Control-Request-Method") or "").strip()
    if not origin or not method:
        raise WireError(403, "AccessDenied", "CORSResponse: the preflight request needs Origin "
                        "and Access-Control-Request-Method headers.")
    cors = call.store.get_bucket(call.bucket).cors
    if cors is None:
        raise WireError(403, "AccessDenied", NOT_ENABLED)
    asked = request.header("Access-Control-Request-Headers") or ""
    wanted = tuple(h.strip() for h in asked.split(",") if h.strip())
    rule = matching_rule(cors, origin, method, wanted)
    if rule is None:
        raise WireError(403, "AccessDenied", NOT_ALLOWED)
    headers = _rule_headers(rule, origin)
    if wanted:
        headers.insert(2, ("Access-Control-Allow-Headers", ", ".join(wanted)))
    return Response(200, headers)


# --- the configuration ------------------------------------------------------------------------
def _texts(node: Element, tag: str) -> tuple[str, ...]:
    return tuple((child.text or "").strip() for child in node.findall(tag))


def _rule(node: Element) -> CorsRule:
    origins, methods = _texts(node, "AllowedOrigin"), _texts(node, "AllowedMethod")
    headers, expose = _texts(node, "AllowedHeader"), _texts(node, "ExposeHeader")
    if not origins or not methods:
        raise malformed_xml("A CORSRule needs an AllowedOrigin and an AllowedMethod.")
    for method in methods:
        if method not in CORS_METHODS:
            raise invalid_argument(f"AllowedMethod must be one of {', '.join(CORS_METHODS)}.",
                                   "AllowedMethod", method)
    for name, values in (("AllowedOrigin", origins), ("AllowedHeader", headers)):
        for value in values:
            if value.count("*") > 1:
                raise invalid_argument(f"{name} can contain at most one wildcard.", name, value)
    for value in expose:
        if "*" in value:
            raise invalid_argument("ExposeHeader cannot contain a wildcard.", "ExposeHeader",
                                   value)
    max_age_text = (node.findtext("MaxAgeSeconds") or "").strip()
    if max_age_text and not max_age_text.isdigit():
        raise invalid_argument("MaxAgeSeconds must be a non-negative integer.",
                               "MaxAgeSeconds", max_age_text)
    return CorsRule(origins, methods, headers, expose,
                    int(max_age_text) if max_age_text else None)


def put_bucket_cors(call: Call) -> Response:
    call.authorize_bucket("oss:PutBucketCors")
    root = read_xml(call.request, "CORSConfiguration")
    rules = tuple(_rule(node) for node in root.findall("CORSRule"))
    if not rules or len(rules) > MAX_RULES:
        raise malformed_xml(f"A CORS configuration holds 1 to {MAX_RULES} CORSRule elements.")
    vary = (root.findtext("ResponseVary") or "false").strip().lower() == "true"
    call.store.set_bucket_cors(call.bucket, CorsConfiguration(rules, vary))
    return Response(200)


def get_bucket_cors(call: Call) -> Response:
    info = call.authorize_bucket("oss:GetBucketCors")
    if info.cors is None:
        raise WireError(404, "NoSuchCORSConfiguration", "The CORS configuration does not exist.",
                        {"BucketName": call.bucket})
    content: XmlContent = []
    for rule in info.cors.rules:
        fields: XmlContent = [("AllowedOrigin", v) for v in rule.allowed_origins]
        fields += [("AllowedMethod", v) for v in rule.allowed_methods]
        fields += [("AllowedHeader", v) for v in rule.allowed_headers]
        fields += [("ExposeHeader", v) for v in rule.expose_headers]
        if rule.max_age_seconds is not None:
            fields.append(("MaxAgeSeconds", rule.max_age_seconds))
        content.append(("CORSRule", fields))
    content.append(("ResponseVary", info.cors.response_vary))
    return xml_response(xml_document("CORSConfiguration", content))


def delete_bucket_cors(call: Call) -> Response:
    call.authorize_bucket("oss:DeleteBucketCors")
    call.store.set_bucket_cors(call.bucket, None)
    return Response(204)


OPERATIONS: dict[str, Operation] = {
    "PutBucketCors": put_bucket_cors,
    "GetBucketCors": get_bucket_cors,
    "DeleteBucketCors": delete_bucket_cors,
    "Options": preflight,
}
