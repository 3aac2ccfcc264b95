"""What an operation is handed: the request, its route and signer, and the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..auth import Identity, Verifier
from ..controls import Controls
from ..httpserver import Request, Response
from ..iam import IAM
from ..store import BucketInfo, ObjectRecord, Store
from .access import AccessControl
from .routing import Route


class OSSBackend(Protocol):
    """The parts of :class:`~.service.OSSService` operations use."""

    iam: IAM
    store: Store
    controls: Controls
    region: str
    access: AccessControl
    verifier: Verifier
    max_object_size: int
    min_part_size: int

    @property
    def endpoint(self) -> str: ...


@dataclass
class Call:
    """One request being served: everything an operation needs."""

    request: Request
    route: Route
    identity: Identity
    oss: OSSBackend

    @property
    def bucket(self) -> str:
        return self.route.bucket

    @property
    def key(self) -> str:
        return self.route.key

    @property
    def store(self) -> Store:
        return self.oss.store

    @property
    def owner(self) -> str:
        """The account id, owner of every bucket and object."""
        return self.oss.iam.account_id

    def now(self) -> float:
        return self.oss.controls.clock.now()

    def authorize(self, action: str, resource: str) -> None:
        self.oss.access.authorize(self.identity, action, resource)

    def authorize_object(self, action: str, *, write: bool, bucket: str | None = None,
                         key: str | None = None) -> ObjectRecord | None:
        """Authorize an object action (this request's object unless given); return the
        object's record if it exists."""
        return self.oss.access.authorize_object(
            self.identity, action, self.bucket if bucket is None else bucket,
            self.key if key is None else key, write=write)

    def authorize_bucket(self, action: str, *, public: bool = False) -> BucketInfo:
        return self.oss.access.authorize_bucket(self.identity, action, self.bucket,
                                                public=public)


#: An operation: answers a call (errors are raised as WireError or store errors).
Operation = Callable[[Call], Response]
