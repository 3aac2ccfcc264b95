"""scripts/oss2_suite.py on a stand-in for oss2's tests/ (same layout and variables): it
starts an account-wide emulator, runs the files with OSS_TEST_* set, counts outcomes
from the JUnit XML, leaves out what LEFT_OUT names, and exits by the target."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

COMMON = '''
import os
import unittest
import uuid

import oss2

OSS_ID = os.getenv("OSS_TEST_ACCESS_KEY_ID")
OSS_SECRET = os.getenv("OSS_TEST_ACCESS_KEY_SECRET")
OSS_ENDPOINT = os.getenv("OSS_TEST_ENDPOINT")


def wait_meta_sync():
    raise AssertionError("the runner makes this instant")


class OssTestCase(unittest.TestCase):
    def setUp(self):
        self.bucket = oss2.Bucket(oss2.Auth(OSS_ID, OSS_SECRET), OSS_ENDPOINT,
                                  os.getenv("OSS_TEST_BUCKET") + uuid.uuid4().hex[:8])
        self.bucket.create_bucket()
        self.rsa_crypto_bucket = "rsa"
        self.kms_crypto_bucket = "kms"
'''

TESTS = '''
import socket
from tests.common import OssTestCase, wait_meta_sync


class TestSample(OssTestCase):
    def test_put_and_get(self):
        self.bucket.put_object("k", b"v")
        wait_meta_sync()
        assert self.bucket.get_object("k").read() == b"v"

    def test_no_kms(self):
        assert self.kms_crypto_bucket == "rsa"

    def test_fails(self):
        assert False

    def test_left_out_restore(self):
        assert False

    def test_no_network(self):
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=1)
        except OSError as exc:
            assert "loopback only" in str(exc)
        else:
            raise AssertionError("connected outside loopback")
'''


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("oss2_suite", ROOT / "scripts" / "oss2_suite.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "LEFT_OUT", {
        "test_sample.py::TestSample::test_left_out_restore": "archive storage restore"})
    return module


def test_runner_counts_oss2_style_tests_on_the_emulator(
        runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "oss2-src" / "tests"
    tests.mkdir(parents=True)
    (tests / "__init__.py").write_text("")
    (tests / "common.py").write_text(COMMON)
    (tests / "test_sample.py").write_text(TESTS)
    status = runner.main(["--source", str(tests.parent), "--files", "test_sample.py",
                          "--target", "0.75"])
    out = capsys.readouterr().out
    assert "FAILED    test_sample.py::TestSample::test_fails" in out
    assert "left out  test_sample.py::TestSample::test_left_out_restore: archive" in out
    assert "3 passed of 4 counted (75.0%); 1 left out" in out
    assert status == 0
    assert runner.main(["--source", str(tests.parent), "--files", "test_sample.py",
                        "--target", "0.9"]) == 1
    assert sys.modules.get("oss2_suite") is None  # loaded from its path, not installed
