"""A user's Django project for pytester runs: its ``OPTIONS`` name real OSS
(``https://oss-cn-hangzhou.aliyuncs.com``, bucket ``acme-prod-media``) and no keys (RRSA
on ACK), and its conftest fails any DNS lookup or connection beyond loopback."""

from __future__ import annotations

import pytest

REAL_ENDPOINT = "https://oss-cn-hangzhou.aliyuncs.com"
REAL_BUCKET = "acme-prod-media"

SETTINGS = f"""
SECRET_KEY = "user-project"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "django.contrib.staticfiles", "docs_app"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
STATIC_URL = "/static/"
STORAGES = {{
    "default": {{
        "BACKEND": "django_alioss.storage.OSSStorage",
        "OPTIONS": {{
            "endpoint": "https://oss-cn-hangzhou-internal.aliyuncs.com",
            "public_endpoint": "{REAL_ENDPOINT}",
            "bucket_name": "{REAL_BUCKET}",
            "location": "media",
        }},
    }},
    "documents": {{
        "BACKEND": "django_alioss.storage.OSSStorage",
        "OPTIONS": {{"endpoint": "{REAL_ENDPOINT}", "bucket_name": "acme-prod-docs",
                     "location": "docs", "custom_domain": "cdn.acme.example",
                     "role_policy": {{"Version": "1", "Statement": []}}}},
    }},
    "staticfiles": {{
        "BACKEND": "django_alioss.storage.OSSManifestStaticStorage",
        "OPTIONS": {{"endpoint": "{REAL_ENDPOINT}", "bucket_name": "{REAL_BUCKET}",
                     "location": "static", "default_acl": "public-read"}},
    }},
}}
"""

MODELS = """
from django.core.files.storage import storages
from django.db import models


class Document(models.Model):
    file = models.FileField(storage=lambda: storages["documents"])
    attachment = models.FileField()  # default_storage

    class Meta:
        app_label = "docs_app"
"""

#: The project's conftest: off-loopback DNS lookups and connections fail the run.
GUARD = """
import ipaddress
import socket

import pytest

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
TOUCHED = []


def _loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in LOOPBACK_NAMES


def connect(self, address):
    if isinstance(address, tuple) and not _loopback(address[0]):
        TOUCHED.append(address[0])
        raise OSError(f"network access refused: {address[0]}")
    return _connect(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host and not _loopback(str(host)):
        TOUCHED.append(host)
        raise socket.gaierror(f"network access refused: {host}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo


def pytest_sessionfinish(session, exitstatus):
    if TOUCHED:
        print(f"NETWORK TOUCHED: {sorted(set(map(str, TOUCHED)))}")
        session.exitstatus = 3
"""


def make_project(pytester: pytest.Pytester, *, settings_configured_by: str = "pytest-django",
                 tests: str) -> None:
    """Write the project, its conftest (the guard; for ``conftest`` also ``settings``
    configured there, without pytest-django) and ``tests``."""
    pytester.mkpydir("realproj").joinpath("settings.py").write_text(SETTINGS)
    pytester.mkpydir("docs_app").joinpath("models.py").write_text(MODELS)
    conftest = GUARD
    if settings_configured_by == "pytest-django":
        pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = realproj.settings\n"
                         "django_find_project = false\npythonpath = .\n")
    else:
        pytester.makeini("[pytest]\npythonpath = .\n")
        conftest += ("\nimport os, django\nos.environ['DJANGO_SETTINGS_MODULE'] = "
                     "'realproj.settings'\ndjango.setup()\n")
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_user=tests)
