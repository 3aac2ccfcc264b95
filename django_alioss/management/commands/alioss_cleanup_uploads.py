"""``manage.py alioss_cleanup_uploads --older-than 24h [--dry-run] [--storage ALIAS]
[--direct-uploads]``.

Unfinished multipart uploads keep their parts (and cost storage) until aborted, and
hide uploads that failed. This aborts those under the storage's ``location`` that
were initiated longer ago than ``--older-than``, listing each one. With
``--direct-uploads`` it also deletes the files browsers uploaded under the
``direct_upload_prefix`` (``DirectUploadField``) that are older than that and that no
model row references: forms that were abandoned after the upload.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...credentials import CredentialsUnavailable
from ...diagnostics import explain, format_age, storage_for_alias
from ...direct_uploads import stale_uploads
from ...exceptions import OSSError
from ...storage import OSSStorage

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d`` -> seconds; CommandError for anything else."""
    match = _AGE.match(text or "")
    if not match:
        raise CommandError(f"--older-than {text!r}: use a number and a unit s, m, h or d "
                           "(e.g. 90s, 30m, 24h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def summary(done: str, count: int, what: str, older: str, dry_run: bool) -> str:
    """``aborted 2 of 4 multipart upload(s) ... older than 24h``, or for a dry run
    ``2 of 4 multipart upload(s) ... are older than 24h (dry run: none aborted)``."""
    if dry_run:
        return f"{count} {what} are {older} (dry run: none {done})"
    return f"{done} {count} {what} {older}"


class Command(BaseCommand):
    help = ("Abort unfinished multipart uploads under a django-alioss storage's location "
            "that are older than --older-than.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, metavar="AGE",
                            help="minimum age of uploads to abort: 90s, 30m, 24h, 7d")
        parser.add_argument("--dry-run", action="store_true",
                            help="list what would be aborted without aborting")
        parser.add_argument("--storage", default="default", metavar="ALIAS",
                            help="alias in STORAGES (default: default)")
        parser.add_argument("--direct-uploads", action="store_true",
                            help="also delete browser uploads under direct_upload_prefix that "
                                 "are older than --older-than and that no model references")

    def handle(self, *args: Any, **options: Any) -> None:
        min_age = parse_age(options["older_than"])
        dry_run = options["dry_run"]
        try:
            storage, _ = storage_for_alias(options["storage"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        prefix = storage.location.rstrip("/") + "/" if storage.location else ""
        where = f"bucket {storage.bucket_name!r}" + (f" under {prefix!r}" if prefix else "")
        seen = stale = aborted = 0
        now = time.time()
        try:
            for upload in storage.client.iter_multipart_uploads(prefix):
                seen += 1
                age = now - upload.initiation_date
                if age < min_age:
                    continue
                stale += 1
                verb = "would abort" if dry_run else "aborting"
                self.stdout.write(f"{verb} {upload.key} upload {upload.upload_id} "
                                  f"(age {format_age(age)})")
                if not dry_run and self.abort(storage, upload):
                    aborted += 1
        except (OSSError, CredentialsUnavailable) as exc:
            raise CommandError(f"{explain(exc, storage)} ({aborted} upload(s) aborted "
                               "before the failure)") from None
        older = f"older than {options['older_than'].strip()}"
        what = f"of {seen} multipart upload(s) in {where}"
        self.stdout.write(self.style.SUCCESS(
            summary("aborted", stale if dry_run else aborted, what, older, dry_run)))
        if options["direct_uploads"]:
            self.delete_direct_uploads(storage, min_age, dry_run, older)

    def abort(self, storage: OSSStorage, upload: Any) -> bool:
        """Abort one upload; False when it had already gone (completed or aborted)."""
        try:
            storage.client.abort_multipart(upload.key, upload.upload_id)
        except OSSError as exc:
            if exc.code != "NoSuchUpload":
                raise
            self.stdout.write(f"  {upload.upload_id} had already gone")
            return False
        return True

    def delete_direct_uploads(self, storage: OSSStorage, min_age: float, dry_run: bool,
                              older: str) -> None:
        """Delete (``dry_run``: list) the browser uploads no model row references."""
        now = time.time()
        found = deleted = 0
        try:
            for _, listed in stale_uploads(storage, min_age, now):
                found += 1
                verb = "would delete" if dry_run else "deleting"
                self.stdout.write(f"{verb} {listed.key} (browser upload not attached, age "
                                  f"{format_age(now - listed.last_modified)})")
                if not dry_run:
                    storage.client.delete_object(listed.key)
                    deleted += 1
        except (OSSError, CredentialsUnavailable) as exc:
            raise CommandError(f"{explain(exc, storage)} ({deleted} browser upload(s) deleted "
                               "before the failure)") from None
        what = f"unattached browser upload(s) under {storage.direct_upload_prefix.strip('/')!r}"
        self.stdout.write(self.style.SUCCESS(
            summary("deleted", found if dry_run else deleted, what, older, dry_run)))
