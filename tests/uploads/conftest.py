"""Fixtures for the direct-upload tests (forms, PostObject, CORS, the Django field).

The backend's fixtures (``emu``, ``location``, ``make_storage``, ``storage``,
``rrsa_storage_options``, ``ops``; see tests/backend/conftest.py) are re-exported here,
so that these tests run against the same session emulator with the same options;
``http`` is a ``requests`` session that never uses a proxy from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.backend.conftest import (  # noqa: F401 - fixtures, re-exported
    emu,
    location,
    make_storage,
    ops,
    rrsa_storage_options,
    storage,
)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session
