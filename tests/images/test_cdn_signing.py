"""CDN URL authentication signing (django_alioss.cdn), pure: the published test vectors
of types A, B and C, the URL shapes, and the timestamp that makes a URL expire on time."""

from __future__ import annotations

import calendar
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from django_alioss.cdn import (
    CDNSigner,
    type_a_hash,
    type_b_hash,
    type_b_stamp,
    type_c_hash,
)

KEY = "aliyuncdnexp1234"  # the key of Alibaba Cloud CDN's documented examples


def test_type_a_published_vector() -> None:
    # Key aliyuncdnexp1234, path /video/standard/1K.html, timestamp 1444435200, rand 0, uid 0.
    assert type_a_hash("/video/standard/1K.html", 1444435200, "0", "0", KEY) == \
        "80cd3862d699b7118eed99103f2a3a4f"


def test_type_b_published_vector() -> None:
    # The CDN documentation's example: access time 201508150800 (UTC+8).
    assert type_b_hash("/4/44/44c0909bcfc20a01afaf256ca99a8b8b.mp3", "201508150800", KEY) == \
        "9044548ef1527deadafa49a890a377f0"


def test_type_c_published_vector() -> None:
    assert type_c_hash("/test.flv", "55CE8100", KEY) == "a37fa50a5fb8f71214b1e7c95ec7a1bd"


def test_type_b_stamp_is_china_standard_time() -> None:
    # 2015-08-15 00:00:00 UTC is 08:00 in UTC+8.
    assert type_b_stamp(calendar.timegm((2015, 8, 15, 0, 0, 59, 0, 0, 0))) == "201508150800"


def test_type_a_url_expires_at_the_time_asked_for() -> None:
    signer = CDNSigner("A", KEY, ttl=1800)
    signed = signer.sign("/video/standard/1K.html", 1444435200 + 1800, rand="0")
    assert signed == ("/video/standard/1K.html?auth_key=1444435200-0-0-"
                      "80cd3862d699b7118eed99103f2a3a4f")


def test_type_a_keeps_the_query_and_uses_a_fresh_rand() -> None:
    signer = CDNSigner("A", KEY, ttl=600)
    first = signer.sign("/a%20b.png", 2_000_000_000, "x-oss-process=image%2Frotate%2C90")
    second = signer.sign("/a%20b.png", 2_000_000_000, "x-oss-process=image%2Frotate%2C90")
    parts = urlsplit(first)
    assert parts.path == "/a%20b.png"
    query = parse_qs(parts.query)
    assert query["x-oss-process"] == ["image/rotate,90"]
    stamp, rand, uid, digest = query["auth_key"][0].split("-")
    assert (int(stamp), uid, len(rand)) == (2_000_000_000 - 600, "0", 32)
    assert digest == hashlib.md5(f"/a%20b.png-{stamp}-{rand}-0-{KEY}".encode()).hexdigest()
    assert first != second  # a random rand per URL
    with pytest.raises(ValueError, match="without '-'"):
        signer.sign("/a", 2_000_000_000, rand="a-b")


def test_type_b_url_shape_and_minute_precision() -> None:
    signer = CDNSigner("B", KEY, ttl=1800)
    expires_at = calendar.timegm((2015, 8, 15, 0, 30, 59, 0, 0, 0))  # -> signed 08:00:59
    signed = signer.sign("/4/44/44c0909bcfc20a01afaf256ca99a8b8b.mp3", expires_at, "a=1")
    assert signed == ("/201508150800/9044548ef1527deadafa49a890a377f0"
                      "/4/44/44c0909bcfc20a01afaf256ca99a8b8b.mp3?a=1")


def test_type_c_url_shape() -> None:
    signer = CDNSigner("C", KEY, ttl=1800)
    signed = signer.sign("/test.flv", 0x55CE8100 + 1800)
    assert signed == "/a37fa50a5fb8f71214b1e7c95ec7a1bd/55CE8100/test.flv"


@pytest.mark.parametrize(("auth_type", "key", "ttl", "message"), [
    ("D", KEY, 1800, "must be one of A, B, C"),
    ("A", "", 1800, "type A needs a key"),
    ("C", "short1234", 1800, "16 to 32 letters and digits; this one has 9 characters"),
    ("C", "x" * 33, 1800, "this one has 33 characters"),
    ("C", "with-a-dash-0123456", 1800, "not all letters and digits"),
    ("A", KEY, 0, "positive int"),
])
def test_bad_settings_are_refused_without_quoting_the_key(auth_type: str, key: str, ttl: int,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        CDNSigner(auth_type, key, ttl)
    if key:
        assert key not in str(raised.value)


def test_repr_hides_the_key() -> None:
    signer = CDNSigner("C", "0123456789abcdef")
    assert "0123456789abcdef" not in repr(signer)
    assert repr(signer) == "CDNSigner(auth_type='C', ttl=1800)"


def test_path_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="starts with '/'"):
        CDNSigner("A", KEY).sign("video.mp4", 2_000_000_000)
