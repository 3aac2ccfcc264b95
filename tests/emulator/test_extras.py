"""PyJWT and cryptography come with the ``emulator`` extra: without them, importing the
emulator (or running its CLI) says which extra to install. Each case runs in a fresh
interpreter where the module is made unimportable (``sys.modules[name] = None``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from django_alioss.emulator.extras import INSTALL_HINT

ROOT = Path(__file__).resolve().parents[2]


def _run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    script = f"import sys\nsys.modules[{module!r}] = None\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


@pytest.mark.parametrize("module", ["jwt", "cryptography"])
def test_importing_the_emulator_names_the_extra(module: str) -> None:
    done = _run_without(module, """
        try:
            from django_alioss.emulator import Emulator
        except ImportError as exc:
            print(exc)
            print("name:", exc.name)
        else:
            print("imported")
    """)
    assert done.returncode == 0, done.stderr
    assert INSTALL_HINT in done.stdout
    assert f"({module} is missing)" in done.stdout
    assert f"name: {module}" in done.stdout


@pytest.mark.parametrize("module", ["jwt", "cryptography"])
def test_cli_names_the_extra_without_a_traceback(module: str) -> None:
    done = _run_without(module, """
        from django_alioss.emulator.__main__ import main
        sys.exit(main(["--port", "0"]))
    """)
    assert done.returncode == 2
    assert INSTALL_HINT in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_package_plugin_and_cli_parser_load_without_the_extra() -> None:
    done = _run_without("jwt", """
        import django_alioss.emulator
        import django_alioss.emulator.pytest_plugin
        from django_alioss.emulator.__main__ import build_parser
        print(build_parser().parse_args(["--port", "0"]).port)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
