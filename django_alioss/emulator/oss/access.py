"""Who may do what: RAM policies of the signer, ACLs for everyone else."""

from __future__ import annotations

from ..auth import Identity
from ..iam import IAM, Session, authorize
from ..policy import evaluate
from ..store import BucketInfo, NoSuchKey, ObjectRecord, Store
from .errors import RAM_DENIED_EC, WireError

ACL_DENIED_MESSAGE = "You have no right to access this object because of bucket acl."
PUBLIC_BUCKET_ACLS = ("public-read", "public-read-write")


def acl_grants(bucket: BucketInfo, record: ObjectRecord | None, write: bool) -> bool:
    """Whether the object's ACL (or, for ``default``, the bucket's) lets anyone read it,
    or also write it."""
    acl = record.acl if record is not None and record.acl != "default" else bucket.acl
    return acl == "public-read-write" or (not write and acl == "public-read")


class AccessControl:
    """Authorizes OSS actions against the IAM registry and the store's ACLs."""

    def __init__(self, iam: IAM, store: Store, region: str) -> None:
        self.iam = iam
        self.store = store
        self.region = region

    def object_resource(self, bucket: str, key: str) -> str:
        return f"acs:oss:{self.region}:{self.iam.account_id}:{bucket}/{key}"

    def bucket_resource(self, bucket: str) -> str:
        return f"acs:oss:{self.region}:{self.iam.account_id}:{bucket}"

    def authorize(self, identity: Identity, action: str, resource: str, *,
                  public: bool = False) -> None:
        """Let the request through if the signer's policies allow ``action`` on
        ``resource`` (or, short of an explicit deny, when ``public``: the ACL grants it
        to everyone); otherwise raise 403 AccessDenied."""
        principal = identity.principal
        if principal is None:
            if public:
                return
            raise WireError(403, "AccessDenied", ACL_DENIED_MESSAGE)
        decision = authorize(principal, action, resource)
        if decision.allowed or (public and decision.reason == "ImplicitDeny"):
            return
        policy_type = "AccountLevelIdentityBasedPolicy"
        if (isinstance(principal, Session) and principal.session_policy is not None
                and evaluate(principal.role.policies, action, resource).allowed):
            policy_type = "SessionPolicy"
        raise WireError(403, "AccessDenied", f"You are forbidden to {action}.", {
            "AccessDeniedDetail": {
                "AuthPrincipalType": principal.principal_type,
                "AuthPrincipalOwnerId": self.iam.account_id,
                "AuthPrincipalId": principal.principal_id,
                "AuthAction": action,
                "PolicyType": policy_type,
                "NoPermissionType": decision.reason,
            },
        }, ec=RAM_DENIED_EC)

    def authorize_object(self, identity: Identity, action: str, bucket: str, key: str, *,
                         write: bool, info: BucketInfo | None = None) -> ObjectRecord | None:
        """Authorize an object action; return the object's record if it exists."""
        info = info if info is not None else self.store.get_bucket(bucket)
        try:
            record: ObjectRecord | None = self.store.head_object(bucket, key)
        except NoSuchKey:
            record = None
        self.authorize(identity, action, self.object_resource(bucket, key),
                       public=acl_grants(info, record, write))
        return record

    def authorize_bucket(self, identity: Identity, action: str, bucket: str, *,
                         public: bool = False) -> BucketInfo:
        """Authorize a bucket action (``public``: a public bucket ACL grants it too)."""
        info = self.store.get_bucket(bucket)
        self.authorize(identity, action, self.bucket_resource(bucket),
                       public=public and info.acl in PUBLIC_BUCKET_ACLS)
        return info
