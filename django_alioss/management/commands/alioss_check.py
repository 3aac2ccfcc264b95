"""``manage.py alioss_check``: diagnose one configured django-alioss storage.

Steps, one line each (``OK``/``WARN``/``FAIL``/``SKIP`` + detail): the system checks of
the alias, building the storage, its resolved options (no secrets), the credentials
(source, why, expiry; fetching them performs the STS round trip where there is one),
with ``direct_upload_origins`` whether the bucket's CORS rules let them POST, then a
probe: write, read back, fetch a URL from ``storage.url`` with urllib and
compare, delete (and, for manifest storages, look for ``staticfiles.json``). Exit
status 1 when any step fails; ``--json`` prints one JSON document instead of lines.
"""

from __future__ import annotations

import json
import posixpath
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...checks import check_alias
from ...cors import post_report
from ...diagnostics import explain, format_age, storage_configs, storage_for_alias
from ...exceptions import OSSAccessDenied, OSSError
from ...storage import OSSStorage

PROBE_PREFIX = ".alioss-check"
_XML_FIELD = re.compile(r"<(Code|Message|RequestId|AuthAction)>([^<]*)</\1>")


@dataclass
class Step:
    """The outcome of one diagnostic step."""

    step: str
    status: str  # OK, WARN, FAIL or SKIP
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


class ProbeMismatch(Exception):
    """Data read back differs from what was written."""


def _http_error(error: urllib.error.HTTPError, operation: str) -> OSSError:
    """An OSSError from an OSS error answer to a URL fetch (for :func:`explain`)."""
    body = error.read(65536).decode("utf-8", "replace")
    fields = dict(_XML_FIELD.findall(body))
    code = fields.get("Code", "")
    text = f"{operation} failed: {error.code} {code or error.reason}"
    if fields.get("Message"):
        text += f": {fields['Message']}"
    if fields.get("AuthAction"):
        text += f" (the credentials lack permission {fields['AuthAction']})"
    if fields.get("RequestId"):
        text += f" [request id {fields['RequestId']}]"
    return OSSError(text, status=error.code, code=code, request_id=fields.get("RequestId", ""),
                    operation=operation, auth_action=fields.get("AuthAction", ""))


def _display_url(url: str) -> str:
    """The URL without its query (which holds the signature and any security token)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class Diagnosis:
    """Runs the steps for one alias and records them."""

    def __init__(self, alias: str, probe: bool) -> None:
        self.alias = alias
        self.probe = probe
        self.steps: list[Step] = []
        self.storage: OSSStorage | None = None
        self.options: dict[str, Any] = {}
        self.credentials: dict[str, Any] = {}

    @property
    def ok(self) -> bool:
        return not any(step.status == "FAIL" for step in self.steps)

    def run_step(self, name: str, action: Callable[[], tuple[str, str] | str]) -> bool:
        """Run ``action`` (returns a detail, or (status, detail)); record a FAIL with the
        explanation when it raises. Returns whether the step did not fail."""
        try:
            outcome = action()
        except Exception as exc:  # a diagnosis reports every failure, it does not crash
            self.steps.append(Step(name, "FAIL", explain(exc, self.storage)))
            return False
        status, detail = outcome if isinstance(outcome, tuple) else ("OK", outcome)
        self.steps.append(Step(name, status, detail))
        return status != "FAIL"

    def skip(self, name: str, why: str) -> None:
        self.steps.append(Step(name, "SKIP", why))

    # --- the steps ---------------------------------------------------------------------
    def run(self) -> None:
        configs = storage_configs()
        if self.alias in configs:
            self.system_checks(configs[self.alias])
        if not self.run_step("storage", self.build):
            return
        if not self.run_step("options", self.describe_options):
            return
        if not self.run_step("credentials", self.fetch_credentials):
            self.skip("probe", "no credentials")
            return
        if self.storage is not None and self.storage.direct_upload_origins:
            self.run_step("cors", self.cors)
        if not self.probe:
            self.skip("probe", "--no-probe")
            return
        self.run_probe()

    def system_checks(self, config: dict[str, Any]) -> None:
        messages = check_alias(self.alias, config)
        if not messages:
            self.steps.append(Step("checks", "OK", "no system check messages"))
            return
        for message in messages:
            status = "FAIL" if message.is_serious() else "WARN"
            hint = f" HINT: {message.hint}" if message.hint else ""
            detail = f"{message.id}: {message.msg}{hint}"
            self.steps.append(Step("checks", status, detail))

    def build(self) -> str:
        self.storage, config = storage_for_alias(self.alias)
        return f"{config['BACKEND']}: {self.storage!r}"

    def describe_options(self) -> str:
        assert self.storage is not None
        described = self.storage.describe()
        self.credentials = described.pop("credentials")
        self.options = described
        shown = ("endpoint", "bucket_name", "region", "location", "signature_version",
                 "public_endpoint", "custom_domain", "querystring_auth", "querystring_expire",
                 "default_acl", "file_overwrite")
        return ", ".join(f"{name}={described[name]!r}" for name in shown
                         if described[name] not in (None, ""))

    def fetch_credentials(self) -> tuple[str, str]:
        assert self.storage is not None
        provider = self.storage.credentials
        snapshot = provider.snapshot()  # the STS round trip for refreshing sources
        info = provider.describe()
        self.credentials = info
        parts = [f"source {info['source']}"]
        for key, label in (("role_arn", "role"), ("oidc_token_file", "OIDC token file"),
                           ("sts_endpoint", "STS"), ("access_key_id", "AccessKey")):
            if info.get(key):
                parts.append(f"{label} {info[key]}")
        if snapshot.expiration is not None:
            parts.append(f"expires {info.get('expiration')} "
                         f"(in {format_age(snapshot.expiration - time.time())})")
        else:
            parts.append("no expiry")
        detail = ", ".join(parts) + f"; why: {info['why']}"
        return ("WARN" if info["source"] == "static-fallback" else "OK"), detail

    def cors(self) -> tuple[str, str]:
        """Whether each origin of ``direct_upload_origins`` may POST (form uploads); WARN
        when the bucket's CORS rules cannot be read."""
        assert self.storage is not None
        try:
            cors = self.storage.client.get_bucket_cors()
        except OSSAccessDenied as exc:
            return "WARN", f"cannot read the bucket's CORS rules: {explain(exc, self.storage)}"
        return post_report(cors, self.storage.direct_upload_origins)

    def run_probe(self) -> None:
        storage = self.storage
        assert storage is not None
        name = f"{PROBE_PREFIX}/{secrets.token_hex(8)}.txt"
        payload = f"django-alioss check {secrets.token_hex(16)}\n".encode()
        key = posixpath.join(storage.location, name) if storage.location else name
        saved: list[str] = []

        def write() -> str:
            saved.append(storage.save(name, ContentFile(payload)))
            return f"PUT {key} ({len(payload)} bytes)"

        def read() -> str:
            with storage.open(saved[0], "rb") as handle:
                data = handle.read()
            if data != payload:
                raise ProbeMismatch(
                    f"read {len(data)} bytes that differ from the {len(payload)} written")
            return f"GET {key}: content matches"

        def fetch_url() -> str:
            # The plain object URL: manifest storages would look the name up in staticfiles.json.
            url = OSSStorage.url(storage, saved[0])
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            signed = "signed" if {"x-oss-signature", "Signature"} & set(query) else "unsigned"
            try:
                with urllib.request.urlopen(url, timeout=storage.read_timeout) as response:
                    data = response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                raise _http_error(error, "GET of the URL from storage.url()") from None
            except urllib.error.URLError as error:
                raise OSSError(f"GET of the URL from storage.url() failed: network error: "
                               f"{error.reason}", status=-2) from None
            if data != payload:
                raise ProbeMismatch(f"the {signed} URL {_display_url(url)} answered {status} with "
                                    f"{len(data)} bytes that differ from the object")
            return f"{signed} URL {_display_url(url)} -> {status}, content matches"

        def delete() -> tuple[str, str]:
            storage.delete(saved[0])
            try:
                still_there = storage.exists(saved[0])
            except OSSAccessDenied as exc:
                return "WARN", f"DELETE {key}: done, not verified: {explain(exc, storage)}"
            if still_there:
                raise ProbeMismatch(f"{key} still exists after delete")
            return "OK", f"DELETE {key}: gone"

        if not self.run_step("write", write):
            for skipped in ("read", "url", "delete"):
                self.skip(skipped, "nothing written")
        else:
            self.run_step("read", read)
            self.run_step("url", fetch_url)
            self.run_step("delete", delete)
        if isinstance(storage, ManifestFilesMixin):
            self.run_step("manifest", lambda: self.manifest(storage))

    @staticmethod
    def manifest(storage: Any) -> tuple[str, str]:
        manifest_name = storage.manifest_name
        if storage.exists(manifest_name):
            return "OK", f"{manifest_name} present"
        return "WARN", f"{manifest_name} not found: run manage.py collectstatic"

    def document(self) -> dict[str, Any]:
        return {"storage": self.alias, "ok": self.ok, "options": self.options,
                "credentials": self.credentials, "steps": [asdict(s) for s in self.steps]}


class Command(BaseCommand):
    help = ("Diagnose a django-alioss storage: options, credentials (with the STS round trip), "
            "a write/read/URL/delete probe. Exits 1 when a step fails.")
    requires_system_checks: list[str] = []  # they are reported as a step instead

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--storage", default="default", metavar="ALIAS",
                            help="alias in STORAGES (default: default)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--no-probe", action="store_true",
                            help="skip the write/read/URL/delete probe")

    def handle(self, *args: Any, **options: Any) -> None:
        diagnosis = Diagnosis(options["storage"], probe=not options["no_probe"])
        diagnosis.run()
        if options["json"]:
            self.stdout.write(json.dumps(diagnosis.document(), indent=2, default=str))
        else:
            for step in diagnosis.steps:
                line = f"{step.status:<4} {step.step}: {step.detail}"
                style = {"OK": self.style.SUCCESS, "WARN": self.style.WARNING,
                         "FAIL": self.style.ERROR}.get(step.status, str)
                self.stdout.write(style(line))
        if not diagnosis.ok:
            failed = sum(step.status == "FAIL" for step in diagnosis.steps)
            raise CommandError(f"alioss_check: {failed} step(s) failed for storage "
                               f"{diagnosis.alias!r}", returncode=1)
        if not options["json"]:
            self.stdout.write(f"alioss_check: storage {diagnosis.alias!r} OK")
