"""An emulated Alibaba Cloud CDN edge with URL authentication, in front of one bucket.

Started by ``Emulator(cdn_auth_type=..., cdn_auth_key=..., cdn_auth_ttl=...)`` (the CLI's
``--cdn-auth-*`` options, the pytest plugin's ``--alioss-cdn-auth-*``) on its own port.
Every ``GET`` must carry a URL signed as the CDN console's URL authentication checks it
(hashes are lowercase hex MD5; ``path`` is the request path as sent, from its leading
``/`` and without the query):

- type A: ``<path>?auth_key=<ts>-<rand>-<uid>-<md5>``, md5 of
  ``<path>-<ts>-<rand>-<uid>-<key>``, ts decimal Unix time;
- type B: ``/<YYYYMMDDHHMM>/<md5><path>``, md5 of ``<key><YYYYMMDDHHMM><path>``, the
  time in UTC+8;
- type C: ``/<md5>/<hex ts><path>``, md5 of ``<key><path><hex ts>`` (format 1; the
  ``KEY1``/``KEY2`` query form is not emulated).

A URL is accepted until its time plus the TTL (``now > ts + ttl`` is late; "now" is the
emulator's clock). A missing, malformed, tampered or late signature is answered ``403``
(an HTML page, the reason in ``X-Tengine-Error``). An accepted request is the origin
fetch of a CDN with private-bucket back-to-origin access: the object is read from the
bucket whatever its ACL, ``x-oss-process`` is forwarded (image processing), and
conditions and Range work as for GetObject; the origin's errors (404 NoSuchKey, image
errors) pass through in OSS's shape. Nothing is cached.

This is a verifier: it never imports :mod:`django_alioss.cdn` (the signer), so that a
signing bug cannot pass the tests by being made twice.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from .controls import Controls
from .httpserver import Request, Response, new_request_id
from .oss import OSSService
from .oss.errors import WireError, error_response, from_store_error
from .oss.ops.objects import serve_object
from .store import StoreError

AUTH_TYPES = ("A", "B", "C")
DEFAULT_TTL = 1800
_TYPE_B = re.compile(r"/([0-9]{12})/([0-9a-f]{32})(/.*)", re.S)
_TYPE_C = re.compile(r"/([0-9a-f]{32})/([0-9A-Fa-f]{1,16})(/.*)", re.S)
_TYPE_C_KEY = re.compile(r"[A-Za-z0-9]{16,32}")
_FORBIDDEN_PAGE = (b"<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
                   b"<center><h1>403 Forbidden</h1></center>\r\n<hr><center>Tengine</center>\r\n"
                   b"</body>\r\n</html>\r\n")


class Denied(Exception):
    """The request fails URL authentication (answered 403)."""


@dataclass(frozen=True)
class CDNAuth:
    """The URL authentication settings of the CDN domain (as set in the CDN console)."""

    auth_type: str
    key: str
    ttl: int = DEFAULT_TTL

    def __post_init__(self) -> None:
        if self.auth_type not in AUTH_TYPES:
            raise ValueError(f"cdn_auth_type must be one of {', '.join(AUTH_TYPES)}, got "
                             f"{self.auth_type!r}")
        if not self.key:
            raise ValueError("the CDN edge needs cdn_auth_key")
        if self.auth_type == "C" and not _TYPE_C_KEY.fullmatch(self.key):
            raise ValueError("a type C cdn_auth_key is 16 to 32 letters and digits")
        if type(self.ttl) is not int or self.ttl < 1:
            raise ValueError(f"cdn_auth_ttl must be a positive int, got {self.ttl!r}")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _digest(*parts: str) -> str:
    return hashlib.md5("".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()


def _accept(auth: CDNAuth, now: float, signed_at: int, given: str, *hashed: str) -> None:
    """Denied unless the URL is on time (``now <= signed_at + ttl``) and ``given`` is the
    MD5 of ``hashed`` joined."""
    if now > signed_at + auth.ttl:
        raise Denied(f"expired timestamp={signed_at} ttl={auth.ttl}")
    if not _same(_digest(*hashed), given):
        raise Denied(f"invalid md5hash={given}")


def _path_fields(pattern: re.Pattern[str], request: Request, shape: str) -> tuple[str, ...]:
    """The fields a path-form signature (types B and C) puts before the object's path."""
    match = pattern.fullmatch(request.raw_path)
    if match is None:
        raise Denied(f"no {shape} prefix")
    return match.groups()


def _verify_a(auth: CDNAuth, request: Request, now: float) -> str:
    path = request.raw_path
    value = request.params.get("auth_key")
    if value is None:
        raise Denied("missing auth_key")
    fields = value.split("-")
    if len(fields) != 4 or not fields[0].isdigit():
        raise Denied("malformed auth_key")
    stamp, rand, uid, given = fields
    _accept(auth, now, int(stamp), given, path, "-", stamp, "-", rand, "-", uid, "-", auth.key)
    return path


def _verify_b(auth: CDNAuth, request: Request, now: float) -> str:
    stamp, given, path = _path_fields(_TYPE_B, request, "/<YYYYMMDDHHMM>/<md5hash>/")
    try:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M")) - 8 * 3600  # UTC+8
    except ValueError:
        raise Denied(f"malformed timestamp={stamp}") from None
    _accept(auth, now, signed_at, given, auth.key, stamp, path)
    return path


def _verify_c(auth: CDNAuth, request: Request, now: float) -> str:
    given, hex_stamp, path = _path_fields(_TYPE_C, request, "/<md5hash>/<hex timestamp>/")
    _accept(auth, now, int(hex_stamp, 16), given, auth.key, path, hex_stamp)
    return path


_VERIFIERS = {"A": _verify_a, "B": _verify_b, "C": _verify_c}


class CDNEdge:
    """The edge service (hosted by :class:`~.httpserver.ServiceServer`) for ``bucket``
    of ``oss``; :attr:`auth` may be replaced at run time (a test trying every type)."""

    name = "cdn"
    bad_request_code = "BadRequest"  # answers a malformed request (see httpserver)

    def __init__(self, oss: OSSService, controls: Controls, bucket: str, auth: CDNAuth) -> None:
        self.oss = oss
        self.controls = controls
        self.bucket = bucket
        self.auth = auth

    def operation(self, request: Request) -> str:
        return "GetObject" if request.method == "GET" else "Unsupported"

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        return Response(status, [("Content-Type", "text/plain")],
                        f"{code}: {message}\n".encode())

    def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return Response(405, [("Content-Type", "text/plain"), ("Allow", "GET")],
                            b"Method Not Allowed\n")
        auth = self.auth
        try:
            path = _VERIFIERS[auth.auth_type](auth, request, self.controls.clock.now())
        except Denied as exc:
            return Response(403, [("Content-Type", "text/html"),
                                  ("X-Tengine-Error", f"denied by req auth: {exc}")],
                            _FORBIDDEN_PAGE)
        return self._origin_fetch(request, path)

    def _origin_fetch(self, request: Request, path: str) -> Response:
        """GetObject of the object ``path`` names, with origin (bucket owner) access."""
        key = ""
        try:
            key = unquote_to_bytes(path[1:]).decode("utf-8")
            store = self.oss.store
            record = store.head_object(self.bucket, key)
            response = serve_object(request, store, self.bucket, key, record,
                                    self.controls.styles)
        except UnicodeDecodeError:
            return self.error_response(request, 400, "BadRequest", "The path is not UTF-8.")
        except StoreError as exc:
            return self._error(request, from_store_error(exc, self.bucket, key))
        except WireError as exc:
            return self._error(request, exc)
        response.headers.append(("X-Cache", "MISS TCP_MISS"))
        return response

    def _error(self, request: Request, exc: WireError) -> Response:
        return error_response(request, exc, new_request_id(), f"{self.bucket}.{self.oss.endpoint}")
