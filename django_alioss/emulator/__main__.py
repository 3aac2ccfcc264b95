"""``python -m django_alioss.emulator`` (or the ``django-alioss-emulator`` console script):
serve OSS, STS, an OIDC issuer and ECS instance metadata locally.

The first lines on standard output are shell ``export`` lines (flushed before
serving); everything else goes to standard error. The process serves until SIGINT or
SIGTERM and then exits 0. With ``--detach`` it forks like ``ssh-agent``: the parent
prints the export lines (plus ``ALIOSS_EMULATOR_PID``) and exits, so
``eval "$(python -m django_alioss.emulator --detach)"`` sets up the current shell.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .httpserver import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS
from .world import DEFAULT_BUCKET, DEFAULT_REGION

if TYPE_CHECKING:
    from .emulator import Emulator

DEFAULT_PORT = 9300


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_alioss.emulator",
        description="Local Alibaba Cloud OSS + STS + OIDC issuer + ECS instance metadata "
                    "emulator for django-alioss.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"OSS port (default {DEFAULT_PORT}; 0 picks free ports); "
                             "STS, the OIDC issuer and the ECS metadata service take the "
                             "next three unless given")
    parser.add_argument("--sts-port", type=int, default=None, help="STS port (default --port + 1)")
    parser.add_argument("--oidc-port", type=int, default=None,
                        help="OIDC issuer port (default --port + 2)")
    parser.add_argument("--ecs-port", type=int, default=None,
                        help="ECS instance metadata port (default --port + 3)")
    parser.add_argument("--data-dir", default=None,
                        help="keep objects and the token file here across restarts "
                             "(default: in memory)")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET,
                        help=f"bucket to create (default {DEFAULT_BUCKET})")
    parser.add_argument("--region", default=DEFAULT_REGION,
                        help=f"region (default {DEFAULT_REGION})")
    parser.add_argument("--token-lifetime", type=int, default=3600,
                        help="lifetime of the projected OIDC token in seconds (600..43200)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT,
                        help="close a connection idle this many seconds "
                             f"(default {DEFAULT_IDLE_TIMEOUT:g})")
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
                        help="connections served at once per port; more are answered 503 "
                             f"and closed (default {DEFAULT_MAX_CONNECTIONS})")
    parser.add_argument("--no-static-keys", action="store_true",
                        help="export only the RRSA variables, not the RAM user's "
                             "ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (local runs use RRSA alone)")
    parser.add_argument("--account-wide", action="store_true",
                        help="let the seeded user and roles use every bucket and the user "
                             "create and delete buckets (for suites that PutBucket)")
    parser.add_argument("--cdn-auth-type", choices=("A", "B", "C"), default=None,
                        help="also serve the bucket through a CDN edge that checks CDN URL "
                             "authentication of this type (port --port + 4 unless "
                             "--cdn-port); exported as ALIOSS_EMULATOR_CDN_URL")
    parser.add_argument("--cdn-auth-key", default=None,
                        help="the CDN edge's URL authentication key (type C: 16-32 letters "
                             "and digits)")
    parser.add_argument("--cdn-auth-ttl", type=int, default=1800,
                        help="seconds a signed URL is accepted after its timestamp "
                             "(default 1800)")
    parser.add_argument("--cdn-port", type=int, default=None,
                        help="CDN edge port (default --port + 4)")
    parser.add_argument("--admin", action="store_true",
                        help="serve the HTTP control endpoint under <endpoint>/_emulator/")
    parser.add_argument("--detach", action="store_true",
                        help="fork into the background after printing the export lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    return parser


class _StopRequest:
    """Set by SIGINT or SIGTERM. The handler only assigns a flag: a handler that took a
    lock (``threading.Event.set``) could run while the main thread held that very lock
    and deadlock, leaving the emulator deaf to every later signal."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True

    def wait(self) -> None:
        """Sleep until a signal asked to stop (each signal interrupts the sleep)."""
        while not self.requested:
            time.sleep(0.5)


def _stop_on_signals() -> _StopRequest:
    """Installed before anything is printed, so a signal sent as soon as the export lines
    appear still stops the emulator cleanly."""
    stop = _StopRequest()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return stop


def _detach(emulator: Emulator, static_keys: bool) -> int:
    """Fork: the child serves on; the parent waits until the child says it is serving,
    then prints the exports and exits. Returns, in the child, the pipe to say so on
    (:func:`_ready`). So once ``eval`` returns, every listener serves, and a signal
    sent to ``ALIOSS_EMULATOR_PID`` cannot reach the child before Python's after-fork
    bookkeeping (which drops pending signals) has run.
    """
    emulator.token_file.write()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as ready:
            started = ready.read(1) == b"1"
        if not started:
            sys.stderr.write("alioss emulator: the detached emulator did not start\n")
            os._exit(2)
        sys.stdout.write(emulator.export_lines(static_keys))
        sys.stdout.write(f"export ALIOSS_EMULATOR_PID={pid}\n")
        sys.stdout.flush()
        os._exit(0)  # no finalizers: the child owns the sockets and temp dirs now
    os.close(read_end)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    if emulator.data_dir is None:
        os.dup2(devnull, 2)
    else:
        log = os.open(emulator.data_dir / "emulator.log",
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
    return write_end


def _ready(write_end: int) -> None:
    """Tell the waiting parent (see :func:`_detach`) that the emulator serves."""
    os.write(write_end, b"1")
    os.close(write_end)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .emulator import Emulator
    except ImportError as exc:  # the emulator extra is missing: say which, no traceback
        print(f"alioss emulator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        emulator = Emulator(host=args.host, port=args.port, sts_port=args.sts_port,
                            oidc_port=args.oidc_port, ecs_port=args.ecs_port,
                            bucket=args.bucket, region=args.region,
                            data_dir=args.data_dir, admin=args.admin,
                            token_lifetime=args.token_lifetime,
                            idle_timeout=args.idle_timeout,
                            max_connections=args.max_connections,
                            account_wide=args.account_wide,
                            cdn_auth_type=args.cdn_auth_type, cdn_auth_key=args.cdn_auth_key,
                            cdn_auth_ttl=args.cdn_auth_ttl, cdn_port=args.cdn_port)
    except OSError as exc:
        print(f"alioss emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"alioss emulator: {exc}", file=sys.stderr)
        return 2
    stop = _stop_on_signals()
    static_keys = not args.no_static_keys
    if args.detach:
        ready = _detach(emulator, static_keys)
        emulator.start()
        _ready(ready)
    else:
        emulator.start()
        sys.stdout.write(emulator.export_lines(static_keys))
        sys.stdout.flush()
        print(f"# serving {emulator.describe()}; Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    print("# alioss emulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
