"""Addressing on the emulated OSS: path-style, virtual-host (through a proxy, as oss2
sends it with ``proxies=``), CNAME, and the operation names the service reports."""

from __future__ import annotations

from urllib.parse import urlsplit

import oss2
import pytest
from conftest import BUCKET, REGION, OSSEnv
from oss2.exceptions import NoSuchBucket

from django_alioss.emulator.httpserver import BodyReader, Request


def _proxied(oss: OSSEnv, auth, endpoint: str, **options) -> oss2.Bucket:
    return oss2.Bucket(auth, endpoint, BUCKET, session=oss.session, region=REGION,
                       proxies={"http": oss.endpoint}, **options)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_virtual_host_through_proxy(oss: OSSEnv, prefix: str, version: str) -> None:
    bucket = _proxied(oss, oss.auth(version=version), "http://oss-cn-hangzhou.aliyuncs.com")
    oss.controls.log.clear()
    bucket.put_object(prefix + "vh key.txt", b"virtual")
    assert bucket.get_object(prefix + "vh key.txt").read() == b"virtual"
    assert [o.key for o in bucket.list_objects_v2(prefix).object_list] == [prefix + "vh key.txt"]
    assert bucket.get_bucket_info().name == BUCKET
    entries = oss.controls.log.entries(service="oss")
    # The request line carried no bucket: it came from the Host header.
    assert entries[0].path == "/" + prefix.replace("/", "%2F") + "vh%20key.txt"
    assert entries[2].path == "/"
    assert [e.operation for e in entries] == ["PutObject", "GetObject", "ListObjectsV2",
                                              "GetBucketInfo"]
    assert oss.store.get_object_bytes(BUCKET, prefix + "vh key.txt") == b"virtual"
    url = bucket.sign_url("GET", prefix + "vh key.txt", 60)
    assert urlsplit(url).netloc == f"{BUCKET}.oss-cn-hangzhou.aliyuncs.com"
    response = oss.http.get(url, proxies={"http": oss.endpoint})
    assert response.content == b"virtual"


def test_service_endpoint_through_proxy(oss: OSSEnv) -> None:
    service = oss2.Service(oss.auth(), "http://oss-cn-hangzhou.aliyuncs.com",
                           session=oss.session, proxies={"http": oss.endpoint})
    assert BUCKET in [b.name for b in service.list_buckets().buckets]


def test_unknown_virtual_host_bucket(oss: OSSEnv) -> None:
    bucket = oss2.Bucket(oss.auth(), "http://oss-cn-hangzhou.aliyuncs.com", "no-such-bucket",
                         session=oss.session, proxies={"http": oss.endpoint})
    with pytest.raises(NoSuchBucket):
        bucket.put_object("x", b"x")


def test_cname(oss: OSSEnv, prefix: str) -> None:
    oss.service.cname_domains["static.example.com"] = BUCKET
    bucket = _proxied(oss, oss.auth(), "http://static.example.com", is_cname=True)
    bucket.put_object(prefix + "logo.png", b"png")
    assert bucket.get_object(prefix + "logo.png").read() == b"png"
    assert oss.store.get_object_bytes(BUCKET, prefix + "logo.png") == b"png"
    url = bucket.sign_url("GET", prefix + "logo.png", 60)
    assert url.startswith("http://static.example.com/")
    assert oss.http.get(url, proxies={"http": oss.endpoint}).content == b"png"


def test_localhost_subdomain_host_header(oss: OSSEnv, prefix: str) -> None:
    oss.bucket().put_object(prefix + "sub", b"sub")
    signed = oss.bucket().sign_url("GET", prefix + "sub", 60)  # path-style URL
    query = urlsplit(signed).query
    key_path = "/" + prefix.replace("/", "%2F") + "sub"
    host = f"{BUCKET}.localhost:{oss.server.port}"
    response = oss.http.get(f"{oss.endpoint}{key_path}?{query}", headers={"Host": host})
    assert response.status_code == 200, response.text
    assert response.content == b"sub"
    # And a bare "localhost" Host stays path-style.
    response = oss.http.get(f"{oss.endpoint}/{BUCKET}{key_path}?{query}",
                            headers={"Host": f"localhost:{oss.server.port}"})
    assert response.content == b"sub"


def _request(method: str, path: str, query: str = "", host: str = "127.0.0.1:9000",
             **headers: str) -> Request:
    from email.message import Message

    message = Message()
    message["Host"] = host
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return Request(method, path, query, message, BodyReader(None, 0, False), ("127.0.0.1", 1))


@pytest.mark.parametrize(("method", "path", "query", "headers", "expected"), [
    ("GET", "/", "", {}, "ListBuckets"),
    ("PUT", "/b/", "", {}, "PutBucket"),
    ("DELETE", "/b/", "", {}, "DeleteBucket"),
    ("GET", "/b/", "bucketInfo", {}, "GetBucketInfo"),
    ("GET", "/b/", "acl", {}, "GetBucketAcl"),
    ("PUT", "/b/", "acl", {}, "PutBucketAcl"),
    ("GET", "/b/", "location", {}, "GetBucketLocation"),
    ("GET", "/b/", "prefix=&max-keys=100", {}, "ListObjects"),
    ("GET", "/b/", "list-type=2&continuation-token=", {}, "ListObjectsV2"),
    ("POST", "/b/", "delete&encoding-type=url", {}, "DeleteMultipleObjects"),
    ("GET", "/b/", "uploads", {}, "ListMultipartUploads"),
    ("PUT", "/b/k", "", {}, "PutObject"),
    ("PUT", "/b/k", "", {"x_oss_copy_source": "/b/j"}, "CopyObject"),
    ("GET", "/b/k", "response-content-type=x", {}, "GetObject"),
    ("HEAD", "/b/k", "", {}, "HeadObject"),
    ("HEAD", "/b/k", "objectMeta", {}, "GetObjectMeta"),
    ("DELETE", "/b/k", "", {}, "DeleteObject"),
    ("PUT", "/b/k", "acl", {}, "PutObjectACL"),
    ("GET", "/b/k", "acl", {}, "GetObjectACL"),
    ("POST", "/b/k", "uploads", {}, "InitiateMultipartUpload"),
    ("PUT", "/b/k", "uploadId=1&partNumber=1", {}, "UploadPart"),
    ("POST", "/b/k", "uploadId=1", {}, "CompleteMultipartUpload"),
    ("DELETE", "/b/k", "uploadId=1", {}, "AbortMultipartUpload"),
    ("GET", "/b/k", "uploadId=1", {}, "ListParts"),
    ("GET", "/b/", "cors", {}, "GetBucketCors"),
    ("PUT", "/b/", "cors", {}, "PutBucketCors"),
    ("DELETE", "/b/", "cors", {}, "DeleteBucketCors"),
    ("POST", "/b/", "", {}, "PostObject"),
    ("OPTIONS", "/b/", "", {}, "Options"),
    ("OPTIONS", "/b/k", "", {}, "Options"),
    ("GET", "/b/", "lifecycle", {}, "Unsupported"),
    ("POST", "/b/k", "append&position=0", {}, "AppendObject"),
    ("POST", "/b/k", "append&position=0&uploads", {}, "Unsupported"),
    ("PUT", "/b/k", "symlink", {}, "PutSymlink"),
    ("GET", "/b/k", "symlink", {}, "GetSymlink"),
    ("PUT", "/b/k", "tagging", {}, "PutObjectTagging"),
    ("GET", "/b/k", "tagging", {}, "GetObjectTagging"),
    ("DELETE", "/b/k", "tagging", {}, "DeleteObjectTagging"),
    ("PUT", "/b/k", "uploadId=1&partNumber=1", {"x_oss_copy_source": "/b/j"}, "UploadPartCopy"),
    ("GET", "/b/", "live", {}, "ListLiveChannel"),
])
def test_operation_names(oss: OSSEnv, method: str, path: str, query: str,
                         headers: dict[str, str], expected: str) -> None:
    assert oss.service.operation(_request(method, path, query, **headers)) == expected


@pytest.mark.parametrize(("host", "path", "bucket", "key", "style"), [
    ("127.0.0.1:9000", "/b/dir%2Ffile", "b", "dir/file", "path"),
    ("[::1]:9000", "/b/k", "b", "k", "path"),
    ("localhost", "/b/a/b", "b", "a/b", "path"),
    ("oss-cn-hangzhou.aliyuncs.com", "/b/k", "b", "k", "path"),
    ("b.oss-cn-hangzhou.aliyuncs.com", "/dir/k", "b", "dir/k", "virtual"),
    ("b.oss-cn-hangzhou-internal.aliyuncs.com:80", "/k", "b", "k", "virtual"),
    ("b.localhost:8080", "/k%20x", "b", "k x", "virtual"),
    ("cdn.example.com", "/k", "mapped", "k", "cname"),
    ("CDN.Example.COM:8080", "/a/b", "mapped", "a/b", "cname"),
    ("storage.internal", "/b/k", "b", "k", "path"),  # listed in endpoint_hosts
    ("b.storage.internal", "/k", "b", "k", "virtual"),
])
def test_route(oss: OSSEnv, host: str, path: str, bucket: str, key: str, style: str) -> None:
    oss.service.cname_domains["cdn.example.com"] = "mapped"
    oss.service.endpoint_hosts.add("Storage.Internal")
    route = oss.service.route(_request("GET", path, host=host))
    assert (route.bucket, route.key, route.style) == (bucket, key, style)
