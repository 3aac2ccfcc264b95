"""Bucket operations of the emulated OSS through oss2's Bucket and Service."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import oss2
import pytest
from conftest import BUCKET, OSSEnv
from oss2.exceptions import BucketNotEmpty, NoSuchBucket, ServerError


def test_bucket_lifecycle(oss: OSSEnv) -> None:
    name = "lifecycle-bucket"
    bucket = oss.bucket(name=name)
    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    assert oss.store.get_bucket(name).acl == "public-read"

    info = bucket.get_bucket_info()
    assert info.name == name
    assert info.acl.grant == "public-read"
    assert info.location == "oss-cn-hangzhou"
    assert info.storage_class == "Standard"
    assert info.extranet_endpoint == "oss-cn-hangzhou.aliyuncs.com"
    assert info.intranet_endpoint == "oss-cn-hangzhou-internal.aliyuncs.com"
    assert info.owner.id == oss.iam.account_id
    assert info.creation_date.endswith(".000Z")

    assert bucket.get_bucket_acl().acl == "public-read"
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    assert bucket.get_bucket_acl().acl == "private"
    assert bucket.get_bucket_location().location == "oss-cn-hangzhou"

    with pytest.raises(ServerError) as exc:
        bucket.create_bucket()
    assert (exc.value.status, exc.value.code) == (409, "BucketAlreadyExists")

    bucket.put_object("keep", b"x")
    with pytest.raises(BucketNotEmpty):
        bucket.delete_bucket()
    bucket.delete_object("keep")
    upload_id = bucket.init_multipart_upload("pending").upload_id
    with pytest.raises(BucketNotEmpty):  # an unfinished upload also keeps it
        bucket.delete_bucket()
    bucket.abort_multipart_upload("pending", upload_id)
    assert bucket.delete_bucket().status == 204
    assert not oss.store.has_bucket(name)
    with pytest.raises(NoSuchBucket) as missing:
        bucket.get_bucket_info()
    assert missing.value.details["BucketName"] == name
    with pytest.raises(NoSuchBucket):
        bucket.put_object("x", b"x")
    with pytest.raises(NoSuchBucket):
        bucket.delete_bucket()


def test_create_bucket_with_configuration_and_bad_acl(oss: OSSEnv) -> None:
    bucket = oss.bucket(name="configured-bucket")
    bucket.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_STANDARD))
    assert oss.store.get_bucket("configured-bucket").acl == "private"
    with pytest.raises(ServerError) as exc:
        oss.bucket(name="acl-typo-bucket").create_bucket("public")
    assert (exc.value.status, exc.value.code) == (400, "InvalidArgument")
    with pytest.raises(ServerError) as exc:
        bucket.put_bucket_acl("everyone")
    assert exc.value.code == "InvalidArgument"


def test_invalid_bucket_name(oss: OSSEnv) -> None:
    # oss2 refuses such names itself: sign by hand with oss2's Auth instead.
    auth = oss.auth()
    request = oss2.http.Request("PUT", f"{oss.endpoint}/Bad_Name/")
    auth._sign_request(request, "Bad_Name", "")
    response = oss.session.do_request(request, timeout=10)
    assert response.status == 400
    assert ET.fromstring(response.read()).findtext("Code") == "InvalidBucketName"


def test_list_buckets(oss: OSSEnv) -> None:
    for name in ("list-b-1", "list-b-2", "list-b-3"):
        oss.store.create_bucket(name)
    service = oss.service_client()
    everything = [b.name for b in service.list_buckets().buckets]
    assert BUCKET in everything and everything == sorted(everything)
    listed = service.list_buckets(prefix="list-b-")
    assert [b.name for b in listed.buckets] == ["list-b-1", "list-b-2", "list-b-3"]
    first = listed.buckets[0]
    assert (first.location, first.storage_class) == ("oss-cn-hangzhou", "Standard")
    assert first.extranet_endpoint == "oss-cn-hangzhou.aliyuncs.com"
    page = service.list_buckets(prefix="list-b-", max_keys=2)
    assert page.is_truncated and page.next_marker == "list-b-2"
    names = [b.name for b in oss2.BucketIterator(service, prefix="list-b-", max_keys=1)]
    assert names == ["list-b-1", "list-b-2", "list-b-3"]
