"""What a ``collectstatic`` run tells its user, by verbosity.

- 0: nothing;
- 1: a progress line (files done / total, bytes uploaded, unchanged, deleted), redrawn in
  place on a terminal, else printed at most every ``interval`` seconds and once at the
  end; then the summary;
- 2 and more: one line per file (uploading, unchanged, deleting) instead of the progress
  line; then the summary.

Counters may be updated from worker threads; output is written only by the thread that
calls :meth:`Progress.tick`, :meth:`Progress.file` and :meth:`Progress.close` (the
command's). "Total" is every write the run has decided so far: the collected files, then
the hashed copies and the manifest as post-processing produces them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

TTY_INTERVAL = 0.1
"""Seconds between redraws of the progress line on a terminal."""
Writer = Callable[[str, str], None]
"""``write(text, ending)``, as ``OutputWrapper.write(text, ending=...)``."""


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class Progress:
    """Counters of one run and their output."""

    def __init__(self, write: Writer | None = None, verbosity: int = 0, *, tty: bool = False,
                 interval: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._write = write
        self.verbosity = verbosity if write is not None else 0
        self._tty = tty
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._shown = -float("inf") if tty else clock()
        self._drawn = False
        self._lock = threading.Lock()
        self.total = 0
        self.unchanged = 0
        self.uploading = 0
        self.uploaded = 0
        self.uploaded_bytes = 0
        self.deleted = 0
        self.dry_run = False
        self._state: dict[str, str] = {}
        self._uploaded_names: set[str] = set()

    def _emit(self, text: str, ending: str = "\n") -> None:
        if self._write is not None:
            self._write(text, ending)

    # --- counters --------------------------------------------------------------------------
    def decided(self, name: str, *, upload: bool, size: int) -> None:
        """A write of ``name`` decided: to be uploaded (``size`` bytes) or unchanged.

        Counters count files, not writes: post-processing saves some files more than once,
        and a file uploaded once in a run stays counted as uploaded.
        """
        with self._lock:
            previous = self._state.get(name)
            if previous == "upload" or (previous == "unchanged" and not upload):
                shown = upload  # the same again: only another upload is worth a line
            else:
                self._state[name] = "upload" if upload else "unchanged"
                self.total += previous is None
                self.unchanged += (not upload) - (previous == "unchanged")
                self.uploading += upload
                shown = True
        if shown and self.verbosity >= 2:
            if not upload:
                self._emit(f"Unchanged '{name}'")
            else:
                verb = "Pretending to upload" if self.dry_run else "Uploading"
                self._emit(f"{verb} '{name}' ({human_size(size)})")
        self.tick()

    def upload_done(self, name: str, size: int) -> None:
        """An upload of ``name`` finished (any thread)."""
        with self._lock:
            self.uploaded_bytes += size
            if name not in self._uploaded_names:
                self._uploaded_names.add(name)
                self.uploaded += 1

    def deleting(self, name: str) -> None:
        with self._lock:
            self.deleted += 1
        if self.verbosity >= 2:
            self._emit(f"{'Pretending to delete' if self.dry_run else 'Deleting'} '{name}'")

    # --- output ----------------------------------------------------------------------------
    def line(self) -> str:
        with self._lock:
            done = self.unchanged + (self.uploading if self.dry_run else self.uploaded)
            text = (f"{done}/{self.total} files, {human_size(self.uploaded_bytes)} uploaded, "
                    f"{self.unchanged} unchanged")
            if self.deleted:
                text += f", {self.deleted} deleted"
        return text

    def tick(self, *, final: bool = False) -> None:
        """Show the progress line if it is due (always on a terminal, or when ``final``)."""
        if self.verbosity != 1:
            return
        now = self._clock()
        if self._tty and (final or now - self._shown >= TTY_INTERVAL):
            self._emit("\r" + self.line(), "")
            self._drawn = True
            self._shown = now
        elif not self._tty and (final or now - self._shown >= self._interval):
            self._emit(self.line())
            self._shown = now

    def close(self) -> None:
        """The final progress line, ended."""
        self.tick(final=True)
        if self._drawn:
            self._emit("", "\n")
            self._drawn = False

    def summary(self) -> str:
        """Counts and time of the run, one line."""
        seconds = self._clock() - self._started
        with self._lock:
            if self.dry_run:
                written = f"{self.uploading} would be uploaded"
            else:
                written = f"{self.uploaded} uploaded ({human_size(self.uploaded_bytes)})"
            deleted = f", {self.deleted} {'would be ' if self.dry_run else ''}deleted"
            return (f"OSS: {self.total} files checked, {written}, {self.unchanged} unchanged"
                    f"{deleted if self.deleted else ''} in {seconds:.1f} s.")
