"""Django's checks of a file name, at the cost of string operations.

``Storage.save()`` checks a name three times with Django's ``validate_file_name`` and
once more (twice through ``pathlib``) in django-storages' ``get_available_overwrite_name``;
each check builds a ``PurePosixPath``, a few µs apiece: a tenth of what django-alioss
adds to a 1 KiB save. Here a name whose answer is plain (relative, no ``..`` segment, a
file name at the end) is accepted with string operations; any other name goes to the
original function, which refuses it (or accepts it) exactly as before.
"""

from __future__ import annotations

import os

from django.core.files.utils import validate_file_name as django_validate_file_name
from storages.utils import clean_name, get_available_overwrite_name


def plainly_valid(name: str) -> bool:
    """Whether ``validate_file_name(name, allow_relative_path=True)`` plainly accepts
    ``name`` (``False`` leaves the answer to it)."""
    posix = str(name).replace("\\", "/")
    return (not posix.startswith("/") and ".." not in posix.split("/")
            and os.path.basename(name) not in ("", ".", ".."))


def validate_file_name(name: str) -> None:
    """Django's ``validate_file_name(name, allow_relative_path=True)``: raises
    ``SuspiciousFileOperation`` for the same names."""
    if not plainly_valid(name):
        django_validate_file_name(name, allow_relative_path=True)


def available_overwrite_name(name: str, max_length: int | None) -> str:
    """django-storages' ``get_available_overwrite_name(clean_name(name), max_length)``:
    the cleaned name, truncated to ``max_length`` if needed; the same refusals."""
    cleaned = clean_name(name)
    if (max_length is None or len(cleaned) <= max_length) and plainly_valid(cleaned):
        return cleaned
    return get_available_overwrite_name(cleaned, max_length)
