"""One ``collectstatic`` run against one static storage.

While a :class:`CollectSession` is active, the storage answers ``exists``, ``delete``,
``_save`` and ``_open`` through it (``OSSStaticStorage``), so the writes and deletes of
``collectstatic`` and of ``ManifestFilesMixin``'s post-processing cost no request unless
something changed:

- ``exists(name)``: from one listing of the prefix and what this run wrote or deleted;
- ``save(name, content)``: uploaded only when the object does not already hold these
  bytes (:mod:`.remote`); uploads below the multipart threshold run on a pool of
  ``workers`` threads (at most ``memory_budget`` bytes queued), larger ones stream on the
  caller's thread (multipart, itself parallel). Writes of one key keep their order.
  Content already in memory (``ContentFile``: the files post-processing rewrites) is
  held back until the manifest is written or the run ends (at most ``hold_budget``
  bytes), so the intermediate version one pass writes and the next deletes is never
  sent;
- ``delete(name)``: deferred to :meth:`CollectSession.finish`, and dropped when the same
  name is saved again (Django deletes then re-saves every hashed file and the
  manifest), so an unchanged file costs nothing;
- ``_open(name)`` of a collected file reads the local source, not the copy in OSS;
- a write of the manifest (``barrier=True``) first waits until every other upload
  succeeded, so ``staticfiles.json`` never names a file that is not there.

Failures: the first failed upload fails the run with :class:`CollectFailed` naming the
file (at the next write, or at :meth:`finish`); queued uploads are cancelled, nothing is
deleted, the manifest is not written. Each object is written whole or not at all (one
PutObject, or a multipart upload completed or aborted).
"""

from __future__ import annotations

import enum
import io
import logging
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.management.base import CommandError

from ..diagnostics import explain
from .progress import Progress
from .remote import RemoteIndex
from .stored import StoredBody, prepare

if TYPE_CHECKING:
    from django.core.files.base import File
    from django.core.files.storage import Storage

    from ..storage import OSSStorage

logger = logging.getLogger("django_alioss")

MiB = 1024 * 1024
WAIT_TICK = 1.0
"""Seconds between progress lines while waiting for uploads."""


class Outcome(enum.Enum):
    """What became of one write."""

    UPLOAD = "upload"
    """Sent (or queued; :meth:`CollectSession.finish` waits for it)."""
    UNCHANGED = "unchanged"
    """The object already holds these bytes: nothing sent."""
    PRETEND = "pretend"
    """Dry run: it would be uploaded."""


class CollectFailed(CommandError):
    """Uploads or deletes of a ``collectstatic`` run failed; the message names the files."""


class _Budget:
    """Bytes of queued uploads: ``acquire`` waits while ``limit`` would be exceeded (a
    body larger than ``limit`` waits until nothing else is queued)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._free = limit
        self._changed = threading.Condition()

    def acquire(self, size: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._free >= min(size, self._limit))
            self._free -= size

    def release(self, size: int) -> None:
        with self._changed:
            self._free += size
            self._changed.notify_all()


class CollectSession:
    """The state of one run; see the module documentation."""

    def __init__(self, storage: OSSStorage, *, workers: int, dry_run: bool = False,
                 progress: Progress | None = None, memory_budget: int | None = None,
                 hold_budget: int = 64 * MiB) -> None:
        self.storage = storage
        self.dry_run = dry_run
        self.progress = progress or Progress()
        self.progress.dry_run = dry_run
        location = storage.location.strip("/")
        self.index = RemoteIndex(storage.client, f"{location}/" if location else "")
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="alioss-collect")
        self._budget = _Budget(memory_budget or max(4 * storage.multipart_threshold, 64 * MiB))
        self._lock = threading.Lock()
        self._inflight: dict[str, tuple[str, Future[None]]] = {}
        self._written: dict[str, str] = {}
        self._deleted: dict[str, str] = {}
        self._sources: dict[str, tuple[Storage, str]] = {}
        self._held: dict[str, tuple[str, StoredBody]] = {}
        self._held_bytes = 0
        self._hold_budget = hold_budget
        self._failures: list[tuple[str, BaseException]] = []
        self._closed = False

    # --- what the storage asks ----------------------------------------------------------------
    def exists(self, name: str) -> bool:
        key = self.storage.object_key(name)
        if key in self._deleted:
            return False
        return key in self._held or key in self._written or self.index.get(key) is not None

    def delete(self, name: str) -> None:
        """Delete ``name``: a held write is dropped; an object in OSS is deleted when the
        run finishes, unless the name is saved again before."""
        key = self.storage.object_key(name)
        if not self.exists(name):
            return
        self._sources.pop(key, None)
        self._drop_held(key)
        if key in self._written or self.index.get(key) is not None:
            self._deleted[key] = name

    def save(self, name: str, content: Any, *, barrier: bool = False) -> Outcome:
        """Write ``content`` under ``name`` unless the object already holds it.

        Content already in memory (``ContentFile``: what post-processing produces) is held
        back until :meth:`flush` (at most ``hold_budget`` bytes, the oldest sent first), so
        that a file written by one pass and deleted by the next is never sent. With
        ``barrier``, every earlier write must have succeeded first (the manifest).
        """
        key = self.storage.object_key(name)
        self.raise_failures()
        if barrier:
            self.flush()
        body = prepare(self.storage, name, content)
        self._deleted.pop(key, None)
        self._drop_held(key)
        if self._stored(key, body):
            self.progress.decided(name, upload=False, size=body.size)
            return Outcome.UNCHANGED
        self._sources.pop(key, None)
        if (isinstance(content, ContentFile) and body.data is not None and not barrier
                and not self.dry_run):
            self._hold(name, key, body)
            return Outcome.UPLOAD
        return self._send(name, key, body)

    def _stored(self, key: str, body: StoredBody) -> bool:
        """Whether OSS holds (or this run's queued upload will leave) ``body`` at ``key``."""
        if key in self._written:
            return self._written[key] == body.md5
        return self.index.holds(key, body.md5, body.size)

    def _send(self, name: str, key: str, body: StoredBody) -> Outcome:
        self._written[key] = body.md5
        self.progress.decided(name, upload=True, size=body.size)
        if self.dry_run:
            return Outcome.PRETEND
        self._wait_key(key)
        if body.data is None:
            self._upload_now(name, key, body)
        else:
            self._submit_upload(name, key, body)
        return Outcome.UPLOAD

    def _hold(self, name: str, key: str, body: StoredBody) -> None:
        self._held[key] = (name, body)
        self._held_bytes += body.size
        while self._held_bytes > self._hold_budget:
            self._release(next(iter(self._held)))

    def _drop_held(self, key: str) -> tuple[str, StoredBody] | None:
        held = self._held.pop(key, None)
        if held is not None:
            self._held_bytes -= held[1].size
        return held

    def _release(self, key: str) -> None:
        """Send the held write of ``key`` now."""
        held = self._drop_held(key)
        if held is not None:
            self._send(held[0], key, held[1])

    def copy(self, name: str, source: Storage, path: str) -> Outcome:
        """Save the collected file ``path`` of ``source`` as ``name``; later reads of
        ``name`` in this run read ``source``."""
        with source.open(path) as content:
            outcome = self.save(name, content)
        self._sources[self.storage.object_key(name)] = (source, path)
        return outcome

    def open_local(self, name: str) -> File | None:
        """The local source of ``name`` when this run collected it (else None)."""
        found = self._sources.get(self.storage.object_key(name))
        if found is None:
            return None
        source, path = found
        return source.open(path)

    def wait_for(self, name: str) -> None:
        """Send the held write of ``name`` (if any) and wait until its upload is done."""
        key = self.storage.object_key(name)
        self._release(key)
        self._wait_key(key)
        self.raise_failures()

    # --- uploads ------------------------------------------------------------------------------
    def _upload(self, name: str, key: str, body: StoredBody) -> None:
        if body.data is not None:
            stream = io.BytesIO(body.data)
            self.storage.uploader.upload(key, stream, body.size, body.headers,
                                         rewind=lambda: stream.seek(0))
        else:
            assert body.stream is not None
            sized = body.size if "Content-Encoding" not in body.headers else None
            self.storage.uploader.upload(key, body.stream(), sized, body.headers)
        self.progress.upload_done(name, body.size)

    def _upload_now(self, name: str, key: str, body: StoredBody) -> None:
        try:
            self._upload(name, key, body)
        except Exception as error:
            self._fail(name, error)
            self.raise_failures()

    def _submit_upload(self, name: str, key: str, body: StoredBody) -> None:
        self._budget.acquire(body.size)
        future = self._executor.submit(self._upload, name, key, body)
        with self._lock:
            self._inflight[key] = (name, future)

        def done(finished: Future[None]) -> None:
            # The failure is recorded before the upload stops counting as in flight, so
            # flush() cannot see "nothing in flight, nothing failed" in between.
            if not finished.cancelled() and finished.exception() is not None:
                self._fail(name, finished.exception())
            with self._lock:
                if self._inflight.get(key, (None, None))[1] is finished:
                    del self._inflight[key]
            self._budget.release(body.size)

        future.add_done_callback(done)

    def _wait_key(self, key: str) -> None:
        with self._lock:
            pending = self._inflight.get(key)
        if pending is not None:
            wait([pending[1]])

    def _fail(self, name: str, error: BaseException | None) -> None:
        error = error or RuntimeError("unknown error")
        logger.error("collectstatic: writing %r to OSS failed: %s", name, error)
        with self._lock:
            self._failures.append((name, error))

    def raise_failures(self) -> None:
        """Raise :class:`CollectFailed` naming the failed files, if any failed."""
        with self._lock:
            failures = list(self._failures)
        if failures:
            name, error = failures[0]
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise CollectFailed(f"writing '{name}' to OSS failed: {explain(error, self.storage)}"
                                f"{more}")

    def flush(self) -> None:
        """Send every held write and wait for every upload; raise :class:`CollectFailed`
        if one failed."""
        while self._held:
            self._release(next(iter(self._held)))
        while True:
            with self._lock:
                futures = [future for _, future in self._inflight.values()]
            if not futures:
                break
            wait(futures, timeout=WAIT_TICK, return_when=FIRST_EXCEPTION)
            self.progress.tick()
            self.raise_failures()
        self.raise_failures()

    # --- clearing and the end -------------------------------------------------------------------
    def clear(self) -> list[str]:
        """Delete every object under the storage's prefix now (``--clear``); return their
        names."""
        prefix = self.index.prefix
        names = {key: key[len(prefix):] for key in self.index.objects()}
        for name in names.values():
            self.progress.deleting(name)
        if not self.dry_run:
            self._delete_keys(names)
        for key in names:
            self.index.forget(key)
        return list(names.values())

    def _delete_keys(self, names: dict[str, str]) -> None:
        futures = {self._executor.submit(self.storage.client.delete_object, key): name
                   for key, name in names.items()}
        wait(futures)
        for future, name in futures.items():
            if future.exception() is not None:
                self._fail(name, future.exception())
        self.raise_failures()

    def finish(self) -> None:
        """Wait for the uploads, then run the deferred deletes; raise if anything failed."""
        try:
            self.flush()
            doomed = {key: name for key, name in self._deleted.items()
                      if key in self._written or self.index.get(key) is not None}
            for name in doomed.values():
                self.progress.deleting(name)
            if doomed and not self.dry_run:
                self._delete_keys(doomed)
        finally:
            self.close()

    def abort(self) -> None:
        """Stop: cancel queued uploads, wait for running ones, delete nothing."""
        self.close(cancel=True)

    def close(self, *, cancel: bool = False) -> None:
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True, cancel_futures=cancel)
            self.progress.close()
