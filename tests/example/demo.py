"""Run ``example_project/run_demo.py`` as a child process, for the demo and browser tests."""

from __future__ import annotations

import re
import shlex
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django_alioss.storage import OSSStorage

from ..processes import REPO, Child, free_port, group_members, python

DEMO = REPO / "example_project" / "run_demo.py"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Demo:
    """A running demo: its URL, admin login and exported environment."""

    child: Child
    port: int
    password: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def storage(self) -> OSSStorage:
        """The demo's media storage, reached from this process with RRSA like the demo."""
        env = self.env
        return OSSStorage(
            endpoint=env["ALIOSS_ENDPOINT"], bucket_name=env["ALIOSS_BUCKET_NAME"],
            region=env["ALIOSS_REGION"], sts_endpoint=env["ALIOSS_STS_ENDPOINT"],
            role_arn=env["ALIBABA_CLOUD_ROLE_ARN"],
            oidc_provider_arn=env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"],
            oidc_token_file=env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"], rrsa_fallback=False,
            location="media")

    def stop(self) -> int:
        """Ctrl-C; the exit status. Asserts that no process of the demo is left."""
        status = self.child.interrupt(timeout=60)
        assert group_members(self.child.pid) == [], "the demo left processes behind"
        return status


def start_demo(data_dir: Path, log_dir: Path, port: int | None = None,
               timeout: float = 120) -> Demo:
    """Start the demo (on a free port unless given) and wait until its site answers."""
    port = port or free_port()
    child = Child([python(), str(DEMO), "--port", str(port), "--data-dir", str(data_dir)],
                  cwd=log_dir, log_path=log_dir / f"demo-{port}.log")
    demo = Demo(child, port)
    try:
        # The demo's own last line before runserver (Django's banner changes between
        # versions: 6.1 says "Starting WSGI development server").
        lines = child.read_until(lambda ls: any(line.startswith("Site: http://")
                                                for line in ls), timeout=timeout)
        for line in lines:
            if line.startswith("Admin login: admin / "):
                demo.password = line.removeprefix("Admin login: admin / ")
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                demo.env[name] = shlex.split(value)[0]
        wait_for(demo.url, timeout=30)
    except BaseException:
        child.kill()
        raise
    return demo


def wait_for(url: str, timeout: float) -> None:
    """Poll ``url`` until it answers (runserver prints its banner before listening)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def object_name(signed_url: str) -> str:
    """The storage name (relative to location ``media``) of a signed URL of the demo."""
    path = unquote(urlsplit(signed_url).path)
    _, _bucket, key = path.split("/", 2)
    return key.removeprefix("media/")
