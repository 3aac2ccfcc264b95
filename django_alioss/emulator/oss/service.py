"""The emulated OSS service: route, authenticate, run the operation, answer errors.

:class:`OSSService` is hosted by :class:`~..httpserver.ServiceServer`. For every
request it works out the bucket, key and operation (:mod:`.routing`), checks the
signature (:mod:`..auth`), runs the operation (:mod:`.ops`; they authorize through
:mod:`.access`) against a :class:`~..store.Store` and answers in OSS's wire shapes,
errors included (:mod:`.errors`), with the bucket's CORS headers when a rule matches
the request's Origin (:mod:`.ops.cors`).
"""

from __future__ import annotations

import logging

from ..auth import ANONYMOUS, AuthError, Verifier
from ..controls import Controls
from ..httpserver import Request, Response, new_request_id
from ..iam import IAM
from ..store import MIN_PART_SIZE, Store, StoreError
from .access import AccessControl
from .context import Call, Operation
from .errors import WireError, error_response, from_store_error
from .ops import OPERATIONS
from .ops.cors import cors_headers
from .parsing import discard_body
from .routing import UNSUPPORTED, Route, route_request

logger = logging.getLogger("django_alioss.emulator")

MAX_OBJECT_SIZE = 5 * 1024 ** 3
#: Operations that ignore the Authorization header and query signatures: PostObject
#: checks the signature among its form fields; a CORS preflight is anonymous.
SELF_AUTHENTICATED = frozenset({"PostObject", "Options"})


class OSSService:
    """The OSS API over a :class:`~..store.Store`, as oss2 2.19 expects it.

    ``cname_domains`` maps custom domains (Host names) to buckets; ``endpoint_hosts``
    lists extra Host names that address the service itself (path-style), besides IPs,
    dot-less names such as ``localhost`` and ``oss-<region>[-internal].aliyuncs.com``.
    ``max_object_size`` (single PUT and each part) and ``min_part_size`` can be lowered
    by tests.
    """

    name = "oss"
    bad_request_code = "InvalidArgument"  # answers a malformed request (see httpserver)

    def __init__(self, iam: IAM, controls: Controls, store: Store,
                 region: str = "cn-hangzhou") -> None:
        self.iam = iam
        self.controls = controls
        self.store = store
        self.region = region
        self.cname_domains: dict[str, str] = {}
        self.endpoint_hosts: set[str] = set()
        self.max_object_size = MAX_OBJECT_SIZE
        self.min_part_size = MIN_PART_SIZE
        self.verifier = Verifier(iam, controls.clock, region)
        self.access = AccessControl(iam, store, region)
        self.operations: dict[str, Operation] = dict(OPERATIONS)

    @property
    def endpoint(self) -> str:
        return f"oss-{self.region}.aliyuncs.com"

    def route(self, request: Request) -> Route:
        """Bucket, key and operation of a request (reads headers only, never the body)."""
        return route_request(request, self.cname_domains, self.endpoint_hosts)

    def operation(self, request: Request) -> str:
        """The OSS API name of a request (``PutObject``, ``ListObjectsV2``, ...)."""
        return self.route(request).operation

    def handle(self, request: Request) -> Response:
        request_id = new_request_id()
        route: Route | None = None
        try:
            route = self.route(request)
            response = self._serve(request, route)
        except WireError as exc:
            logger.debug("oss %s -> %s %s", route.operation if route else "?", exc.status,
                         exc.code)
            discard_body(request)
            response = self._error(request, route, request_id, exc)
        else:
            response.headers.append(("x-oss-request-id", request_id))
        if route is not None and route.operation != "Options":  # a preflight has its own
            response.headers.extend(cors_headers(self.store, route.bucket, request))
        return response

    def _serve(self, request: Request, route: Route) -> Response:
        if route.operation == UNSUPPORTED:
            raise WireError(501, "NotImplemented",
                            "The emulator does not implement this operation.",
                            {"Method": request.method})
        if route.key_error:
            raise WireError(400, "InvalidObjectName", route.key_error,
                            {"BucketName": route.bucket})
        identity = ANONYMOUS  # forms sign their fields; preflights are never signed
        if route.operation not in SELF_AUTHENTICATED:
            try:
                identity = self.verifier.authenticate(request, route.bucket, route.key)
            except AuthError as exc:
                raise WireError(exc.status, exc.code, exc.message, exc.details) from None
        request.access_key_id = identity.access_key_id
        try:
            return self.operations[route.operation](Call(request, route, identity, self))
        except StoreError as exc:
            raise from_store_error(exc, route.bucket, route.key) from None

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        """An OSS error (XML body, or ``x-oss-err`` for HEAD) for injected faults."""
        try:
            route: Route | None = self.route(request)
        except Exception:  # a fault must be answerable whatever the request looks like
            route = None
        return self._error(request, route, new_request_id(), WireError(status, code, message))

    def _error(self, request: Request, route: Route | None, request_id: str,
               exc: WireError) -> Response:
        bucket = route.bucket if route else ""
        host_id = f"{bucket}.{self.endpoint}" if bucket else self.endpoint
        return error_response(request, exc, request_id, host_id)
