"""``manage.py collectstatic`` into OSS: unchanged files skipped by content, the rest
uploaded in parallel, with progress.

Django runs the ``collectstatic`` of the first app in ``INSTALLED_APPS`` that has one, so
this command runs only when ``"django_alioss"`` is listed before
``"django.contrib.staticfiles"`` (the system check ``django_alioss.W003`` says so
otherwise). It is Django's command, with the same options and output, plus:

- for an ``OSSStaticStorage`` (``OSSManifestStaticStorage``, or a subclass of either) as
  the ``staticfiles`` storage, the run goes through a
  :class:`~django_alioss.collect.CollectSession`: one listing of the storage's prefix
  decides which files already hold the same bytes (by content, never by modification
  time), changed files upload on ``collectstatic_concurrency`` threads, and the
  deletes and re-saves of post-processing cost nothing when nothing changed;
- a progress line at verbosity 1, a line per file at 2 and more, and a summary with
  counts and time (nothing at 0).

Any other storage gets Django's command unchanged. ``--clear`` deletes every object under
the storage's location before collecting (one listing, parallel deletes); ``--dry-run``
changes nothing (it lists, to say what would be uploaded); ``--link`` is refused, as Django
refuses it for every remote storage.
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.management.commands import collectstatic
from django.core.files.storage import Storage
from django.core.management.base import CommandError

from ...collect import CollectSession, Outcome, Progress
from ...diagnostics import explain
from ...exceptions import OSSError
from ...storage import OSSStaticStorage


class Command(collectstatic.Command):
    help = ("Collect static files in a single location; into OSS, unchanged files are "
            "skipped (by content) and the others uploaded in parallel.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: CollectSession | None = None
        self._summary = ""

    def _write(self, text: str, ending: str) -> None:
        self.stdout.write(text, ending=ending)

    def collect(self) -> dict[str, list[str]]:
        storage = self.storage
        if not isinstance(storage, OSSStaticStorage):
            return super().collect()
        progress = Progress(self._write, self.verbosity, tty=self.stdout.isatty())
        try:
            with storage.collecting(dry_run=self.dry_run, progress=progress) as session:
                self._session = session
                try:
                    collected: dict[str, list[str]] = super().collect()
                finally:
                    self._session = None
        except OSSError as error:
            raise CommandError(f"collectstatic: {explain(error, storage)}") from None
        self._summary = progress.summary()
        return collected

    def handle(self, **options: Any) -> str | None:
        result: str | None = super().handle(**options)
        if self._summary and self.verbosity >= 1:
            return f"{result}\n{self._summary}" if result else self._summary
        return result

    def clear_dir(self, path: str) -> None:
        """``--clear``: every object under the storage's location, deleted now (counted
        in Django's summary from Django 6.0 on, as Django's own clear_dir does)."""
        if self._session is None:
            super().clear_dir(path)
            return
        deleted = self._session.clear()
        deleted_files = getattr(self, "deleted_files", None)
        if isinstance(deleted_files, list):
            deleted_files.extend(deleted)

    def copy_file(self, path: str, prefixed_path: str, source_storage: Storage) -> None:
        """Upload ``path`` unless the object already holds the same bytes."""
        if self._session is None:
            super().copy_file(path, prefixed_path, source_storage)
            return
        if prefixed_path in self.copied_files or prefixed_path in self.unmodified_files:
            self.log(f"Skipping '{path}' (already copied earlier)")
            return
        outcome = self._session.copy(prefixed_path, source_storage, path)
        if outcome is Outcome.UNCHANGED:
            self.unmodified_files.append(prefixed_path)
            return
        if outcome is Outcome.PRETEND:
            self.log(f"Pretending to copy '{path}'", level=1)
        self.copied_files.append(prefixed_path)
