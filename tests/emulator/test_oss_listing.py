"""Listings on the emulated OSS: v1 and v2 through oss2's iterators over more than
1,000 keys, delimiters, markers, URL encoding and UTF-8 byte order."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import oss2
import pytest
from conftest import OSSEnv
from oss2.exceptions import ServerError

LIST_BUCKET = "listing-bucket"


def _keys() -> list[str]:
    keys = [f"photos/{year}/{n:04d}.jpg" for year in (2022, 2023, 2024) for n in range(300)]
    keys += [f"docs/{n:03d}.txt" for n in range(150)]
    keys += [f"top-{n:03d}" for n in range(120)]
    keys += ["docs/deep/a/b/c.txt", "é-accent", "z-last", "Zebra", "😀-emoji", "中文/文件",
             "ctl\x01char", "space dir/x", "plus+dir/y", "a%2Fencoded", "~tilde"]
    return keys


KEYS = _keys()


def _expected(prefix: str, delimiter: str) -> tuple[list[str], list[str]]:
    keys, prefixes = [], set()
    for key in sorted(KEYS, key=lambda k: k.encode("utf-8")):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
        else:
            keys.append(key)
    return keys, sorted(prefixes, key=lambda p: p.encode("utf-8"))


@pytest.fixture(scope="module")
def listing(oss_env: OSSEnv) -> OSSEnv:
    if not oss_env.store.has_bucket(LIST_BUCKET):
        oss_env.store.create_bucket(LIST_BUCKET)
        for key in KEYS:
            oss_env.store.put_object_bytes(LIST_BUCKET, key, key.encode())
    return oss_env


def _collect(iterator) -> tuple[list[str], list[str]]:
    keys, prefixes = [], []
    for info in iterator:
        (prefixes if info.is_prefix() else keys).append(info.key)
    return keys, prefixes


@pytest.mark.parametrize(("prefix", "delimiter"), [
    ("", ""), ("", "/"), ("photos/", "/"), ("photos/2023/", ""), ("docs/", "/"), ("nope", "/"),
])
@pytest.mark.parametrize("version", [1, 2])
def test_iterators_match_expected(listing: OSSEnv, prefix: str, delimiter: str,
                                  version: int) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    iterator_class = oss2.ObjectIterator if version == 1 else oss2.ObjectIteratorV2
    keys, prefixes = _collect(iterator_class(bucket, prefix=prefix, delimiter=delimiter,
                                             max_keys=250))
    expected_keys, expected_prefixes = _expected(prefix, delimiter)
    assert keys == expected_keys  # same order: UTF-8 byte order
    assert sorted(prefixes, key=lambda p: p.encode()) == expected_prefixes
    assert len(keys) == len(set(keys))


def test_unlimited_listing_over_1000_keys(listing: OSSEnv) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    assert len(KEYS) > 1000
    first = bucket.list_objects(max_keys=1000)
    assert first.is_truncated and len(first.object_list) == 1000
    assert first.next_marker == first.object_list[-1].key
    rest = bucket.list_objects(marker=first.next_marker, max_keys=1000)
    assert not rest.is_truncated
    listed = [o.key for o in first.object_list + rest.object_list]
    assert listed == sorted(KEYS, key=lambda k: k.encode("utf-8"))
    v2 = bucket.list_objects_v2(max_keys=1000)
    assert v2.is_truncated and v2.next_continuation_token
    tail = bucket.list_objects_v2(continuation_token=v2.next_continuation_token, max_keys=1000)
    assert [o.key for o in v2.object_list + tail.object_list] == listed


def test_keys_and_prefixes_share_max_keys(listing: OSSEnv) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    page = bucket.list_objects(delimiter="/", max_keys=5)
    assert len(page.object_list) + len(page.prefix_list) == 5
    assert page.is_truncated
    expected_keys, expected_prefixes = _expected("", "/")
    merged = sorted(expected_keys + expected_prefixes, key=lambda k: k.encode())[:5]
    assert sorted([o.key for o in page.object_list] + page.prefix_list,
                  key=lambda k: k.encode()) == merged
    assert page.next_marker == merged[-1]


def test_v2_start_after_fetch_owner_and_key_count(listing: OSSEnv) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    page = bucket.list_objects_v2(prefix="docs/", start_after="docs/147.txt", max_keys=10)
    assert [o.key for o in page.object_list] == [
        "docs/148.txt", "docs/149.txt", "docs/deep/a/b/c.txt"]
    assert all(o.owner is None for o in page.object_list)
    owned = bucket.list_objects_v2(prefix="docs/", max_keys=1, fetch_owner=True)
    assert owned.object_list[0].owner.id == listing.iam.account_id
    response = bucket._do("GET", LIST_BUCKET, "", params={
        "list-type": "2", "prefix": "top-", "max-keys": "7", "continuation-token": ""})
    root = ET.fromstring(response.read())
    assert root.findtext("KeyCount") == "7"
    assert root.findtext("IsTruncated") == "true"
    token = root.findtext("NextContinuationToken")
    assert token and all(c.isalnum() or c in "-_" for c in token)
    assert root.find("EncodingType") is None
    assert root.findtext("Contents/Key") == "top-000"


def test_v1_listing_fields(listing: OSSEnv) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    result = bucket.list_objects(prefix="z-", max_keys=10)
    [info] = result.object_list
    assert (info.key, info.size, info.type, info.storage_class) == ("z-last", 6, "Normal",
                                                                   "Standard")
    record = listing.store.head_object(LIST_BUCKET, "z-last")
    assert info.etag == record.etag
    assert info.last_modified == int(record.last_modified)
    assert info.owner.id == listing.iam.account_id
    raw = bucket._do("GET", LIST_BUCKET, "", params={"prefix": "z-", "encoding-type": "url"})
    text = raw.read().decode()
    assert "<LastModified>" in text
    stamp = ET.fromstring(text).findtext("Contents/LastModified")
    assert stamp.endswith(".000Z") and len(stamp) == len("2024-01-01T00:00:00.000Z")


def test_url_encoding_of_awkward_keys(listing: OSSEnv) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    assert [o.key for o in bucket.list_objects(prefix="ctl").object_list] == ["ctl\x01char"]
    raw = bucket._do("GET", LIST_BUCKET, "", params={
        "prefix": "ctl", "encoding-type": "url", "delimiter": "/"})
    root = ET.fromstring(raw.read())
    assert root.findtext("Contents/Key") == "ctl%01char"
    assert root.findtext("Delimiter") == "%2F"
    keys = [o.key for o in bucket.list_objects_v2(prefix="space ").object_list]
    assert keys == ["space dir/x"]
    assert [o.key for o in bucket.list_objects(prefix="plus+").object_list] == ["plus+dir/y"]


def test_marker_is_exclusive_and_prefix_markers_skip_groups(listing: OSSEnv) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    page = bucket.list_objects(prefix="top-", marker="top-005", max_keys=2)
    assert [o.key for o in page.object_list] == ["top-006", "top-007"]
    page = bucket.list_objects(delimiter="/", marker="docs/", max_keys=3)
    listed = [o.key for o in page.object_list] + page.prefix_list
    assert "docs/" not in listed


@pytest.mark.parametrize(("params", "code"), [
    ({"max-keys": "1001"}, "InvalidArgument"),
    ({"max-keys": "0"}, "InvalidArgument"),
    ({"max-keys": "ten"}, "InvalidArgument"),
    ({"encoding-type": "base64"}, "InvalidArgument"),
    ({"list-type": "2", "continuation-token": "!!not-a-token!!"}, "InvalidArgument"),
])
def test_invalid_listing_arguments(listing: OSSEnv, params: dict[str, str], code: str) -> None:
    bucket = listing.bucket(name=LIST_BUCKET)
    with pytest.raises(ServerError) as exc:
        bucket._do("GET", LIST_BUCKET, "", params=params)
    assert (exc.value.status, exc.value.code) == (400, code)
