"""The emulated Security Token Service: AssumeRoleWithOIDC (RRSA) and AssumeRole.

Requests arrive as STS's RPC style (``Action=...`` in the query string, or a form
body for POST) or as OpenAPI V3 requests (the action in ``x-acs-action``, the version in
``x-acs-version``), and are answered with STS's JSON shapes, status codes and error
codes. OIDC tokens are verified against the public JWKS of the issuer registered
for the provider's issuer URL; AssumeRole requests are checked for their signature (RPC
HMAC-SHA1 or V3 ACS3-HMAC-SHA256, see :mod:`.sts_auth`), timestamp and nonce. Every
check uses the emulator clock.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .extras import missing_extra

try:
    import jwt
except ImportError as exc:
    raise missing_extra(exc) from exc

from ..redaction import mask_key_id
from .controls import Controls
from .httpserver import Request, Response, log_safe, new_request_id
from .iam import IAM, OIDCProvider, Role, Session, authorize
from .oidc import OIDCIssuer
from .policy import PolicyError, as_list, conditions_hold, validate_policy, wildcard_match
from .sts_auth import ISO_FORMAT, CallerAuthenticator, STSError
from .sts_auth import require as _require

logger = logging.getLogger("django_alioss.emulator")

API_VERSION = "2015-04-01"
HOST_ID = "sts.aliyuncs.com"
MIN_DURATION = 900
MAX_DURATION = 43200
MAX_FORM_BODY = 1024 * 1024
ASSUME_ROLE_ACTION = "sts:AssumeRole"
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
_SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")


def _iso(epoch: float) -> str:
    return time.strftime(ISO_FORMAT, time.gmtime(epoch))


def _is_time(value: object) -> bool:
    """A NumericDate STS can work with: a finite number of seconds in years 1970..9999."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value <= MAX_NUMERIC_DATE)


def _claims_well_typed(claims: Mapping[str, Any]) -> bool:
    """iss and sub strings, aud a string or a non-empty list of them, exp (and iat and nbf
    when present) NumericDates: anything else is an invalid token, never a crash."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return (isinstance(claims.get("iss"), str) and isinstance(claims.get("sub"), str)
            and bool(audiences) and all(isinstance(a, str) for a in audiences)
            and _is_time(claims.get("exp"))
            and all(_is_time(claims[name]) for name in ("iat", "nbf") if name in claims))


def _statement_trusts(statement: Mapping[str, Any], principal_type: str,
                      principal_values: Iterable[str], context: Mapping[str, Any]) -> bool:
    actions = as_list(statement.get("Action"))
    if not any(wildcard_match(str(a), ASSUME_ROLE_ACTION, ignore_case=True) for a in actions):
        return False
    principal = statement.get("Principal")
    if principal == "*":
        named = ["*"]
    elif isinstance(principal, Mapping):
        named = [str(p) for p in as_list(principal.get(principal_type))]
    else:
        return False
    values = list(principal_values)
    if not any(wildcard_match(p, v, ignore_case=True) for p in named for v in values):
        return False
    return conditions_hold(statement.get("Condition", {}), context)


def trust_policy_allows(role: Role, principal_type: str, principal_values: Iterable[str],
                        context: Mapping[str, Any]) -> bool:
    """Whether the role's trust policy lets that principal ``sts:AssumeRole``.

    ``principal_type`` is the Principal key (``"RAM"``, ``"Federated"``,
    ``"Service"``); an explicit Deny wins over any Allow.
    """
    values = list(principal_values)
    allowed = False
    for statement in as_list(role.trust_policy.get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        if not _statement_trusts(statement, principal_type, values, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class STSService:
    """The emulated STS, a service for :class:`~.httpserver.ServiceServer`.

    ``issuers`` maps an issuer URL to the :class:`~.oidc.OIDCIssuer` whose public
    JWKS verifies tokens of OIDC providers with that issuer URL; the owner may add
    entries later. Thread-safe.
    """

    name = "sts"
    bad_request_code = "InvalidParameter"  # answers a malformed request (see httpserver)

    def __init__(self, iam: IAM, controls: Controls,
                 issuers: MutableMapping[str, OIDCIssuer] | None = None) -> None:
        self.iam = iam
        self.controls = controls
        self.issuers: MutableMapping[str, OIDCIssuer] = issuers if issuers is not None else {}
        self.callers = CallerAuthenticator(controls.clock)
        self._actions: dict[str, Callable[[Request, dict[str, str], bytes], dict[str, Any]]] = {
            "AssumeRoleWithOIDC": self._assume_role_with_oidc,
            "AssumeRole": self._assume_role,
        }

    # --- Service protocol -------------------------------------------------------------
    def operation(self, request: Request) -> str:
        """The query's Action or the ``x-acs-action`` header; a POST form body cannot be
        peeked at, so ``"STS"`` then."""
        return request.params.get("Action") or request.header("x-acs-action") or "STS"

    def handle(self, request: Request) -> Response:
        try:
            params, body = self._params(request)
            _require(params, "Action")
            action = self._actions.get(params["Action"])
            if action is None:
                raise STSError(400, "InvalidAction.NotFound",
                               "Specified api is not found, please check your url and method.")
            _require(params, "Version")
            if params["Version"] != API_VERSION:
                raise STSError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            request_id = new_request_id()
            document = {"RequestId": request_id, **action(request, params, body)}
            return self._json(200, document, request_id)
        except STSError as exc:
            logger.info("sts %s: %s %s", self.operation(request), exc.code,
                        log_safe(exc.message))
            return self.error_response(request, exc.status, exc.code, exc.message)

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        request_id = new_request_id()
        return self._json(status, {
            "RequestId": request_id,
            "HostId": HOST_ID,
            "Code": code,
            "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Sts"
                         f"&requestId={request_id}",
        }, request_id)

    @staticmethod
    def _json(status: int, document: Mapping[str, Any], request_id: str) -> Response:
        body = json.dumps(document).encode("utf-8")
        return Response(status, [("Content-Type", "application/json;charset=utf-8"),
                                 ("x-acs-request-id", request_id)], body)

    @staticmethod
    def _params(request: Request) -> tuple[dict[str, str], bytes]:
        """Query parameters, plus a form body's for POST (the body wins on conflicts), plus
        the action and version of a V3 request's ``x-acs-action``/``x-acs-version``
        headers; and the raw body (a V3 signature covers it)."""
        params = {name: value for header, name in (("x-acs-action", "Action"),
                                                   ("x-acs-version", "Version"))
                  if (value := request.header(header)) is not None}
        params.update(request.params)
        raw = b""
        if request.method == "POST":
            length = request.body.length
            if length is not None and length > MAX_FORM_BODY:
                request.body.drain()
                raise STSError(400, "InvalidParameter", "The request body is too large.")
            raw = request.body.read(MAX_FORM_BODY + 1)
            request.body.drain()
            if len(raw) > MAX_FORM_BODY:
                raise STSError(400, "InvalidParameter", "The request body is too large.")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise STSError(400, "InvalidParameter", "The request body is not UTF-8.") from exc
            params.update(parse_qsl(text, keep_blank_values=True))
        else:
            request.body.drain()
        return params, raw

    # --- shared parameter checks --------------------------------------------------------
    @staticmethod
    def _session_name(params: Mapping[str, str]) -> str:
        name = params["RoleSessionName"]
        if not _SESSION_NAME.fullmatch(name):
            raise STSError(400, "InvalidParameter.RoleSessionName",
                           "The parameter RoleSessionName is wrongly formed.")
        return name

    @staticmethod
    def _session_policy(params: Mapping[str, str]) -> dict[str, Any] | None:
        text = params.get("Policy")
        if text is None or text == "":
            return None
        try:
            document = json.loads(text)
            validate_policy(document)
        except (ValueError, PolicyError) as exc:
            raise STSError(400, "InvalidParameter.PolicyGrammar",
                           "The parameter Policy has not passed grammar check.") from exc
        return document

    @staticmethod
    def _duration(params: Mapping[str, str], role: Role) -> int:
        maximum = min(role.max_session_duration, MAX_DURATION)
        error = STSError(400, "InvalidParameter.DurationSeconds",
                         f"The Min/Max value of DurationSeconds is 15min/{maximum // 3600}hr.")
        text = params.get("DurationSeconds", "3600")
        try:
            duration = int(text)
        except ValueError:
            raise error from None
        if not MIN_DURATION <= duration <= maximum:
            raise error
        return duration

    def _role(self, params: Mapping[str, str]) -> Role:
        role = self.iam.role_by_arn(params["RoleArn"])
        if role is None:
            raise STSError(404, "EntityNotExist.Role", f"The role not exists: {params['RoleArn']}.")
        return role

    def _issue(self, role: Role, session_name: str, duration: int,
               policy: dict[str, Any] | None) -> dict[str, Any]:
        expiration = int(self.controls.clock.now()) + duration
        session = self.iam.issue_session(role, session_name, expiration=expiration,
                                         session_policy=policy)
        logger.info("sts issued %s for %s (expires %s)", mask_key_id(session.access_key_id),
                    role.arn, _iso(expiration))
        return {
            "AssumedRoleUser": {
                "Arn": f"acs:ram::{role.account_id}:role/{role.name}/{session_name}",
                "AssumedRoleId": session.assumed_role_id,
            },
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "AccessKeySecret": session.access_key_secret,
                "SecurityToken": session.security_token,
                "Expiration": _iso(expiration),
            },
        }

    # --- AssumeRoleWithOIDC ----------------------------------------------------------------
    def _assume_role_with_oidc(self, request: Request, params: dict[str, str],
                               body: bytes) -> dict[str, Any]:
        _require(params, "RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName")
        session_name = self._session_name(params)
        policy = self._session_policy(params)
        provider = self.iam.provider_by_arn(params["OIDCProviderArn"])
        if provider is None:
            raise STSError(401, "AuthenticationFail.NoPermission",
                           "No such OIDC Provider registered.")
        role = self._role(params)
        duration = self._duration(params, role)
        claims = self.verify_oidc_token(params["OIDCToken"], provider)
        audiences = [str(a) for a in as_list(claims["aud"])]
        context = {"oidc:iss": claims["iss"], "oidc:aud": audiences, "oidc:sub": claims["sub"]}
        if not trust_policy_allows(role, "Federated", [provider.arn], context):
            raise STSError(401, "AuthenticationFail.NoPermission", "There is no permission")
        result = self._issue(role, session_name, duration, policy)
        result["OIDCTokenInfo"] = {
            "Issuer": claims["iss"],
            "Subject": claims["sub"],
            "ClientIds": ",".join(a for a in audiences if a in provider.client_ids),
            "ExpirationTime": _iso(claims["exp"]),
            "IssuanceTime": _iso(claims["iat"]) if "iat" in claims else "",
            "VerificationInfo": "Success",
        }
        return result

    def _issuer_for(self, provider: OIDCProvider) -> OIDCIssuer | None:
        url = provider.issuer_url
        return self.issuers.get(url) or self.issuers.get(url.rstrip("/")) \
            or self.issuers.get(url.rstrip("/") + "/")

    def verify_oidc_token(self, token: str, provider: OIDCProvider) -> dict[str, Any]:
        """Verify an OIDC token for ``provider`` as STS does; returns its claims.

        Raises :class:`STSError` with STS's ``AuthenticationFail.OIDCToken.*`` codes.
        """
        def fail(kind: str, message: str) -> STSError:
            return STSError(401, f"AuthenticationFail.OIDCToken.{kind}", message)

        token = token.strip()
        if not token:
            raise fail("Invalid", "The OIDCToken can not empty.")
        if not 4 <= len(token) <= 20000:
            raise fail("Invalid", "The OIDCToken must be 4 to 20000 characters long.")
        if token.count(".") != 2:
            raise fail("Invalid", "The number of Jwt field should be divided into 3 parts "
                                  "with '.' .")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise fail("Invalid", "Cannot decode base64 encoded response(format invalided).") \
                from exc
        algorithm = header.get("alg")
        if algorithm != "RS256":
            raise fail("Invalid", f"The algorithm {algorithm} that be specified in Jwt header "
                                  "is unknown.")
        if not _claims_well_typed(unverified):
            raise fail("Invalid", "The Jwt content is invalid that cannot be recognized.")
        if str(unverified["iss"]).rstrip("/") != provider.issuer_url.rstrip("/"):
            raise fail("IssuerNotMatch", "Invalid issuer.")
        claims = self._verified_claims(token, header, provider, fail)
        audiences = [str(a) for a in as_list(claims["aud"])]
        if not set(audiences) & set(provider.client_ids):
            raise fail("AudienceNotMatch", "Invalid audience.")
        now = self.controls.clock.now()
        expires, not_before = claims["exp"], claims.get("nbf", 0)
        if now >= expires:
            raise fail("Expired", "This JsonWebToken is expired.")
        if now < not_before:
            raise fail("Expired", "This JsonWebToken is not yet valid.")
        return claims

    def _verified_claims(self, token: str, header: Mapping[str, Any], provider: OIDCProvider,
                         fail: Callable[[str, str], STSError]) -> dict[str, Any]:
        issuer = self._issuer_for(provider)
        if issuer is None:
            raise fail("Invalid", f"Unable to get the JWKS of issuer {provider.issuer_url}.")
        keys = issuer.jwks()["keys"]
        kid = header.get("kid")
        candidates = [k for k in keys if kid is None or k.get("kid") == kid]
        for jwk in candidates:
            try:
                key = jwt.PyJWK(jwk).key
                # Times, audience and issuer are checked by the caller, with STS's codes.
                return jwt.decode(token, key, algorithms=["RS256"], options={
                    "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                    "verify_aud": False, "verify_iss": False})
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError as exc:
                raise fail("Invalid", "The Jwt content is invalid that cannot be recognized.") \
                    from exc
        raise fail("InvalidSignature", "OIDC token validate failed: invalid signature.")

    # --- AssumeRole --------------------------------------------------------------------
    def _assume_role(self, request: Request, params: dict[str, str],
                     body: bytes) -> dict[str, Any]:
        caller = self.callers.authenticate(self.iam, request, params, body)
        _require(params, "RoleArn", "RoleSessionName")
        session_name = self._session_name(params)
        policy = self._session_policy(params)
        role = self._role(params)
        duration = self._duration(params, role)
        if not authorize(caller, ASSUME_ROLE_ACTION, role.arn).allowed:
            raise STSError(403, "NoPermission",
                           "You are not authorized to do this action. You should be authorized "
                           "by RAM.")
        account = caller.role.account_id if isinstance(caller, Session) else caller.account_id
        context: dict[str, Any] = {}
        if params.get("ExternalId"):
            context["sts:ExternalId"] = params["ExternalId"]
        if not trust_policy_allows(role, "RAM", [f"acs:ram::{account}:root", caller.arn],
                                   context):
            raise STSError(403, "NoPermission",
                           "No permission perform sts:AssumeRole on this Role. Maybe you should "
                           "check the role trust policy.")
        return self._issue(role, session_name, duration, policy)
