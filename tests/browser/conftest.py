"""Fixtures of the browser tests: Debian's Chromium through Playwright, a fresh demo.

- ``chromium``: a headless browser (``CHROMIUM`` overrides ``/usr/bin/chromium``);
  skipped without the ``playwright`` package or the binary, except under CI
  (``CI=true``), where that is a failure.
- ``demo``: ``example_project/run_demo.py`` running on a free port with its own data
  directory, stopped (and checked to leave nothing behind) after the test.

Screenshots go to :data:`ARTIFACTS` (``test-artifacts/``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..example.demo import Demo, start_demo
from ..processes import REPO

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts"


def unavailable(reason: str) -> None:
    """Skip locally; under CI a missing browser is a failure, not a skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = start_demo(tmp_path / "data", tmp_path)
    try:
        yield running
    finally:
        assert running.stop() == 0, running.child.log()[-3000:]
