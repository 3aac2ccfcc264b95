"""An emulated OIDC issuer, like the one ACK runs for RRSA, and a kubelet-style token file.

:class:`OIDCIssuer` is a service for :class:`~.httpserver.ServiceServer`: it serves the
discovery document and the JWKS, and mints Kubernetes projected service-account
tokens (RS256, ``kid`` header) on the emulator clock. :class:`ProjectedTokenFile`
writes such a token to disk and rotates it like the kubelet does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .extras import missing_extra

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError as exc:
    raise missing_extra(exc) from exc

from .controls import Controls
from .httpserver import Request, Response, new_request_id

logger = logging.getLogger("django_alioss.emulator")

MIN_TOKEN_LIFETIME = 600
MAX_TOKEN_LIFETIME = 43200
ROTATE_AT_FRACTION = 0.8  # the kubelet refreshes a token once 80% of its lifetime passed
DEFAULT_AUDIENCE = ("sts.aliyuncs.com",)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class _SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> _SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        # kube-apiserver derives the kid from the public key the same way.
        kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")
        return cls(kid=kid, private_key=key)

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


class OIDCIssuer:
    """A Kubernetes service-account token issuer with OIDC discovery.

    Serves ``GET /.well-known/openid-configuration`` ("Discovery") and ``GET /keys``
    ("JWKS"); anything else is a 404 JSON error. ``issuer_url`` is the ``iss`` of
    every token and must be set (normally to the hosting server's URL) before
    minting. Only the current signing key is published, so :meth:`rotate_key`
    makes every earlier token fail signature checks.
    """

    name = "oidc"
    bad_request_code = "invalid_request"  # answers a malformed request (see httpserver)

    def __init__(self, controls: Controls, issuer_url: str = "") -> None:
        self.controls = controls
        self._issuer_url = issuer_url.rstrip("/")
        self._lock = threading.Lock()
        self._key = _SigningKey.generate()
        self._sa_uids: dict[tuple[str, str], str] = {}

    # --- configuration -------------------------------------------------------------
    @property
    def issuer_url(self) -> str:
        return self._issuer_url

    @issuer_url.setter
    def issuer_url(self, value: str) -> None:
        self._issuer_url = value.rstrip("/")

    @property
    def kid(self) -> str:
        """The key id of the current signing key (the ``kid`` of new tokens)."""
        with self._lock:
            return self._key.kid

    def rotate_key(self) -> str:
        """Replace the signing key; the old public key leaves the JWKS. Returns the new kid."""
        new_key = _SigningKey.generate()
        with self._lock:
            old, self._key = self._key.kid, new_key
        logger.info("oidc issuer %s rotated its signing key %s -> %s",
                    self._issuer_url, old, new_key.kid)
        return new_key.kid

    # --- documents -------------------------------------------------------------------
    def discovery_document(self) -> dict[str, Any]:
        """The OpenID provider metadata served at ``/.well-known/openid-configuration``."""
        return {
            "issuer": self._issuer_url,
            "jwks_uri": f"{self._issuer_url}/keys",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JSON Web Key Set served at ``/keys`` (current key only)."""
        with self._lock:
            return {"keys": [self._key.jwk()]}

    # --- tokens ----------------------------------------------------------------------
    def sign_claims(self, claims: Mapping[str, Any],
                    headers: Mapping[str, Any] | None = None) -> str:
        """Sign arbitrary claims with the current key (RS256, ``kid`` header)."""
        with self._lock:
            key = self._key
        return jwt.encode(dict(claims), key.private_key, algorithm="RS256",
                          headers={"kid": key.kid, **(headers or {})})

    def sign_payload(self, payload: bytes, headers: Mapping[str, Any] | None = None) -> str:
        """Sign any payload bytes as a JWS with the current key, with no check of the
        claims (to test how STS answers malformed or wrongly typed tokens)."""
        with self._lock:
            key = self._key
        return jwt.api_jws.encode(payload, key.private_key, algorithm="RS256",
                                  headers={"kid": key.kid, **(headers or {})})

    def mint_token(self, namespace: str = "default", service_account: str = "alioss",
                   audience: Sequence[str] = DEFAULT_AUDIENCE, lifetime: int = 3600,
                   pod_name: str | None = None, now: float | None = None) -> str:
        """A projected service-account token as the kube-apiserver issues it.

        Times come from the emulator clock unless ``now`` is given. ``lifetime`` must
        be within 600..43200 seconds (ValueError otherwise), as for a projected
        volume's ``expirationSeconds``.
        """
        if not MIN_TOKEN_LIFETIME <= lifetime <= MAX_TOKEN_LIFETIME:
            raise ValueError(
                f"token lifetime must be {MIN_TOKEN_LIFETIME}..{MAX_TOKEN_LIFETIME} seconds")
        if not self._issuer_url:
            raise ValueError("issuer_url is not set")
        if isinstance(audience, str):
            audience = [audience]
        issued = int(self.controls.clock.now() if now is None else now)
        with self._lock:
            sa_uid = self._sa_uids.setdefault((namespace, service_account), str(uuid.uuid4()))
        claims = {
            "aud": list(audience),
            "exp": issued + int(lifetime),
            "iat": issued,
            "iss": self._issuer_url,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "pod": {"name": pod_name or f"{service_account}-pod", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": service_account, "uid": sa_uid},
            },
            "nbf": issued,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
        }
        return self.sign_claims(claims)

    # --- Service protocol -------------------------------------------------------------
    _ROUTES = {"/.well-known/openid-configuration": "Discovery", "/keys": "JWKS"}

    def operation(self, request: Request) -> str:
        return self._ROUTES.get(request.raw_path, "NotFound")

    def handle(self, request: Request) -> Response:
        request.body.drain()
        operation = self.operation(request)
        if operation == "NotFound" or request.method not in ("GET", "HEAD"):
            status = 404 if operation == "NotFound" else 405
            code = "NotFound" if status == 404 else "MethodNotAllowed"
            return self.error_response(request, status, code,
                                       f"{request.method} {request.raw_path} is not served.")
        document = self.discovery_document() if operation == "Discovery" else self.jwks()
        return _json_response(200, document)

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        return _json_response(status, {"error": code, "error_description": message,
                                       "request_id": new_request_id()})


def _json_response(status: int, document: Mapping[str, Any]) -> Response:
    body = json.dumps(document).encode("utf-8")
    return Response(status, [("Content-Type", "application/json"),
                             ("Cache-Control", "public, max-age=3600")], body)


class ProjectedTokenFile:
    """A token file kept fresh like the kubelet keeps a projected SA token volume.

    :meth:`write` mints a token and replaces the file atomically (temporary file in
    the same directory, mode 0600, ``os.replace``; no trailing newline).
    :meth:`start` runs a daemon thread that rewrites the file once 80% of the
    token's lifetime has passed on the emulator clock, checking a few times a
    second. ``rotations`` counts every write, the first included.
    """

    POLL_INTERVAL = 0.2

    def __init__(self, issuer: OIDCIssuer, path: str | os.PathLike[str],
                 namespace: str = "default", service_account: str = "alioss",
                 audience: Sequence[str] = DEFAULT_AUDIENCE, lifetime: int = 3600,
                 pod_name: str | None = None) -> None:
        if not MIN_TOKEN_LIFETIME <= lifetime <= MAX_TOKEN_LIFETIME:
            raise ValueError(
                f"token lifetime must be {MIN_TOKEN_LIFETIME}..{MAX_TOKEN_LIFETIME} seconds")
        self.issuer = issuer
        self.path = os.fspath(path)
        self.namespace = namespace
        self.service_account = service_account
        self.audience = list(audience)
        self.lifetime = lifetime
        self.pod_name = pod_name
        self.rotations = 0
        self.token: str | None = None
        self._issued_at: float | None = None
        self._write_lock = threading.RLock()  # refresh_if_due holds it around write()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def refresh_due_at(self) -> float | None:
        """Emulator time at which the background thread rewrites the file."""
        if self._issued_at is None:
            return None
        return self._issued_at + ROTATE_AT_FRACTION * self.lifetime

    def write(self) -> str:
        """Mint a fresh token and atomically replace the file with it; returns the token."""
        with self._write_lock:
            now = self.issuer.controls.clock.now()
            token = self.issuer.mint_token(
                namespace=self.namespace, service_account=self.service_account,
                audience=self.audience, lifetime=self.lifetime, pod_name=self.pod_name, now=now)
            directory = os.path.dirname(os.path.abspath(self.path))
            fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".token.", suffix=".tmp")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(token)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_path, self.path)
            except BaseException:
                if os.path.exists(tmp_path):
                    os.unlink(tmp_path)
                raise
            self.token = token
            self._issued_at = float(int(now))
            self.rotations += 1
        logger.debug("wrote projected token %s (write #%d)", self.path, self.rotations)
        return token

    def refresh_if_due(self) -> bool:
        """Rewrite the file if 80% of the token's lifetime has passed on the emulator clock
        (one step of the background thread; tests call it to rotate deterministically).
        Returns whether it rewrote the file."""
        with self._write_lock:
            due = self.refresh_due_at
            if due is None or self.issuer.controls.clock.now() < due:
                return False
            self.write()
        return True

    @property
    def running(self) -> bool:
        """Whether the background rotation thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Write the file if not yet written and keep it fresh in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self.token is None:
            self.write()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"alioss-token-file-{self.service_account}")
        self._thread.start()

    def stop(self) -> None:
        """Stop the rotation thread (the file stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_INTERVAL):
            try:
                self.refresh_if_due()
            except Exception:
                logger.exception("rotating projected token %s failed", self.path)

    def __enter__(self) -> ProjectedTokenFile:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
