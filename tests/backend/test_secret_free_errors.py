"""Exceptions we raise carry no secret anywhere in their chain (issue 8, defect 4).

oss2's SignatureDoesNotMatch error quotes the canonical request, which holds the
``x-oss-security-token`` header: it must not survive as our exception's hidden
``__context__`` (or ``__cause__``), where tracebacks and error trackers find it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile

from django_alioss.exceptions import OSSError
from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _everything_said(error: BaseException) -> str:
    """Every text a traceback, a logger or an error tracker could show of ``error``."""
    parts = ["".join(traceback.format_exception(error))]
    for link in _chain(error):
        parts += [repr(link), str(link), repr(vars(link)) if hasattr(link, "__dict__") else ""]
    return "\n".join(parts)


@pytest.fixture
def tampered(make_storage: StorageFactory, rrsa_storage_options: Callable[..., dict[str, Any]]
             ) -> tuple[OSSStorage, Any]:
    """A storage signing with real STS credentials whose secret is wrong: every request
    is answered 403 SignatureDoesNotMatch."""
    snapshot = OSSStorage(**rrsa_storage_options()).credentials.snapshot()
    storage = make_storage(access_key_id=snapshot.access_key_id,
                           access_key_secret=snapshot.access_key_secret[::-1],
                           security_token=snapshot.security_token)
    return storage, snapshot


OPERATIONS: dict[str, Callable[[OSSStorage], Any]] = {
    "save": lambda s: s.save("a.txt", ContentFile(b"x")),
    "open": lambda s: s.open("a.txt").read(),
    "size": lambda s: s.size("a.txt"),
    "exists": lambda s: s.exists("a.txt"),
    "delete": lambda s: s.delete("a.txt"),
    "listdir": lambda s: s.listdir(""),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_signature_mismatch_with_sts_credentials_leaks_nothing(
        tampered: tuple[OSSStorage, Any], operation: str) -> None:
    storage, snapshot = tampered
    with pytest.raises(OSSError) as caught:
        OPERATIONS[operation](storage)
    error = caught.value
    assert error.code == "SignatureDoesNotMatch"
    assert error.__cause__ is None and error.__context__ is None
    said = _everything_said(error)
    for secret in (snapshot.security_token, snapshot.access_key_secret,
                   snapshot.access_key_secret[::-1]):
        assert secret not in said


def test_network_error_chain_leaks_nothing(make_storage: StorageFactory, emu,
                                           rrsa_storage_options: Callable[..., dict[str, Any]]
                                           ) -> None:
    storage = OSSStorage(**rrsa_storage_options(max_retries=0))
    snapshot = storage.credentials.snapshot()
    emu.controls.faults.add("oss", "PutObject", unreachable=True, times=1)
    with pytest.raises(OSSError) as caught:
        storage.save("b.txt", ContentFile(b"x"))
    assert caught.value.status == -2
    assert caught.value.__context__ is None
    said = _everything_said(caught.value)
    assert snapshot.security_token not in said and snapshot.access_key_secret not in said


def test_one_redacting_filter_per_logger(storage: OSSStorage,
                                         rrsa_storage_options: Callable[..., dict[str, Any]]
                                         ) -> None:
    """The storage, the credentials and the SDK adapter all install the redaction filter;
    each logger carries it once (it used to be on ``urllib3.connectionpool`` twice)."""
    import logging

    from django_alioss import redaction
    from django_alioss.credentials import ensure_sdk_logging_quiet

    storage.exists("x")  # builds the oss2 client
    OSSStorage(**rrsa_storage_options()).credentials.snapshot()  # the STS SDK
    ensure_sdk_logging_quiet()
    redaction.install()
    for name in (*redaction.SDK_LOGGERS, "django_alioss"):
        filters = [f for f in logging.getLogger(name).filters
                   if isinstance(f, redaction.RedactingFilter)]
        assert len(filters) == 1, name
