"""The one-command demo: the example site on OSS with RRSA credentials, all local.

    python3 -m venv .venv && .venv/bin/pip install -e '.[demo]'
    .venv/bin/python example_project/run_demo.py [--port 8000]

In one process it starts the emulator (OSS + STS + OIDC issuer) with a persistent data
directory, puts its environment in ``os.environ`` (without static keys: credentials
must come from RRSA, i.e. AssumeRoleWithOIDC with the emulator's projected token
file), migrates, runs collectstatic (into OSS), lets the site's origin POST to the
bucket (``alioss_cors set``: the admin's attachments upload from the browser straight
to OSS), creates the ``admin`` superuser if
missing and prints its login, prints the active credential source, and serves the
site with ``runserver`` (no autoreload) on http://127.0.0.1:8000. Ctrl-C (or
SIGTERM) stops it all, with exit status 0; nothing is left running. The next run
keeps the uploads: objects and the SQLite database stay in the data directory.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / ".alioss-data"
ADMIN_USERNAME = "admin"
PASSWORD_FILE = "demo-admin-password"
#: The emulator also offers static keys; the demo leaves them out so that RRSA is used.
STATIC_KEY_VARIABLES = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port of the site (8000)")
    parser.add_argument("--emulator-port", type=int, default=0,
                        help="OSS port of the emulator; STS and OIDC take the next two "
                             "(default 0: free ports)")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help=f"objects and database live here (default {DEFAULT_DATA_DIR})")
    return parser


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the demo the way Ctrl-C does."""
    raise KeyboardInterrupt


def say(text: str = "") -> None:
    print(text, flush=True)


def ensure_superuser(data_dir: Path) -> tuple[str, str]:
    """Create ``admin`` with a random password (kept in the data dir) unless it exists;
    return the login to print. ``DEMO_ADMIN_PASSWORD`` chooses the first password."""
    from django.contrib.auth import get_user_model

    password_file = data_dir / PASSWORD_FILE
    user_model = get_user_model()
    if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
        user_model.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        return ADMIN_USERNAME, password
    if password_file.exists():
        return ADMIN_USERNAME, password_file.read_text().strip()
    return ADMIN_USERNAME, "(set earlier: python example_project/manage.py changepassword admin)"


def credential_summary() -> dict[str, Any]:
    """Fetch the default storage's credentials (the STS round trip) and describe them."""
    from django.core.files.storage import default_storage

    provider = default_storage.credentials
    provider.snapshot()
    return provider.describe()


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (checked before any work).

    SO_REUSEADDR as runserver sets it: connections of a previous run in TIME_WAIT do
    not count, a listener does."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if port_in_use(args.host, args.port):
        say(f"Port {args.port} on {args.host} is already in use: stop what uses it or pass "
            "--port N.")
        return 1
    data_dir = Path(args.data_dir).resolve()
    for path in (str(HERE), str(HERE.parent)):  # the project; django_alioss from a checkout
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ["EXAMPLE_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    from django_alioss.emulator import Emulator

    emulator = Emulator(data_dir=data_dir, port=args.emulator_port)
    emulator.start()
    try:
        env = {k: v for k, v in emulator.env().items() if k not in STATIC_KEY_VARIABLES}
        for name in STATIC_KEY_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(env)
        # The admin's Attachment form uploads from this site's pages straight to the
        # bucket: the bucket's CORS rules must let these origins POST.
        origins = [f"http://{args.host}:{args.port}", f"http://localhost:{args.port}"]
        os.environ["ALIOSS_DIRECT_UPLOAD_ORIGINS"] = ",".join(origins)
        say(f"Emulator: {emulator.describe()}; data in {data_dir}")
        say("Environment (eval these in another shell to run manage.py against the demo):")
        for name, value in env.items():
            say(f"export {name}={shlex.quote(value)}")

        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        say("Database migrated.")
        call_command("collectstatic", interactive=False, verbosity=1)
        call_command("alioss_cors", "set")  # the origins of ALIOSS_DIRECT_UPLOAD_ORIGINS

        credentials = credential_summary()
        say(f"Credentials: {credentials['source']} (role {credentials['role_arn']}, OIDC token "
            f"file {credentials['oidc_token_file']}, STS {credentials['sts_endpoint']}); "
            f"AccessKey {credentials['access_key_id']}, expires {credentials['expiration']}")
        if credentials["source"] != "rrsa":
            say(f"The demo expects RRSA credentials, got {credentials['source']}: "
                f"{credentials['why']}")
            return 1

        username, password = ensure_superuser(data_dir)
        say(f"Admin login: {username} / {password}")
        say(f"Site: http://{args.host}:{args.port}/   admin: http://{args.host}:{args.port}/admin/"
            "   (Ctrl-C stops)")
        call_command("runserver", f"{args.host}:{args.port}", use_reloader=False,
                     use_threading=True)
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # runserver exits 0 on Ctrl-C, 1 when it cannot listen
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        emulator.stop()
        say("Demo stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
