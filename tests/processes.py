"""Helpers for tests that run a command as a child process (emulator command, demo).

Each child starts in its own session (process group), so a test can check that
nothing of it is left once it exited; its standard error goes to a log file (reading
a pipe nobody drains could block the child).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Child:
    """A child process with its stdout read line by line and stderr in ``log_path``."""

    def __init__(self, argv: Sequence[str], *, log_path: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.lines: list[str] = []
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), full_env.get("PYTHONPATH", "")) if p)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True)
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """Everything the child wrote to stderr so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace")

    def read_until(self, done: Callable[[list[str]], bool], timeout: float) -> list[str]:
        """Read stdout lines until ``done(lines)`` is true; AssertionError on timeout or exit."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while not done(self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out; stdout so far {self.lines!r}; "
                                         f"stderr:\n{self.log()[-3000:]}")
                if not selector.select(remaining):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"child exited ({self.proc.wait()}) early; stdout "
                                         f"{self.lines!r}; stderr:\n{self.log()[-3000:]}")
                self._buffer += chunk
                *complete, self._buffer = self._buffer.split(b"\n")
                self.lines.extend(line.decode(errors="replace") for line in complete)
        return self.lines

    def interrupt(self, timeout: float = 30.0, sig: int = signal.SIGINT) -> int:
        """Send ``sig`` (Ctrl-C by default) and wait for the exit status."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the exit status; the rest of stdout is added to ``lines``."""
        try:
            status = self.proc.wait(timeout)
            self._drain()
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._log.close()
        return status

    def _drain(self, timeout: float = 5.0) -> None:
        stdout = self.proc.stdout
        if stdout is None or stdout.closed:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while selector.select(timeout):
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    break
                self._buffer += chunk
        lines = self._buffer.split(b"\n")
        self._buffer = b""
        self.lines.extend(line.decode(errors="replace") for line in lines if line)

    def kill(self) -> None:
        """Last resort for a failed test: kill the child's whole process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.wait(10)
        else:
            self.wait(1)


def group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid`` (Linux /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry))
    return members


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python() -> str:
    return sys.executable
