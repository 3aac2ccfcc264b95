"""Service and bucket operations: ListBuckets, Put/DeleteBucket, GetBucketInfo,
GetBucketLocation and the bucket ACL."""

from __future__ import annotations

import re

from ...httpserver import Request, Response
from ...store import BUCKET_ACLS, BucketInfo
from ..context import Call, Operation
from ..errors import WireError, invalid_argument
from ..parsing import int_param, read_xml
from ..wire import XmlContent, acl_document, iso_date, xml_document, xml_response, xml_text_document

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def _bucket_content(call: Call, info: BucketInfo) -> XmlContent:
    region = call.oss.region
    return [
        ("CreationDate", iso_date(info.created)),
        ("ExtranetEndpoint", call.oss.endpoint),
        ("IntranetEndpoint", f"oss-{region}-internal.aliyuncs.com"),
        ("Location", f"oss-{region}"), ("Name", info.name), ("Region", region),
        ("StorageClass", "Standard"),
    ]


def _owner(call: Call) -> XmlContent:
    return [("ID", call.owner), ("DisplayName", call.owner)]


def list_buckets(call: Call) -> Response:
    request = call.request
    call.authorize("oss:ListBuckets", f"acs:oss:*:{call.owner}:*")
    params = request.params
    prefix, marker = params.get("prefix", ""), params.get("marker", "")
    max_keys = int_param(request, "max-keys", 100, 1, 1000)
    buckets = [b for b in call.store.list_buckets()
               if b.name.startswith(prefix) and b.name > marker]
    page, truncated = buckets[:max_keys], len(buckets) > max_keys
    content: XmlContent = [("Owner", _owner(call))]
    if any(p in params for p in ("prefix", "marker", "max-keys")):
        content += [("Prefix", prefix), ("Marker", marker), ("MaxKeys", max_keys),
                    ("IsTruncated", truncated)]
        if truncated:
            content.append(("NextMarker", page[-1].name))
    content.append(("Buckets", [("Bucket", _bucket_content(call, b)) for b in page]))
    return xml_response(xml_document("ListAllMyBucketsResult", content))


def _bucket_acl(request: Request, default: str | None) -> str:
    acl = request.header("x-oss-acl") or default or ""
    if acl not in BUCKET_ACLS:
        raise invalid_argument("no such bucket access control exists", "x-oss-acl", acl)
    return acl


def put_bucket(call: Call) -> Response:
    request = call.request
    call.authorize("oss:PutBucket", call.oss.access.bucket_resource(call.bucket))
    if not _BUCKET_NAME.fullmatch(call.bucket):
        raise WireError(400, "InvalidBucketName", "The specified bucket is not valid.",
                        {"BucketName": call.bucket})
    acl = _bucket_acl(request, "private")
    if not request.body.exhausted:
        read_xml(request, "CreateBucketConfiguration")
    call.store.create_bucket(call.bucket, acl, now=call.now())
    return Response(200, [("Location", f"/{call.bucket}")])


def delete_bucket(call: Call) -> Response:
    call.authorize_bucket("oss:DeleteBucket")
    call.store.delete_bucket(call.bucket)
    return Response(204)


def get_bucket_info(call: Call) -> Response:
    info = call.authorize_bucket("oss:GetBucketInfo")
    content: XmlContent = [
        ("AccessMonitor", "Disabled"), *_bucket_content(call, info),
        ("TransferAcceleration", "Disabled"), ("CrossRegionReplication", "Disabled"),
        ("DataRedundancyType", "LRS"), ("ResourceGroupId", "rg-default"),
        ("Owner", [("DisplayName", call.owner), ("ID", call.owner)]),
        ("AccessControlList", [("Grant", info.acl)]), ("Comment", ""),
        ("ServerSideEncryptionRule", [("SSEAlgorithm", "None")]),
        ("BucketPolicy", [("LogBucket", ""), ("LogPrefix", "")]),
    ]
    return xml_response(xml_document("BucketInfo", [("Bucket", content)]))


def get_bucket_acl(call: Call) -> Response:
    info = call.authorize_bucket("oss:GetBucketAcl")
    return xml_response(acl_document(call.owner, info.acl))


def put_bucket_acl(call: Call) -> Response:
    call.authorize_bucket("oss:PutBucketAcl")
    call.store.set_bucket_acl(call.bucket, _bucket_acl(call.request, None))
    return Response(200)


def get_bucket_location(call: Call) -> Response:
    call.authorize_bucket("oss:GetBucketLocation")
    return xml_response(xml_text_document("LocationConstraint", f"oss-{call.oss.region}"))


def list_live_channel(call: Call) -> Response:
    """No live channels (RTMP ingest is not emulated): an empty listing, so that clients
    cleaning a bucket before deleting it find nothing to delete."""
    call.authorize_bucket("oss:ListLiveChannel")
    params = call.request.params
    max_keys = int_param(call.request, "max-keys", 100, 1, 1000)
    return xml_response(xml_document("ListLiveChannelResult", [
        ("Prefix", params.get("prefix", "")), ("Marker", params.get("marker", "")),
        ("MaxKeys", max_keys), ("IsTruncated", False), ("NextMarker", "")]))


OPERATIONS: dict[str, Operation] = {
    "ListBuckets": list_buckets,
    "PutBucket": put_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketInfo": get_bucket_info,
    "GetBucketAcl": get_bucket_acl,
    "PutBucketAcl": put_bucket_acl,
    "GetBucketLocation": get_bucket_location,
    "ListLiveChannel": list_live_channel,
}
