#!/usr/bin/env python3
"""Run oss2's own functional tests against the emulator and report the pass rate.

oss2's source distribution ships the tests it runs against real OSS (``tests/`` with
``common.py`` reading ``OSS_TEST_*`` variables). This script:

1. gets them: ``--source DIR`` (an unpacked oss2 sdist), else ``pip download --no-deps
   --no-binary :all: oss2==<installed version>`` into ``.cache/oss2-tests/`` (once);
2. starts an account-wide :class:`~django_alioss.emulator.Emulator` on 127.0.0.1 (oss2's
   tests create a bucket per test);
3. runs the chosen test files with pytest in a subprocess, with ``OSS_TEST_ENDPOINT``
   etc. pointing at the emulator, ``HTTP_PROXY`` at the emulator (oss2 addresses the
   buckets it lists by their ``oss-<region>.aliyuncs.com`` names: the emulator answers
   those as a proxy, so no request leaves 127.0.0.1) and a conftest that makes
   ``wait_meta_sync()`` instant and refuses every connection beyond loopback;
4. counts outcomes per test from the JUnit XML, leaving out the tests in
   :data:`LEFT_OUT` (they need a real cloud service), and prints the pass rate.

Exit status 0 when the pass rate reaches ``--target`` (default 90%), else 1.

    .venv/bin/python scripts/oss2_suite.py [--files test_object.py,...] [--source DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "oss2-tests"
DEFAULT_FILES = ("test_object.py", "test_multipart.py", "test_list_objects_v2.py",
                 "test_iterator.py", "test_chinese.py", "test_upload.py", "test_download.py",
                 "test_headers.py", "test_put_object_chunked.py")

#: Tests left out, by name prefix (``file::Class::test``), and why: each needs a cloud
#: service the emulator does not provide.
LEFT_OUT: dict[str, str] = {
    "test_object.py::TestObject::test_restore_": "archive storage restore",
    "test_object.py::TestObject::test_list_objects": "archive storage restore (restore_object)",
    "test_list_objects_v2.py::TestIteratorV2::test_normal_list_objects_restore_info":
        "archive storage restore",
    "test_object.py::TestObject::test_process_object":
        "image processing with sys/saveas (and tests/example.jpg, not in the sdist)",
    "test_object.py::TestObject::test_async_process_object": "asynchronous image processing",
    "test_object.py::TestObject::test_sign_url_with_callback": "upload callbacks to a public URL",
    "test_iterator.py::TestIterator::test_live_channel_iterator": "live channels (RTMP ingest)",
}

CONFTEST = '''
"""Written by scripts/oss2_suite.py: instant meta sync, loopback-only connections, and
``mock`` (which oss2's tests import) as the standard library's unittest.mock."""
import ipaddress
import socket
import sys
import unittest.mock

sys.modules.setdefault("mock", unittest.mock)
from tests import common  # noqa: E402

common.wait_meta_sync = lambda: None
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
_set_up = common.OssTestCase.setUp


def _set_up_without_kms(self):
    """KMS is a cloud service: tests that pick a crypto bucket at random get the RSA one
    (client-side encryption with a local key) instead of the KMS one."""
    _set_up(self)
    self.kms_crypto_bucket = self.rsa_crypto_bucket


common.OssTestCase.setUp = _set_up_without_kms


def _loopback(address):
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] == "localhost"


def _guarded(self, address):
    if isinstance(address, tuple) and not _loopback(address):
        raise OSError(f"oss2_suite: connection to {address[0]} refused (loopback only)")
    return _connect(self, address)


def _resolve(host, *args, **kwargs):
    if host and not _loopback((str(host),)):
        raise socket.gaierror(f"oss2_suite: no DNS lookup of {host} (loopback only)")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded
socket.getaddrinfo = _resolve
'''


def fetch_tests(source: Path | None) -> Path:
    """The ``tests`` directory of oss2's sdist (downloaded once into :data:`CACHE`)."""
    if source is not None:
        return source / "tests"
    wanted = version("oss2")
    unpacked = CACHE / f"oss2-{wanted}"
    if not (unpacked / "tests").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", "-q", "-d", str(CACHE), f"oss2=={wanted}"], check=True)
        with tarfile.open(CACHE / f"oss2-{wanted}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
    return unpacked / "tests"


def test_environment(emulator: object) -> dict[str, str]:
    """The variables oss2's ``tests/common.py`` reads, for ``emulator``."""
    emu = emulator  # an Emulator (typed loosely: the script imports it late)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("OSS_TEST_", "HTTP_PROXY", "http_proxy"))}
    env.update({
        "OSS_TEST_ENDPOINT": emu.endpoint, "OSS_TEST_ACCESS_KEY_ID": emu.access_key_id,  # type: ignore[attr-defined]
        "OSS_TEST_ACCESS_KEY_SECRET": emu.access_key_secret,  # type: ignore[attr-defined]
        "OSS_TEST_REGION": emu.region, "OSS_TEST_BUCKET": "oss2-suite",  # type: ignore[attr-defined]
        "OSS_TEST_UID": emu.iam.account_id,  # type: ignore[attr-defined]
        "OSS_TEST_STS_ID": emu.access_key_id,  # type: ignore[attr-defined]
        "OSS_TEST_STS_KEY": emu.access_key_secret,  # type: ignore[attr-defined]
        "OSS_TEST_STS_ARN": emu.ram_role_arn,  # type: ignore[attr-defined]
        "HTTP_PROXY": emu.endpoint, "http_proxy": emu.endpoint,  # type: ignore[attr-defined]
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    return env


def outcomes(junit: Path) -> dict[str, str]:
    """``file::Class::test`` -> passed / failed / skipped, from pytest's JUnit XML."""
    results: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        module, _, cls = case.get("classname", "").rpartition(".")
        name = f"{module.rsplit('.', 1)[-1]}.py::{cls}::{case.get('name')}"
        kinds = {child.tag for child in case}
        results[name] = ("failed" if kinds & {"failure", "error"}
                         else "skipped" if "skipped" in kinds else "passed")
    return results


def left_out_reason(name: str) -> str | None:
    return next((why for prefix, why in LEFT_OUT.items() if name.startswith(prefix)), None)


def report(results: dict[str, str]) -> float:
    """Print failures, left-out tests and totals; return the pass rate (0..1)."""
    counted = {n: r for n, r in results.items() if left_out_reason(n) is None}
    ran = {n: r for n, r in counted.items() if r != "skipped"}
    passed = sum(1 for r in ran.values() if r == "passed")
    for name, result in sorted(results.items()):
        why = left_out_reason(name)
        if why is not None:
            print(f"left out  {name}: {why}")
        elif result == "failed":
            print(f"FAILED    {name}")
    rate = passed / len(ran) if ran else 0.0
    print(f"oss2 functional tests on the emulator: {passed} passed of {len(ran)} counted "
          f"({rate:.1%}); {len(results) - len(counted)} left out, "
          f"{len(counted) - len(ran)} skipped by oss2 itself")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="an unpacked oss2 sdist (default: download)")
    parser.add_argument("--files", default=",".join(DEFAULT_FILES),
                        help="comma-separated test files of oss2's tests/")
    parser.add_argument("--target", type=float, default=0.9, help="pass rate to reach")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from django_alioss.emulator import Emulator

    tests = fetch_tests(args.source)
    with tempfile.TemporaryDirectory(prefix="oss2-suite-") as work, \
            Emulator(account_wide=True) as emulator:
        shutil.copytree(tests, Path(work) / "tests")
        (Path(work) / "conftest.py").write_text(CONFTEST)
        (Path(work) / "pytest.ini").write_text("[pytest]\n")
        junit = Path(work) / "junit.xml"
        files = [f"tests/{name}" for name in args.files.split(",") if name]
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "no:django", "-p", "no:alioss_emulator", "--rootdir", work,
                        f"--junitxml={junit}", *files, *args.pytest_args],
                       cwd=work, env=test_environment(emulator), check=False)
        rate = report(outcomes(junit))
    return 0 if rate >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
