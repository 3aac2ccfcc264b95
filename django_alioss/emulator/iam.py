"""The emulated account: RAM users and their AccessKeys, RAM roles, OIDC providers,
and the temporary credentials STS has issued.

OSS asks it who signed a request (:meth:`IAM.principal_for`) and whether that
principal may act (:meth:`Principal.authorize`); STS asks it for roles and
providers and records what it issues (:meth:`IAM.issue_session`).
"""

from __future__ import annotations

import base64
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .policy import Decision, evaluate_all, validate_policy

DEFAULT_ACCOUNT_ID = "1389201472653210"
_ALNUM = string.ascii_letters + string.digits


def _random_text(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_access_key_id() -> str:
    """A RAM user's AccessKey id: ``LTAI`` and 20 more characters, as RAM issues them."""
    return "LTAI5t" + _random_text(18)


def new_access_key_secret() -> str:
    return _random_text(30)


@dataclass
class User:
    """A RAM user with one AccessKey pair and its attached permission policies."""

    name: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    policies: list[dict[str, Any]]
    account_id: str

    @property
    def arn(self) -> str:
        return f"acs:ram::{self.account_id}:user/{self.name}"

    @property
    def principal_type(self) -> str:
        return "SubUser"

    @property
    def principal_id(self) -> str:
        return self.name


@dataclass
class Role:
    """A RAM role: who may assume it (trust policy) and what it may do (policies)."""

    name: str
    trust_policy: dict[str, Any]
    policies: list[dict[str, Any]]
    account_id: str
    max_session_duration: int = 3600
    role_id: str = field(default_factory=lambda: "3" + _random_text(18, string.digits))

    @property
    def arn(self) -> str:
        return f"acs:ram::{self.account_id}:role/{self.name}"


@dataclass
class OIDCProvider:
    """An OIDC identity provider registered in RAM (ACK names it ``ack-rrsa-<cluster>``)."""

    name: str
    issuer_url: str
    client_ids: list[str]
    account_id: str

    @property
    def arn(self) -> str:
        return f"acs:ram::{self.account_id}:oidc-provider/{self.name}"


@dataclass
class Session:
    """Temporary credentials STS issued for an assumed role."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)
    expiration: float
    role: Role
    session_name: str
    session_policy: dict[str, Any] | None = None

    @property
    def arn(self) -> str:
        return f"acs:ram::{self.role.account_id}:assumed-role/{self.role.name}/{self.session_name}"

    @property
    def assumed_role_id(self) -> str:
        return f"{self.role.role_id}:{self.session_name}"

    @property
    def principal_type(self) -> str:
        return "AssumedRoleUser"

    @property
    def principal_id(self) -> str:
        return self.assumed_role_id

    @property
    def policies(self) -> list[dict[str, Any]]:
        return self.role.policies


Principal = User | Session


def authorize(principal: Principal, action: str, resource: str,
              context: Mapping[str, Any] | None = None) -> Decision:
    """Decide whether ``principal`` may perform ``action`` on ``resource``.

    For an assumed role both the role's policies and the session policy (if one was
    passed to AssumeRole*) must allow the action.
    """
    policy_sets: list[list[dict[str, Any]]] = [principal.policies]
    if isinstance(principal, Session) and principal.session_policy is not None:
        policy_sets.append([principal.session_policy])
    return evaluate_all(policy_sets, action, resource, context)


class IAM:
    """Users, roles, OIDC providers and issued STS sessions of one emulated account."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._users_by_key: dict[str, User] = {}
        self._roles: dict[str, Role] = {}
        self._providers: dict[str, OIDCProvider] = {}
        self._sessions: dict[str, Session] = {}
        self._sessions_by_token: dict[str, Session] = {}

    # --- RAM users -------------------------------------------------------------
    def add_user(self, name: str, policies: list[dict[str, Any]], *,
                 access_key_id: str | None = None, access_key_secret: str | None = None) -> User:
        for policy in policies:
            validate_policy(policy)
        user = User(
            name=name,
            access_key_id=access_key_id or new_access_key_id(),
            access_key_secret=access_key_secret or new_access_key_secret(),
            policies=list(policies),
            account_id=self.account_id,
        )
        with self._lock:
            self._users[name] = user
            self._users_by_key[user.access_key_id] = user
        return user

    def user(self, name: str) -> User:
        return self._users[name]

    # --- roles and providers ---------------------------------------------------------
    def add_role(self, name: str, trust_policy: dict[str, Any], policies: list[dict[str, Any]],
                 *, max_session_duration: int = 3600) -> Role:
        if not 3600 <= max_session_duration <= 43200:
            raise ValueError("max_session_duration must be between 3600 and 43200 seconds")
        validate_policy(trust_policy)
        for policy in policies:
            validate_policy(policy)
        role = Role(name=name, trust_policy=trust_policy, policies=list(policies),
                    account_id=self.account_id, max_session_duration=max_session_duration)
        with self._lock:
            self._roles[role.arn] = role
        return role

    def role_by_arn(self, arn: str) -> Role | None:
        """The role an ARN names; ARNs are compared case-insensitively, as RAM does."""
        with self._lock:
            for role_arn, role in self._roles.items():
                if role_arn.lower() == arn.lower():
                    return role
        return None

    def add_oidc_provider(self, name: str, issuer_url: str, client_ids: list[str]) -> OIDCProvider:
        provider = OIDCProvider(name=name, issuer_url=issuer_url, client_ids=list(client_ids),
                                account_id=self.account_id)
        with self._lock:
            self._providers[provider.arn] = provider
        return provider

    def provider_by_arn(self, arn: str) -> OIDCProvider | None:
        with self._lock:
            return self._providers.get(arn)

    # --- STS sessions ---------------------------------------------------------------
    def issue_session(self, role: Role, session_name: str, expiration: float,
                      session_policy: dict[str, Any] | None = None) -> Session:
        """Mint and remember temporary credentials for ``role``."""
        raw_token = secrets.token_bytes(192)
        session = Session(
            access_key_id="STS.NU" + _random_text(22),
            access_key_secret=_random_text(44),
            security_token="CAIS" + base64.b64encode(raw_token).decode("ascii"),
            expiration=expiration,
            role=role,
            session_name=session_name,
            session_policy=session_policy,
        )
        with self._lock:
            self._sessions[session.access_key_id] = session
            self._sessions_by_token[session.security_token] = session
        return session

    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    # --- lookups for request authentication ------------------------------------------
    def principal_for(self, access_key_id: str) -> Principal | None:
        """The user or STS session an AccessKey id belongs to, if any."""
        with self._lock:
            return self._users_by_key.get(access_key_id) or self._sessions.get(access_key_id)

    def session_for_token(self, security_token: str) -> Session | None:
        """The STS session a security token was issued with (any AccessKey id)."""
        with self._lock:
            return self._sessions_by_token.get(security_token)
