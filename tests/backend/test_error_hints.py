"""Errors that name the fix: an OSSError raised by the storage carries the bucket, the
endpoint and the hint ``alioss_check`` gives for the same failure (one table,
``client.errors.HINTS``), and retry logs say what failed in words."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from django_alioss.diagnostics import explain
from django_alioss.emulator.emulator import Emulator
from django_alioss.exceptions import OSSError
from django_alioss.storage import OSSStorage
from tests.processes import free_port

StorageFactory = Callable[..., OSSStorage]


def _failure(storage: OSSStorage, action: Callable[[OSSStorage], Any]) -> OSSError:
    with pytest.raises(OSSError) as raised:
        action(storage)
    error = raised.value
    assert f"in bucket {storage.bucket_name!r} at {storage.endpoint}" in str(error)
    assert error.hint and str(error).endswith(f" -> {error.hint}")
    assert explain(error, storage) == f"{error.summary} -> {error.hint}"  # alioss_check's line
    return error


def _save(storage: OSSStorage) -> None:
    storage.save("hint.txt", ContentFile(b"x"))


def test_wrong_bucket(make_storage: StorageFactory) -> None:
    storage = make_storage(bucket_name="no-such-bucket-here")
    error = _failure(storage, _save)
    assert error.code == "NoSuchBucket"
    assert error.hint == (f"bucket no-such-bucket-here does not exist at {storage.endpoint}: "
                          "check bucket_name and the endpoint's region")


def test_wrong_region(make_storage: StorageFactory) -> None:
    error = _failure(make_storage(region="cn-beijing"), _save)
    assert "is not in region cn-beijing" in error.hint and "ALIOSS_REGION" in error.hint


@pytest.mark.parametrize(("keys", "code"), [
    ({"access_key_secret": "not-the-secret-not-the-secret1"}, "SignatureDoesNotMatch"),
    ({"access_key_id": "LTAI5tNoSuchKeyNoSuchKe"}, "InvalidAccessKeyId"),
])
def test_wrong_keys(make_storage: StorageFactory, keys: dict[str, str], code: str) -> None:
    error = _failure(make_storage(**keys), _save)
    assert error.code == code
    assert error.hint.startswith("check the AccessKey id and secret")


def test_clock_skew(make_storage: StorageFactory, emu: Emulator) -> None:
    emu.controls.clock.advance(3600)
    try:
        error = _failure(make_storage(), _save)
    finally:  # the token file may have rotated meanwhile: one valid now, for later tests
        emu.controls.clock.set_offset(0)
        emu.token_file.write()
    assert error.code == "RequestTimeTooSkewed"
    assert "clock is more than 15 minutes off" in error.hint


def test_rejected_security_token(make_storage: StorageFactory) -> None:
    error = _failure(make_storage(security_token="not-a-token"), _save)
    assert error.code in ("InvalidSecurityToken", "SecurityTokenExpired")
    assert "OSS rejected the STS token" in error.hint


def test_unreachable_endpoint(make_storage: StorageFactory) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    error = _failure(make_storage(endpoint=endpoint, max_retries=0), _save)
    assert error.status == -2
    assert f"127.0.0.1:{endpoint.rsplit(':', 1)[1]} refused the connection" in str(error)
    assert error.hint.startswith(f"cannot reach {endpoint}: check the endpoint option")
    # oss2's internal status (-2) is not shown: the key's random suffix may hold "-2".
    assert not re.search(r"(^|[\s(])-2\b", error.summary)
    assert "HTTPConnection" not in str(error)


def test_denied_by_policy_names_the_action_and_the_principal(
        make_storage: StorageFactory, emu: Emulator) -> None:
    reader = emu.iam.add_user(f"reader-{free_port()}", [{"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "oss:GetObject",
        "Resource": f"acs:oss:*:*:{emu.bucket_name}/*"}]}])
    storage = make_storage(access_key_id=reader.access_key_id,
                           access_key_secret=reader.access_key_secret)
    error = _failure(storage, _save)
    assert error.hint.startswith(
        f"the credentials lack oss:PutObject: allow oss:PutObject on "
        f"acs:oss:*:*:{emu.bucket_name}/* in a RAM policy attached to the RAM user that owns "
        f"AccessKey {reader.access_key_id[:4]}****")


def test_denied_head_says_it_carries_no_detail(make_storage: StorageFactory,
                                               emu: Emulator) -> None:
    nobody = emu.iam.add_user(f"nobody-{free_port()}", [])
    storage = make_storage(access_key_id=nobody.access_key_id,
                           access_key_secret=nobody.access_key_secret)
    error = _failure(storage, lambda s: s.size("any.txt"))
    assert error.hint.startswith("a HEAD answer carries no detail")


def test_retry_logs_say_what_failed_in_words(make_storage: StorageFactory, emu: Emulator,
                                             caplog: pytest.LogCaptureFixture) -> None:
    storage = make_storage(max_retries=1)
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=1)
    caplog.set_level(logging.WARNING, logger="django_alioss")
    _save(storage)
    retry = next(r.getMessage() for r in caplog.records if "retry 1/1" in r.getMessage())
    assert f"in bucket {storage.bucket_name!r} at {storage.endpoint} failed: 503 " \
           "ServiceUnavailable; retry 1/1" in retry
    caplog.clear()
    unreachable = make_storage(endpoint=f"http://127.0.0.1:{free_port()}", max_retries=1)
    with pytest.raises(OSSError):
        _save(unreachable)
    retry = next(r.getMessage() for r in caplog.records if "retry 1/1" in r.getMessage())
    assert "refused the connection (nothing listens there); retry 1/1" in retry
    assert not re.search(r"(^|[\s(])-2\b", retry) and "network error" not in retry
