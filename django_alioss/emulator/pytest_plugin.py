"""pytest fixtures for test suites that use OSS (registered through the ``pytest11`` entry point).

- ``alioss_emulator_session``: one :class:`~django_alioss.emulator.Emulator` for the
  whole test session (started on free 127.0.0.1 ports, stopped at the end).
- ``alioss_emulator``: the same emulator for one test; afterwards its faults, request
  log and clock offset are reset so tests do not leak into each other.
- ``alioss_env``: the emulator's environment (``ALIOSS_*`` and ``ALIBABA_CLOUD_*``)
  set with ``monkeypatch`` for one test.
- ``alioss_storages``: for one test, every django-alioss storage of ``STORAGES`` points
  at the emulator (endpoint, bucket, region, credentials), whatever its ``OPTIONS``
  say; Django's storage cache is reset and everything restored afterwards. RRSA through
  the emulator's STS by default; static keys with ``@pytest.mark.alioss_static_keys``
  or ``@pytest.mark.parametrize("alioss_storages", ["static"], indirect=True)``. Uses
  pytest-django's ``settings`` fixture when pytest-django is installed (so later
  ``settings`` changes in the test stack on top), else ``override_settings``.

``--alioss-cdn-auth-type A|B|C``, ``--alioss-cdn-auth-key`` and
``--alioss-cdn-auth-ttl`` (or the ini options ``alioss_cdn_auth_type``...) give the
session emulator a CDN edge with URL authentication: ``emulator.cdn_url``, and
``emulator.cdn_options()`` for a storage whose URLs go through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .emulator import Emulator
    from .storages import EmulatedStorages

STATIC_KEYS_MARKER = "alioss_static_keys"
CDN_OPTIONS = (
    ("cdn_auth_type", "URL authentication type (A, B or C) of the emulated CDN edge"),
    ("cdn_auth_key", "URL authentication key of the emulated CDN edge"),
    ("cdn_auth_ttl", "seconds the CDN edge accepts a signed URL after its timestamp "
                     "(default 1800)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alioss", "django-alioss emulator")
    for name, text in CDN_OPTIONS:
        group.addoption(f"--alioss-{name.replace('_', '-')}", dest=f"alioss_{name}",
                        default=None, help=text)
        parser.addini(f"alioss_{name}", text, default="")


def cdn_settings(config: pytest.Config) -> dict[str, Any]:
    """The session emulator's CDN edge arguments (none unless a type is set)."""
    values = {name: config.getoption(f"alioss_{name}") or config.getini(f"alioss_{name}")
              for name, _ in CDN_OPTIONS}
    if not values["cdn_auth_type"]:
        return {}
    settings: dict[str, Any] = {"cdn_auth_type": values["cdn_auth_type"],
                                "cdn_auth_key": values["cdn_auth_key"] or None}
    if values["cdn_auth_ttl"]:
        settings["cdn_auth_ttl"] = int(values["cdn_auth_ttl"])
    return settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{STATIC_KEYS_MARKER}: the alioss_storages fixture signs in with the "
                   "emulator's static AccessKey instead of RRSA")


@pytest.fixture(scope="session")
def alioss_emulator_session(request: pytest.FixtureRequest,
                            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from .emulator import Emulator

    with Emulator(admin=True, **cdn_settings(request.config)) as emulator:
        yield emulator


@pytest.fixture
def alioss_emulator(alioss_emulator_session: Emulator) -> Iterator[Emulator]:
    yield alioss_emulator_session
    alioss_emulator_session.reset()


@pytest.fixture
def alioss_env(alioss_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = alioss_emulator.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _storages_mode(request: pytest.FixtureRequest) -> str:
    from .storages import RRSA, STATIC_KEYS

    if hasattr(request, "param"):
        return str(request.param)
    return STATIC_KEYS if request.node.get_closest_marker(STATIC_KEYS_MARKER) else RRSA


@pytest.fixture
def alioss_storages(request: pytest.FixtureRequest, alioss_emulator: Emulator,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedStorages]:
    from .storages import EmulatedStorages

    undo: list[Any] = []
    if request.config.pluginmanager.has_plugin("django"):
        settings = request.getfixturevalue("settings")  # pytest-django: one restore stack

        def set_setting(name: str, value: Any) -> None:
            setattr(settings, name, value)
    else:
        from django.test import override_settings

        def set_setting(name: str, value: Any) -> None:
            override = override_settings(**{name: value})
            override.enable()
            undo.append(override)

    alioss_emulator.token_file.write()  # a fresh projected token, whatever the clock did
    emulated = EmulatedStorages(alioss_emulator, _storages_mode(request), set_setting,
                                monkeypatch.setattr)
    try:
        emulated.apply()
        yield emulated
    finally:
        for override in reversed(undo):
            override.disable()
