"""Every operation refuses the same names the same way (issue 8, defect 3).

``save()`` refuses ``..`` segments and absolute paths (Django's
``validate_file_name``); without a ``location``, ``exists``/``url``/``delete``/``size``
used to turn ``../x`` and ``/etc/passwd`` into the keys ``x`` and ``etc/passwd``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile

from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]

TRAVERSALS = ["../x", "/etc/passwd", "a/../b", "..\\x", "\\etc\\passwd", "a/../../b", ".."]


def _operations(storage: OSSStorage) -> dict[str, Callable[[str], object]]:
    return {
        "save": lambda name: storage.save(name, ContentFile(b"x")),
        "open": storage.open,
        "open-wb": lambda name: storage.open(name, "wb"),
        "exists": storage.exists,
        "delete": storage.delete,
        "size": storage.size,
        "url": storage.url,
        "get_modified_time": storage.get_modified_time,
        "listdir": storage.listdir,
    }


@pytest.mark.parametrize("location", ["", "media"])
@pytest.mark.parametrize("name", TRAVERSALS)
def test_every_operation_refuses_traversal_before_any_request(
        make_storage: StorageFactory, emu, ops, location: str, name: str) -> None:
    storage = make_storage(location=location)
    # Objects a wrongly mapped name would reach.
    for key in ("x", "etc/passwd", "b", "media/x", "media/b"):
        emu.store.put_object_bytes(emu.bucket_name, key, b"secret")
    ops.reset()
    for operation, call in _operations(storage).items():
        with pytest.raises(SuspiciousFileOperation):
            call(name)
            pytest.fail(f"{operation}({name!r}) was accepted")
    assert ops.total() == 0
    assert emu.store.exists(emu.bucket_name, "x") and emu.store.exists(emu.bucket_name, "b")


def test_plain_relative_names_still_work_without_location(
        make_storage: StorageFactory, emu) -> None:
    storage = make_storage(location="")
    name = storage.save("dir/./file.txt", ContentFile(b"ok"))
    assert storage.exists("dir/file.txt") and storage.size("dir/file.txt") == 2
    assert emu.store.exists(emu.bucket_name, "dir/file.txt")
    storage.delete("dir/file.txt")
    assert name == "dir/file.txt"


def test_location_cannot_climb_out_and_is_normalised(emu) -> None:
    from django.core.exceptions import ImproperlyConfigured

    base = {"endpoint": emu.endpoint, "bucket_name": emu.bucket_name, "region": emu.region,
            "access_key_id": emu.access_key_id, "access_key_secret": emu.access_key_secret}
    for location in ("media/../other", "..", "a/../../b"):
        with pytest.raises(ImproperlyConfigured, match="location"):
            OSSStorage(**base, location=location)
    storage = OSSStorage(**base, location="media//photos/./")
    assert storage.location == "media/photos"
    assert storage.object_key("x.jpg") == "media/photos/x.jpg"
