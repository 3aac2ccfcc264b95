"""Cost of ``OSSStorage.url()`` (the call every template makes per file) against the alternatives.

Run from the repository root: ``.venv/bin/python benchmarks/bench_storage_url.py``.
Starts the emulator in-process (for STS credentials through RRSA), then times, per call:
``OSSStorage.url()`` signed V4 with RRSA/STS credentials, signed V4 and V1 with static
keys, unsigned; oss2's ``Bucket.sign_url`` for the same object; and, when boto3 is
installed, django-storages' ``S3Storage.url()`` (signed s3v4 and unsigned). Prints µs
per call and ratios. The mission's bar: ours signed V4 with STS at least several times
faster than both oss2 and S3Storage, and no network call per url().
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

settings.configure(USE_TZ=True, INSTALLED_APPS=["django_alioss"], AWS_S3_REGION_NAME="us-east-1")
django.setup()

import oss2  # noqa: E402
from timing import per_call_ns  # noqa: E402

from django_alioss.emulator import Emulator  # noqa: E402
from django_alioss.storage import OSSStorage  # noqa: E402

NAME = "media/photos/2026/11/holiday picture #1.jpg"


def per_call_us(func: Callable[[], object]) -> float:
    return per_call_ns(func) / 1000


def main() -> None:
    rows: list[tuple[str, float]] = []
    with Emulator() as emu:
        common = {"endpoint": emu.endpoint, "bucket_name": emu.bucket_name, "region": emu.region}
        rrsa = OSSStorage(**common, sts_endpoint=emu.sts_endpoint, role_arn=emu.role_arn,
                          oidc_provider_arn=emu.oidc_provider_arn,
                          oidc_token_file=emu.oidc_token_file)
        static_v4 = OSSStorage(**common, access_key_id=emu.access_key_id,
                               access_key_secret=emu.access_key_secret)
        static_v1 = OSSStorage(**common, access_key_id=emu.access_key_id,
                               access_key_secret=emu.access_key_secret, signature_version="v1")
        unsigned = OSSStorage(**common, access_key_id=emu.access_key_id,
                              access_key_secret=emu.access_key_secret, querystring_auth=False)
        rrsa.url(NAME)  # first use: one AssumeRoleWithOIDC, then cached
        requests_before = emu.controls.log.count()
        rows.append(("OSSStorage.url() V4, RRSA/STS", per_call_us(lambda: rrsa.url(NAME))))
        rows.append(("OSSStorage.url() V4, static keys", per_call_us(lambda: static_v4.url(NAME))))
        rows.append(("OSSStorage.url() V1, static keys", per_call_us(lambda: static_v1.url(NAME))))
        rows.append(("OSSStorage.url() unsigned", per_call_us(lambda: unsigned.url(NAME))))
        network_calls = emu.controls.log.count() - requests_before

        snap = rrsa.credentials.snapshot()
        sts_auth = oss2.StsAuth(snap.access_key_id, snap.access_key_secret, snap.security_token,
                                auth_version=oss2.AUTH_VERSION_4)
        sts_bucket = oss2.Bucket(sts_auth, emu.endpoint, emu.bucket_name, region=emu.region)
        v4_bucket = oss2.Bucket(oss2.AuthV4(emu.access_key_id, emu.access_key_secret),
                                emu.endpoint, emu.bucket_name, region=emu.region)
        rows.append(("oss2 sign_url V4, STS",
                     per_call_us(lambda: sts_bucket.sign_url("GET", NAME, 3600))))
        rows.append(("oss2 sign_url V4, static",
                     per_call_us(lambda: v4_bucket.sign_url("GET", NAME, 3600))))

    try:
        from storages.backends.s3 import S3Storage
    except Exception as exc:  # boto3 is not a dependency of django-alioss
        print(f"(S3Storage skipped: {type(exc).__name__}: {exc})")
    else:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "example-secret-example-secret-0000000000")
        s3 = S3Storage(bucket_name="bench", region_name="us-east-1", signature_version="s3v4")
        s3_unsigned = S3Storage(bucket_name="bench", region_name="us-east-1",
                                querystring_auth=False)
        s3.url(NAME)
        rows.append(("S3Storage.url() s3v4 (django-storages)", per_call_us(lambda: s3.url(NAME))))
        rows.append(("S3Storage.url() unsigned", per_call_us(lambda: s3_unsigned.url(NAME))))

    ours = rows[0][1]
    print(f"{'per call':45} {'µs':>9} {'x ours (V4, STS)':>18}")
    for label, micros in rows:
        print(f"{label:45} {micros:9.1f} {micros / ours:18.2f}")
    print(f"requests the emulator received during the OSSStorage.url() loops: {network_calls}")


if __name__ == "__main__":
    main()
