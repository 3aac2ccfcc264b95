"""Helpers of the collectstatic tests (fixtures are in this directory's conftest.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import django
from django.core.management import call_command

import django_alioss
from django_alioss.management.commands.collectstatic import Command

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator
    from tests.backend.conftest import OpCounter

ADMIN_STATIC = Path(django.__file__).parent / "contrib" / "admin" / "static"
#: The installed apps' static files: django_alioss ships its direct-upload widget script.
PACKAGE_STATIC = Path(django_alioss.__file__).parent / "static"
#: What collectstatic finds: the admin's files (copied into STATICFILES_DIRS) and those.
COLLECTED_FILES = sum(1 for root in (ADMIN_STATIC, PACKAGE_STATIC)
                      for p in root.rglob("*") if p.is_file())
WRITES = ("PutObject", "DeleteObject", "InitiateMultipartUpload", "UploadPart",
          "CompleteMultipartUpload", "CopyObject", "DeleteMultipleObjects", "AppendObject")


def run_collect(storage: Any, verbosity: int = 0, **options: Any) -> str:
    """django-alioss's ``collectstatic --noinput`` into ``storage``; what it printed."""
    command = Command()
    command.storage = storage
    out = io.StringIO()
    call_command(command, interactive=False, verbosity=verbosity, stdout=out,
                 stderr=io.StringIO(), **options)
    return out.getvalue()


def writes(ops: OpCounter) -> dict[str, int]:
    """The write operations counted by ``ops`` (non-zero only)."""
    return {op: n for op, n in ops.changed().items() if op in WRITES}


def put_keys(emu: Emulator, since: int, location: str) -> set[str]:
    """Names (relative to ``location``) written by PutObject after the first ``since``."""
    prefix = f"/{emu.bucket_name}/{location}/"
    entries = emu.controls.log.entries("oss", "PutObject")[since:]
    return {unquote(e.path.split("?", 1)[0]).removeprefix(prefix) for e in entries}


def read(emu: Emulator, storage: Any, name: str) -> bytes:
    """The stored bytes of ``name`` (straight from the emulator's store)."""
    return emu.store.get_object_bytes(emu.bucket_name, storage.object_key(name))
