"""Fixtures for image processing and CDN URL tests.

Helpers (imported by the tests): ``make_image(size, fmt="PNG", color=..., **save)``, an
encoded image made by Pillow; ``opened(data)``, the decoded image; ``fetch(url)``, a GET
without proxies from the environment.

The backend tests' storage fixtures (``emu``, ``make_storage``, ``storage``,
``storage_v``) are used here too: tests/backend/conftest.py is a directory conftest, not a
suite-wide plugin, so they are imported below.

- ``cdn_emu``: a module-wide :class:`Emulator` with a CDN edge (URL authentication
  type A to start with; ``use_cdn_auth(emu, type, key)`` switches it for one test and
  the fixture ``cdn_edge`` puts it back).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_alioss.emulator import Emulator
from django_alioss.emulator.cdn import CDNAuth

from ..backend.conftest import emu, location, make_storage, storage, storage_v  # noqa: F401

TYPE_A_KEY = "aliyuncdnexp1234"
TYPE_C_KEY = "0123456789abcdefABCDEF"
KEYS = {"A": TYPE_A_KEY, "B": "b-key-for-tests", "C": TYPE_C_KEY}

def make_image(size: tuple[int, int], fmt: str = "PNG",
               color: tuple[int, ...] = (200, 30, 30), **save: Any) -> bytes:
    from PIL import Image

    mode = "RGBA" if len(color) == 4 else "RGB"
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def opened(data: bytes) -> Any:
    """The Pillow image ``data`` holds (decoded, so a broken one fails here)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def fetch(url: str, **kwargs: Any) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def cdn_emu() -> Iterator[Emulator]:
    with Emulator(cdn_auth_type="A", cdn_auth_key=TYPE_A_KEY) as emulator:
        yield emulator


@pytest.fixture
def cdn_edge(cdn_emu: Emulator) -> Iterator[Emulator]:
    """``cdn_emu`` for one test: clock, faults and log reset and the edge back to type
    A afterwards."""
    yield cdn_emu
    cdn_emu.reset()
    use_cdn_auth(cdn_emu, "A")


def use_cdn_auth(emulator: Emulator, auth_type: str, key: str | None = None,
                 ttl: int = 1800) -> None:
    assert emulator.cdn is not None
    emulator.cdn.auth = CDNAuth(auth_type, KEYS[auth_type] if key is None else key, ttl)
