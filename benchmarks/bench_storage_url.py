"""Target 6: ``OSSStorage.url()`` signed V4 with STS (RRSA) credentials.

Interleaved, per call, in this process (an in-process emulator provides the STS
credentials; url() sends nothing):

- ours: ``OSSStorage.url(name)``, V4, RRSA/STS credentials (the URL policy, the key
  checks and the credentials lookup included);
- floor: a lean hand-written V4 presign of the same URL with the same credentials: the
  signing key cached per day, the date and credential query cached per second, one
  SHA-256 and one HMAC per call. It signs the same parameters as ours (checked);
- S3Storage: django-storages' ``S3Storage.url()`` signed s3v4 (boto3, the ``bench``
  extra; skipped when missing); and oss2's ``Bucket.sign_url`` with StsAuth V4, for
  reference.

Targets: ours <= 2x the lean floor; ours >= 10x faster than S3Storage (ours / S3Storage
time <= 0.1). Also counts the requests the emulator received during the url() loops
(must be 0).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Comparison, Target, calibrate, compare, interleaved, setup_django

NAME = "media/photos/2026/11/holiday picture #1.jpg"
EXPIRES = 3600


class LeanV4:
    """The floor: the least work a V4 presign with an STS token can do per call."""

    def __init__(self, url_prefix: str, bucket: str, region: str, access_key_id: str,
                 secret: str, token: str) -> None:
        self._url_prefix = url_prefix
        self._bucket = bucket
        self._region = region
        self._access_key_id = access_key_id
        self._secret = secret
        self._quoted_token = quote(token, safe="")
        self._second = -1
        self._day = ""
        self._key = b""
        self._query = self._canonical = self._stamp = self._scope = ""

    def _new_second(self, now: int) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        if stamp[:8] != self._day:
            self._day = stamp[:8]
            key = hmac.new(("aliyun_v4" + self._secret).encode(), self._day.encode(),
                           hashlib.sha256).digest()
            for part in (self._region, "oss", "aliyun_v4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = key
        self._scope = f"{self._day}/{self._region}/oss/aliyun_v4_request"
        credential = quote(f"{self._access_key_id}/{self._scope}", safe="")
        self._stamp, self._second = stamp, now
        self._query = (f"x-oss-security-token={self._quoted_token}&x-oss-date={stamp}"
                       f"&x-oss-expires={EXPIRES}&x-oss-signature-version=OSS4-HMAC-SHA256"
                       f"&x-oss-credential={credential}")
        self._canonical = (f"x-oss-credential={credential}&x-oss-date={stamp}"
                           f"&x-oss-expires={EXPIRES}&x-oss-security-token={self._quoted_token}"
                           f"&x-oss-signature-version=OSS4-HMAC-SHA256")

    def url(self, key: str) -> str:
        now = int(time.time())
        if now != self._second:
            self._new_second(now)
        quoted = quote(key, safe="/")
        request = (f"GET\n/{self._bucket}/{quoted}\n{self._canonical}\n\n\nUNSIGNED-PAYLOAD")
        to_sign = (f"OSS4-HMAC-SHA256\n{self._stamp}\n{self._scope}\n"
                   + hashlib.sha256(request.encode()).hexdigest())
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self._url_prefix}/{quoted}?{self._query}&x-oss-signature={signature}"


def _same_shape(ours: Any, floor: LeanV4) -> None:
    """The floor signs the same parameters as ours (ours quotes the key for path-style
    endpoints and rounds the expiry to its signing window: the bytes differ)."""
    mine, theirs = (parse_qs(urlsplit(u).query) for u in (ours.url(NAME), floor.url(NAME)))
    if sorted(mine) != sorted(theirs) or mine["x-oss-credential"] != theirs["x-oss-credential"]:
        raise AssertionError(f"the lean floor signs other parameters: {mine} / {theirs}")


def _s3_storage() -> Any:
    try:
        from storages.backends.s3 import S3Storage
    except Exception as exc:  # boto3 comes with the bench extra only
        print(f"(S3Storage skipped: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "example-secret-example-secret-0000000000")
    s3 = S3Storage(bucket_name="bench", region_name="us-east-1", signature_version="s3v4")
    s3.url(NAME)  # boto3's client is built on first use
    return s3


def run(quick: bool = False, repeats: int | None = None, **_: Any) -> list[Comparison]:
    setup_django()
    import oss2

    from django_alioss.emulator import Emulator
    from django_alioss.storage import OSSStorage

    repeats = repeats or (2 if quick else 9)
    with Emulator() as emu:
        ours = OSSStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name,
                          region=emu.region, sts_endpoint=emu.sts_endpoint,
                          role_arn=emu.role_arn, oidc_provider_arn=emu.oidc_provider_arn,
                          oidc_token_file=emu.oidc_token_file, querystring_expire=EXPIRES)
        ours.url(NAME)  # one AssumeRoleWithOIDC, then cached
        snap = ours.credentials.snapshot()
        prefix = ours.url(NAME).split("/" + quote(NAME, safe=""))[0]
        floor = LeanV4(prefix, emu.bucket_name, emu.region, snap.access_key_id,
                       snap.access_key_secret, snap.security_token or "")
        _same_shape(ours, floor)
        sts_auth = oss2.StsAuth(snap.access_key_id, snap.access_key_secret,
                                snap.security_token, auth_version=oss2.AUTH_VERSION_4)
        sts_bucket = oss2.Bucket(sts_auth, emu.endpoint, emu.bucket_name, region=emu.region)
        cases = {"ours": lambda: ours.url(NAME), "lean V4 floor": lambda: floor.url(NAME),
                 "oss2 sign_url StsAuth V4": lambda: sts_bucket.sign_url("GET", NAME, EXPIRES)}
        s3 = _s3_storage()
        if s3 is not None:
            cases["S3Storage.url() s3v4"] = lambda: s3.url(NAME)
        before = emu.controls.log.count()
        calls = 200 if quick else calibrate(cases["ours"], 0.1)
        samples = interleaved(cases, repeats, calls)
        requests_sent = emu.controls.log.count() - before
    assert "x-oss-signature" in parse_qs(urlsplit(ours.url(NAME)).query)
    extra = {"requests_during_loops": requests_sent}
    results = [compare("url", "url() V4 with STS vs a lean V4 presign", samples, "ours",
                       "lean V4 floor", Target("<=", 2.0), extra=extra),
               compare("url", "url() V4 with STS vs oss2 sign_url (reference)", samples,
                       "ours", "oss2 sign_url StsAuth V4", Target("<=", 1.0))]
    if s3 is not None:
        results.append(compare("url", "url() V4 with STS vs S3Storage.url() (>= 10x faster)",
                               samples, "ours", "S3Storage.url() s3v4", Target("<=", 0.1)))
    return results


if __name__ == "__main__":
    from run import print_table

    print_table(run(quick="--quick" in sys.argv))
