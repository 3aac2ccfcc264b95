"""The emulated ECS instance metadata service: the worker RAM role's credentials.

Real ECS serves it at ``http://100.100.100.200``; clients here reach the emulated one
through an HTTP proxy setting (``HTTP_PROXY=<ecs url>``), so no packet ever leaves
the machine. Routes, as alibabacloud-credentials' EcsRamRoleCredentialsProvider uses
them:

- ``PUT /latest/api/token`` (header ``X-aliyun-ecs-metadata-token-ttl-seconds``):
  an IMDSv2 session token;
- ``GET /latest/meta-data/ram/security-credentials/``: the attached role's name;
- ``GET /latest/meta-data/ram/security-credentials/<role>``: JSON with AccessKeyId,
  AccessKeySecret, SecurityToken, Expiration, LastUpdated and ``"Code": "Success"``.

A token that was sent must be one this service issued and not expired (else 401);
with ``require_token`` (IMDSv2 only) requests without one get 401 too. Credentials are
STS sessions of the role (6 h), handed out again until less than 30 min remain, as ECS
does.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

from .controls import Controls
from .httpserver import Request, Response
from .iam import IAM, Role, Session

CREDENTIALS_PATH = "/latest/meta-data/ram/security-credentials/"
TOKEN_PATH = "/latest/api/token"
SESSION_LIFETIME = 6 * 3600
RENEW_BEFORE = 30 * 60
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _text(status: int, body: str, content_type: str = "text/plain") -> Response:
    return Response(status, [("Content-Type", content_type)], body.encode("utf-8"))


class ECSMetadataService:
    """Instance metadata of one ECS instance with ``role`` attached (or none)."""

    name = "ecs"
    bad_request_code = "BadRequest"  # answers a malformed request (see httpserver)

    def __init__(self, iam: IAM, controls: Controls, role: Role | None = None, *,
                 require_token: bool = False) -> None:
        self.iam = iam
        self.controls = controls
        self.role = role
        self.require_token = require_token
        self._tokens: dict[str, float] = {}
        self._session: Session | None = None
        self._lock = threading.Lock()

    def operation(self, request: Request) -> str:
        if request.raw_path == TOKEN_PATH:
            return "Token"
        if request.raw_path == CREDENTIALS_PATH:
            return "RoleName"
        if request.raw_path.startswith(CREDENTIALS_PATH):
            return "Credentials"
        return "Unknown"

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        return _text(status, f"{code}: {message}")

    def handle(self, request: Request) -> Response:
        now = self.controls.clock.now()
        operation = self.operation(request)
        if operation == "Token":
            return self._issue_token(request, now)
        if operation == "Unknown" or request.method != "GET":
            return _text(404, "Not Found")
        token = request.header("X-aliyun-ecs-metadata-token")
        if token is not None:
            if self._tokens.get(token, 0) <= now:
                return _text(401, "Unauthorized: invalid or expired metadata token")
        elif self.require_token:
            return _text(401, "Unauthorized: a metadata token is required (IMDSv2)")
        if self.role is None:
            return _text(404, "Not Found")
        if operation == "RoleName":
            return _text(200, self.role.name)
        if request.raw_path[len(CREDENTIALS_PATH):] != self.role.name:
            return _text(404, "Not Found")
        return self._credentials(now)

    def _issue_token(self, request: Request, now: float) -> Response:
        if request.method != "PUT":
            return _text(405, "Method Not Allowed")
        try:
            ttl = int(request.header("X-aliyun-ecs-metadata-token-ttl-seconds") or "")
        except ValueError:
            return _text(400, "Bad Request: X-aliyun-ecs-metadata-token-ttl-seconds is required")
        if not 1 <= ttl <= 21600:
            return _text(400, "Bad Request: token TTL must be 1..21600 seconds")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + ttl
        return _text(200, token)

    def _credentials(self, now: float) -> Response:
        assert self.role is not None
        with self._lock:
            session = self._session
            if session is None or session.role is not self.role \
                    or session.expiration - now < RENEW_BEFORE:
                session = self.iam.issue_session(self.role, "ecs-instance",
                                                 expiration=now + SESSION_LIFETIME)
                self._session = session
        body = {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": session.access_key_secret,
            "SecurityToken": session.security_token,
            "Expiration": time.strftime(ISO_FORMAT, time.gmtime(session.expiration)),
            "LastUpdated": time.strftime(ISO_FORMAT, time.gmtime(now)),
            "Code": "Success",
        }
        return _text(200, json.dumps(body), "application/json")
