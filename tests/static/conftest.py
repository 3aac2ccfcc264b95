"""Fixtures for the collectstatic tests: static storages on the session emulator.

- ``emu``: the session emulator (faults, log and clock reset after each test).
- ``ops``: an :class:`~tests.backend.conftest.OpCounter` of the emulator's requests.
- ``make_static(cls=OSSManifestStaticStorage, **options)``: a static storage on the
  emulator, with a ``location`` unique to the test (the same for every call in a test,
  so a second storage is the next deploy of the same site).
- ``static_tree``: a copy of Django admin's static files (127 files) in a temporary
  directory, set as ``STATICFILES_DIRS`` (so a test may edit them).
- ``collect``: :func:`tests.static.helpers.run_collect`.

Helpers (``writes``, ``put_keys``...) are in :mod:`tests.static.helpers`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from django_alioss.storage import OSSManifestStaticStorage, OSSStaticStorage
from tests.backend.conftest import OpCounter, static_options, unique_location
from tests.static.helpers import ADMIN_STATIC, run_collect

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator


@pytest.fixture
def emu(alioss_emulator: Emulator) -> Emulator:
    return alioss_emulator


@pytest.fixture
def ops(alioss_emulator: Emulator) -> OpCounter:
    return OpCounter(alioss_emulator)


@pytest.fixture
def make_static(alioss_emulator: Emulator, request: pytest.FixtureRequest
                ) -> Callable[..., OSSStaticStorage]:
    location = unique_location(request)

    def make(cls: type[OSSStaticStorage] = OSSManifestStaticStorage,
             **options: Any) -> OSSStaticStorage:
        return cls(**{**static_options(alioss_emulator), "location": location, **options})

    return make


@pytest.fixture
def static_tree(tmp_path: Path, settings: Any) -> Path:
    tree = tmp_path / "static"
    shutil.copytree(ADMIN_STATIC, tree)
    settings.STATICFILES_DIRS = [str(tree)]
    return tree


@pytest.fixture
def collect() -> Callable[..., str]:
    return run_collect
