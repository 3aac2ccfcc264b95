"""Time presigned-URL generation: django_alioss.signing.URLSigner against oss2 sign_url.

Run from the repository root: ``python benchmarks/bench_url_signing.py``. Prints µs per
call (min over repeats), the ratio to a hand-written V1 presign (the floor) and the
speed-up over the matching oss2 signer. Takes about 10-15 s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import oss2
from timing import per_call_ns

from django_alioss.signing import URLSigner

AK = "STS.NUx8dYgP3zQk7wLmT2"
SK = "Gp+3/kQz9vYw=Xr7Lm+T/aB1cD2eF3gH"
# Real STS security tokens are several hundred characters of base64.
TOKEN = "CAIS" + base64.b64encode(hashlib.sha512(b"token").digest() * 8).decode()
ENDPOINT = "https://oss-cn-hangzhou.aliyuncs.com"
BUCKET = "my-bucket"
REGION = "cn-hangzhou"
KEY = "media/photos/2024/cat picture.jpg"
EXPIRES = 3600

REPEATS = 7
TARGET_SECONDS_PER_REPEAT = 0.2


def hand_written_v1() -> str:
    """The floor: the least work a V1 presign can do (no validation, no params)."""
    expiration = str(int(time.time()) + EXPIRES)
    string_to_sign = f"GET\n\n\n{expiration}\n/{BUCKET}/{KEY}"
    digest = hmac.new(SK.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return (
        f"https://{BUCKET}.oss-cn-hangzhou.aliyuncs.com/{quote(KEY, safe='')}"
        f"?OSSAccessKeyId={quote(AK, safe='')}&Expires={expiration}"
        f"&Signature={quote(base64.b64encode(digest), safe='')}"
    )


def cases() -> dict[str, Callable[[], str]]:
    """Name -> zero-argument callable producing one presigned URL."""
    ours_v1 = URLSigner(ENDPOINT, BUCKET, signature_version="v1")
    ours_v4 = URLSigner(ENDPOINT, BUCKET, region=REGION, signature_version="v4")
    oss2_v1 = oss2.Bucket(oss2.Auth(AK, SK), ENDPOINT, BUCKET)
    oss2_v4 = oss2.Bucket(oss2.AuthV4(AK, SK), ENDPOINT, BUCKET, region=REGION)
    oss2_sts_v4 = oss2.Bucket(
        oss2.StsAuth(AK, SK, TOKEN, auth_version=oss2.AUTH_VERSION_4),
        ENDPOINT, BUCKET, region=REGION,
    )
    return {
        "hand-written V1 (floor)": hand_written_v1,
        "ours V1": lambda: ours_v1.presign(
            KEY, access_key_id=AK, access_key_secret=SK, expires=EXPIRES
        ),
        "ours V4": lambda: ours_v4.presign(
            KEY, access_key_id=AK, access_key_secret=SK, expires=EXPIRES
        ),
        "ours V4 + STS token": lambda: ours_v4.presign(
            KEY, access_key_id=AK, access_key_secret=SK, security_token=TOKEN,
            expires=EXPIRES,
        ),
        "oss2 Auth V1": lambda: oss2_v1.sign_url("GET", KEY, EXPIRES),
        "oss2 AuthV4": lambda: oss2_v4.sign_url("GET", KEY, EXPIRES),
        "oss2 StsAuth V4": lambda: oss2_sts_v4.sign_url("GET", KEY, EXPIRES),
    }


def main() -> None:
    results = {name: per_call_ns(func, REPEATS, TARGET_SECONDS_PER_REPEAT) / 1000
               for name, func in cases().items()}
    floor = results["hand-written V1 (floor)"]
    pairs = {
        "ours V1": "oss2 Auth V1",
        "ours V4": "oss2 AuthV4",
        "ours V4 + STS token": "oss2 StsAuth V4",
    }
    print(f"{'per call':<26}{'µs (min)':>10}{'x floor':>10}{'oss2 / ours':>13}")
    for name, micros in results.items():
        speedup = f"{results[pairs[name]] / micros:.1f}" if name in pairs else ""
        print(f"{name:<26}{micros:>10.2f}{micros / floor:>10.2f}{speedup:>13}")


if __name__ == "__main__":
    main()
