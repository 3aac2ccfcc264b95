"""The oss2 seam: error translation (no secrets), bounded retries of what may be resent,
and one credentials refresh when OSS says the STS token expired."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile, File

from django_alioss.exceptions import OSSAccessDenied, OSSError, OSSFileNotFound
from django_alioss.storage import OSSStorage
from tests.backend.streams import OneShot

StorageFactory = Callable[..., OSSStorage]
KiB = 1024
REQUEST_ID = re.compile(r"^[0-9A-F]{24}$")


def stored(emu, key: str) -> bytes:
    return emu.store.get_object_bytes(emu.bucket_name, key)


def assert_no_secret(text: str, *secrets: str | None) -> None:
    for secret in secrets:
        if secret:
            assert secret not in text


# --- errors ------------------------------------------------------------------------------------
def test_no_such_key_is_file_not_found(storage_v: OSSStorage, emu) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        storage_v.open("nope.txt")
    error = caught.value
    assert isinstance(error, OSSFileNotFound)
    assert (error.status, error.code, error.operation) == (404, "NoSuchKey", "GetObject")
    assert REQUEST_ID.match(error.request_id)
    assert error.request_id in str(error)
    assert error.key == f"{storage_v.location}/nope.txt"
    assert_no_secret(str(error) + repr(error), emu.access_key_secret)


@pytest.fixture
def prefix_user(emu, location: str) -> Any:
    """A RAM user that may only touch ``<location>/allowed/*``."""
    return emu.iam.add_user(f"prefix-{location.rsplit('-', 1)[-1]}", [{
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "oss:*",
                       "Resource": f"acs:oss:*:*:{emu.bucket_name}/{location}/allowed/*"}],
    }])


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_access_denied_is_permission_error(make_storage: StorageFactory, prefix_user,
                                           emu, version: str) -> None:
    storage = make_storage(access_key_id=prefix_user.access_key_id,
                           access_key_secret=prefix_user.access_key_secret,
                           signature_version=version)
    assert storage.save("allowed/ok.txt", ContentFile(b"fine")) == "allowed/ok.txt"
    assert storage.open("allowed/ok.txt").read() == b"fine"
    with pytest.raises(PermissionError) as caught:
        storage.save("elsewhere/no.txt", ContentFile(b"refused"))
    error = caught.value
    assert isinstance(error, OSSAccessDenied)
    assert (error.status, error.code, error.operation) == (403, "AccessDenied", "PutObject")
    assert error.auth_action == "oss:PutObject"
    assert "oss:PutObject" in str(error)
    assert REQUEST_ID.match(error.request_id) and error.request_id in str(error)
    assert_no_secret(str(error) + repr(error.args), prefix_user.access_key_secret)
    with pytest.raises(PermissionError) as read_denied:
        storage.open("elsewhere/other.txt")
    assert read_denied.value.auth_action == "oss:GetObject"
    with pytest.raises(PermissionError) as head_denied:  # HEAD: the error is in x-oss-err
        storage.size("elsewhere/other.txt")
    assert head_denied.value.code == "AccessDenied"
    assert REQUEST_ID.match(head_denied.value.request_id)


def test_other_errors_are_oss_errors(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(bucket_name="no-such-bucket-here", max_retries=0)
    with pytest.raises(OSSError) as caught:
        storage.open("x.txt")
    error = caught.value
    assert not isinstance(error, (FileNotFoundError, PermissionError))
    assert (error.status, error.code) == (404, "NoSuchBucket")
    assert REQUEST_ID.match(error.request_id)
    storage = make_storage(max_retries=0)
    emu.controls.faults.add("oss", "DeleteObject", status=500, code="InternalError",
                            message="boom", times=1)
    with pytest.raises(OSSError) as injected:
        storage.delete("x.txt")
    assert (injected.value.status, injected.value.code) == (500, "InternalError")
    assert "500 InternalError" in str(injected.value)
    assert injected.value.request_id in str(injected.value)


def test_network_errors_carry_no_signed_query(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(max_retries=0, connect_timeout=1, read_timeout=1)
    emu.controls.faults.add("oss", "GetObject", unreachable=True, times=1)
    with pytest.raises(OSSError) as caught:
        storage.open("x.txt")
    assert caught.value.status == -2
    text = str(caught.value)
    assert "cut mid-request" in text or "did not answer" in text
    assert "Signature" not in text and "x-oss-signature" not in text
    assert_no_secret(text, emu.access_key_secret)


def test_errors_and_logs_never_show_sts_secrets(rrsa_storage_options, emu,
                                                caplog: pytest.LogCaptureFixture) -> None:
    storage = OSSStorage(**rrsa_storage_options(max_retries=1))
    caplog.set_level(logging.DEBUG)
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=5)
    with pytest.raises(OSSError) as caught:
        storage.save("x.txt", ContentFile(b"x"))
    snapshot = storage.credentials.snapshot()
    with pytest.raises(FileNotFoundError) as missing:
        storage.open("missing.txt")
    everything = "\n".join([str(caught.value), repr(caught.value), str(missing.value),
                            caplog.text, repr(storage), str(storage.describe())])
    assert_no_secret(everything, snapshot.access_key_secret, snapshot.security_token)
    assert "retry 1/1" in caplog.text


# --- retries -----------------------------------------------------------------------------------
def test_put_retried_through_transient_503s(storage: OSSStorage, emu, ops) -> None:
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=2)
    assert storage.save("retried.txt", ContentFile(b"eventually")) == "retried.txt"
    assert ops["PutObject"] == 3
    assert stored(emu, f"{storage.location}/retried.txt") == b"eventually"


def test_retries_are_bounded(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(max_retries=2)
    emu.controls.faults.add("oss", "GetObjectMeta", status=503, code="ServiceUnavailable",
                            times=None)
    with pytest.raises(OSSError) as caught:
        storage.exists("x.txt")
    assert caught.value.status == 503
    assert ops["GetObjectMeta"] == 3


def test_client_errors_are_not_retried(storage: OSSStorage, emu, ops) -> None:
    emu.controls.faults.add("oss", "PutObject", status=400, code="InvalidArgument", times=1)
    with pytest.raises(OSSError):
        storage.save("x.txt", ContentFile(b"x"))
    assert ops["PutObject"] == 1


def test_connection_reset_mid_body_is_refetched(storage: OSSStorage, emu, ops) -> None:
    data = bytes(range(256)) * 200
    emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/r.bin", data)
    emu.controls.faults.add("oss", "GetObject", reset_after=1000, times=1)
    ops.reset()
    assert storage.open("r.bin").read() == data
    assert ops["GetObject"] == 2


def test_unreachable_then_recovered_read(storage: OSSStorage, emu, ops) -> None:
    storage.save("u.txt", ContentFile(b"up again"))
    emu.controls.faults.add("oss", "GetObject", unreachable=True, times=1)
    ops.reset()
    assert storage.open("u.txt").read() == b"up again"
    assert ops["GetObject"] == 1  # the reset connection is not answered (nor logged)


def test_unrewindable_upload_is_not_retried(storage: OSSStorage, emu, ops) -> None:
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=1)
    with pytest.raises(OSSError) as caught:
        storage.save("pipe.bin", File(OneShot(b"streamed once"), name="pipe.bin"))
    assert caught.value.status == 503
    assert ops["PutObject"] == 1
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/pipe.bin")


def test_gzipped_upload_within_one_part_is_retried(make_storage: StorageFactory, emu,
                                                   ops) -> None:
    storage = make_storage(gzip=True)  # compressed on the fly: held as one in-memory part
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=1)
    storage.save("a.css", ContentFile(b"body{}" * 100))
    assert ops["PutObject"] == 2
    assert storage.open("a.css").read() == b"body{}" * 100


# --- SecurityTokenExpired: one refresh, one retry ---------------------------------------------
def _expire_in_emulator(emu, storage: OSSStorage) -> str:
    """Make OSS consider the storage's current STS session expired (STS still works)."""
    token = storage.credentials.snapshot().security_token
    session = emu.iam.session_for_token(token)
    assert session is not None
    session.expiration = emu.controls.clock.now() - 1
    return token


def test_expired_token_refreshes_once_and_retries(rrsa_storage_options, emu, ops) -> None:
    storage = OSSStorage(**rrsa_storage_options())
    storage.save("a.txt", ContentFile(b"first"))
    old_token = _expire_in_emulator(emu, storage)
    sts_before = emu.controls.log.count("sts", "AssumeRoleWithOIDC")
    ops.reset()
    assert storage.exists("a.txt")
    assert ops["GetObjectMeta"] == 2
    assert emu.controls.log.count("sts", "AssumeRoleWithOIDC") == sts_before + 1
    assert storage.credentials.snapshot().security_token != old_token
    _expire_in_emulator(emu, storage)
    ops.reset()
    storage.save("b.txt", ContentFile(b"second"))  # a rewindable upload: resent
    assert ops["PutObject"] == 2
    assert stored(emu, f"{storage.location}/b.txt") == b"second"


def test_expired_token_twice_gives_up(rrsa_storage_options, emu, ops) -> None:
    storage = OSSStorage(**rrsa_storage_options())
    storage.credentials.snapshot()
    emu.controls.faults.add("oss", "GetObjectMeta", status=403, code="SecurityTokenExpired",
                            times=None)
    sts_before = emu.controls.log.count("sts", "AssumeRoleWithOIDC")
    with pytest.raises(PermissionError) as caught:
        storage.exists("a.txt")
    assert caught.value.code == "SecurityTokenExpired"
    assert ops["GetObjectMeta"] == 2
    assert emu.controls.log.count("sts", "AssumeRoleWithOIDC") == sts_before + 1


def test_expired_token_unrewindable_upload_is_not_resent(rrsa_storage_options, emu,
                                                         ops) -> None:
    storage = OSSStorage(**rrsa_storage_options())
    storage.credentials.snapshot()
    _expire_in_emulator(emu, storage)
    with pytest.raises(PermissionError) as caught:
        storage.save("pipe.bin", File(OneShot(b"once"), name="pipe.bin"))
    assert caught.value.code == "SecurityTokenExpired"
    assert ops["PutObject"] == 1


def test_expired_token_during_multipart_refreshes(rrsa_storage_options, emu, ops) -> None:
    storage = OSSStorage(**rrsa_storage_options(multipart_threshold=100 * KiB,
                                                multipart_chunksize=100 * KiB))
    storage.credentials.snapshot()
    _expire_in_emulator(emu, storage)
    data = bytes(range(256)) * 1200
    name = storage.save("mp.bin", ContentFile(data))
    assert stored(emu, f"{storage.location}/{name}") == data
    assert ops["InitiateMultipartUpload"] == 2  # refused once, then with fresh credentials
    assert ops["UploadPart"] == 3
