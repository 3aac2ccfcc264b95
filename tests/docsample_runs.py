"""The shell commands of the documentation's samples and the real output its ``text`` blocks
are compared with (used by tests/test_doc_samples.py; the rules are in docsamples.py)."""

from __future__ import annotations

import argparse
import configparser
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from django_alioss.emulator.__main__ import build_parser as emulator_parser

from .docsamples import ROOT
from .processes import Child, python

PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
OPTION = re.compile(r"(?<![\w-])--?[a-zA-Z][\w-]*")


def run_manage(command: str, *args: str) -> str:
    """A management command through ``call_command``; its output (CommandError fails)."""
    out = io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=io.StringIO(), no_color=True)
    except CommandError as exc:
        raise AssertionError(f"manage.py {command} failed: {exc}\n{out.getvalue()}") from None
    return out.getvalue()


def parser_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and of its sub-commands."""
    found = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= parser_options(sub) | {name}
    return found


def command_parser(name: str) -> argparse.ArgumentParser:
    app = get_commands()[name]
    return load_command_class(app, name).create_parser("manage.py", name)


def help_text(script: Path) -> str:
    result = subprocess.run([python(), str(script), "--help"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- commands blocks: one rule per kind of command -------------------------------------------
def check_venv(match: re.Match[str], tmp_path: Path) -> None:
    assert importlib.util.find_spec("venv") is not None


def check_pip_install(match: re.Match[str], tmp_path: Path) -> None:
    target = match.group("target").strip("'\"")
    assert target.startswith("."), target  # from a checkout: not on PyPI yet
    extras = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
    assert extras, target
    section = PYPROJECT.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    for extra in filter(None, (extras.group(1) or "").split(",")):
        assert re.search(rf"^{re.escape(extra)} = \[", section, re.M), extra


def check_python_file(match: re.Match[str], tmp_path: Path) -> None:
    script = ROOT / match.group("file")
    assert script.is_file(), script
    text = help_text(script)
    for option in OPTION.findall(match.group("args")):
        assert option in text, f"{option} is not an option of {script.name}"


def check_script(match: re.Match[str], tmp_path: Path) -> None:
    script = ROOT / "scripts" / match.group("name")
    assert script.is_file() and os.access(script, os.X_OK), script
    args = shlex.split(match.group("args"))
    if args[:1] == ["-m"]:
        for word in re.findall(r"\w+", args[1]):
            assert word in ("not", "and", "or") or f'"{word}:' in PYPROJECT, word


def check_pytest(match: re.Match[str], tmp_path: Path) -> None:
    for arg in shlex.split(match.group("args")):
        if not arg.startswith("-"):
            assert (ROOT / arg).exists(), arg


def check_tox(match: re.Match[str], tmp_path: Path) -> None:
    ini = configparser.ConfigParser()
    ini.read(ROOT / "tox.ini")
    assert ini.has_section("tox")
    for env in re.findall(r"-e (\S+)", match.group("args")):
        assert ini.has_section(f"testenv:{env}") or env in ini["tox"].get("env_list", ""), env


def run_manage_py(match: re.Match[str], tmp_path: Path) -> None:
    command, args = match.group("cmd"), shlex.split(match.group("args"))
    if command == "alioss_emulator":
        run_emulator([python(), "-m", "django", command, "--settings", "tests.settings", *args],
                     tmp_path)
    else:
        run_manage(command, *args)


def run_emulator_cli(match: re.Match[str], tmp_path: Path) -> None:
    run_emulator([python(), "-m", "django_alioss.emulator", *shlex.split(match.group("args"))],
                 tmp_path)


def run_emulator(argv: list[str], tmp_path: Path) -> None:
    """Start an emulator command on free ports, read its exports, stop it (status 0)."""
    if "--port" not in argv:
        argv = [*argv, "--port", "0"]
    child = Child(argv, cwd=tmp_path, log_path=tmp_path / "emulator.log")
    try:
        lines = child.read_until(
            lambda lines: any("ALIOSS_EMULATOR_ACCOUNT_ID=" in line for line in lines), 60)
        assert any(line.startswith("export ALIOSS_ENDPOINT=http://127.0.0.1:") for line in lines)
        assert child.interrupt() == 0, child.log()
    finally:
        child.kill()


COMMAND_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], Path], None]]] = [
    (re.compile(r"python3 -m venv \.venv"), check_venv),
    (re.compile(r"(?:\.venv/bin/)?pip install (?:-e )?(?P<target>\S+)"), check_pip_install),
    (re.compile(r"(?:\.venv/bin/)?python (?P<file>(?:example_project|benchmarks|scripts)/"
                r"[\w/]+\.py)(?P<args>.*)"), check_python_file),
    (re.compile(r"\./scripts/(?P<name>[\w-]+)(?P<args>.*)"), check_script),
    (re.compile(r"(?:\.venv/bin/)?python -m pytest(?P<args>.*)"), check_pytest),
    (re.compile(r"tox(?P<args>.*)"), check_tox),
    (re.compile(r"python manage\.py (?P<cmd>\w+)(?P<args>.*)"), run_manage_py),
    (re.compile(r"(?:python -m django_alioss\.emulator|django-alioss-emulator)(?P<args>.*)"),
     run_emulator_cli),
]


def run_command(command: str, tmp_path: Path) -> str:
    """Run or check one command of a ``commands`` block; the name of the rule used."""
    for pattern, rule in COMMAND_RULES:
        match = pattern.fullmatch(command)
        if match:
            rule(match, tmp_path)
            return rule.__name__
    raise AssertionError(f"no command rule matches {command!r} (tests/docsample_runs.py)")


# --- synopsis blocks -------------------------------------------------------------------------
def synopsis_lines(text: str) -> list[str]:
    """Usage lines: ``\\`` continuations and lines starting with ``[`` joined."""
    lines: list[str] = []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = re.sub(r"\s#.*$", "", line).strip()
        if line.startswith("[") and lines:
            lines[-1] += " " + line
        elif line:
            lines.append(line)
    return lines


def check_synopsis(line: str) -> None:
    manage = re.match(r"python manage\.py (\w+)", line)
    emulator = re.match(r"python -m django_alioss\.emulator", line)
    if manage:
        options = parser_options(command_parser(manage.group(1)))
    elif emulator:
        options = parser_options(emulator_parser())
    elif line.startswith("django-alioss-emulator"):
        assert ('\ndjango-alioss-emulator = "django_alioss.emulator.__main__:main"\n'
                in PYPROJECT)
        return
    else:
        raise AssertionError(f"no synopsis rule for {line!r}")
    prefix = manage or emulator
    for option in OPTION.findall(line[prefix.end():]):
        assert option in options, f"{option} is not an option of {prefix.group(0)}"


# --- run blocks ------------------------------------------------------------------------------
PROJECT_SETTINGS = """
from tests.settings import *  # noqa: F403

DEBUG = True  # the emulator speaks http
STORAGES = {
    "default": {"BACKEND": "django_alioss.storage.OSSStorage", "OPTIONS": {"location": "media"}},
    "staticfiles": {"BACKEND": "django_alioss.storage.OSSManifestStaticStorage",
                    "OPTIONS": {"location": "static", "default_acl": "public-read"}},
}
"""
MANAGE_PY = """import sys
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""


def run_block(text: str, tmp_path: Path) -> str:
    """Run a shell block with bash in ``tmp_path`` (a project with manage.py); its output."""
    (tmp_path / "docproject_settings.py").write_text(PROJECT_SETTINGS)
    (tmp_path / "manage.py").write_text(MANAGE_PY)
    script = re.sub(r"((?:django_alioss\.emulator|manage\.py alioss_emulator)(?![^\n]*--port))",
                    r"\1 --port 0", text)
    prologue = ('trap \'[ -n "${ALIOSS_EMULATOR_PID:-}" ] && kill "$ALIOSS_EMULATOR_PID" '
                "2>/dev/null; true' EXIT\nset -euo pipefail\n")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ALIOSS_", "ALIBABA_CLOUD_", "DJANGO_SETTINGS_MODULE"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
               DJANGO_SETTINGS_MODULE="docproject_settings")
    result = subprocess.run(["bash", "-c", prologue + script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout


# --- real output -----------------------------------------------------------------------------
OSS = "django_alioss.storage.OSSStorage"


def check_output(emu: Any, monkeypatch: Any, options: dict[str, Any], *args: str,
                 env: dict[str, str | None] | None = None) -> str:
    """``alioss_check`` (exit status ignored) for a default storage with ``options``, the
    emulator's variables in the environment, changed by ``env`` (None: unset)."""
    from django.test import override_settings

    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    for name, change in (env or {}).items():
        if change is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, change)
    emu.token_file.write()
    storages = {"default": {"BACKEND": OSS, "OPTIONS": options},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage."
                                           "StaticFilesStorage"}}
    out = io.StringIO()
    with override_settings(STORAGES=storages, DEBUG=True):
        try:
            call_command("alioss_check", *args, stdout=out, stderr=io.StringIO(),
                         no_color=True)
        except CommandError as exc:
            out.write(f"\nCommandError: {exc}\n")
    return out.getvalue()


def deny_to_role(emu: Any, monkeypatch: Any, action: str) -> None:
    from django_alioss.emulator.emulator import bucket_policy

    monkeypatch.setattr(emu.role, "policies", [
        bucket_policy(emu.bucket_name),
        {"Version": "1", "Statement": [{"Effect": "Deny", "Action": action, "Resource": "*"}]}])


def healthy(emu: Any, monkeypatch: Any) -> str:
    return check_output(emu, monkeypatch, {"location": "media"})


def access_denied(emu: Any, monkeypatch: Any) -> str:
    deny_to_role(emu, monkeypatch, "oss:PutObject")
    return check_output(emu, monkeypatch, {"location": "media"})


def bad_keys(emu: Any, monkeypatch: Any) -> str:
    keys = {"location": "m", "access_key_secret": "wrong-secret-wrong-secret"}
    return (check_output(emu, monkeypatch, {**keys, "access_key_id": "LTAI5tNoSuchKeyNoSuchKey"})
            + check_output(emu, monkeypatch, {**keys, "access_key_id": emu.access_key_id}))


def unreachable(emu: Any, monkeypatch: Any) -> str:
    from .processes import free_port

    return check_output(emu, monkeypatch, {
        "location": "m", "endpoint": f"http://127.0.0.1:{free_port()}", "max_retries": 0,
        "access_key_id": emu.access_key_id, "access_key_secret": emu.access_key_secret})


def no_credentials(emu: Any, monkeypatch: Any) -> str:
    return check_output(emu, monkeypatch, {"location": "media", "rrsa_fallback": False},
                        env={"ALIBABA_CLOUD_ROLE_ARN": None})


def fallback(emu: Any, monkeypatch: Any) -> str:
    typo = f"acs:ram::{emu.iam.account_id}:role/typo"
    return check_output(emu, monkeypatch, {"location": "media"},
                        env={"ALIBABA_CLOUD_ROLE_ARN": typo})


def unsigned_denied(emu: Any, monkeypatch: Any) -> str:
    return check_output(emu, monkeypatch, {"location": "media", "querystring_auth": False})


SCENARIOS: dict[str, Callable[[Any, Any], str]] = {
    "alioss_check-healthy": healthy,
    "alioss_check-access-denied": access_denied,
    "alioss_check-bad-keys": bad_keys,
    "alioss_check-unreachable": unreachable,
    "alioss_check-no-credentials": no_credentials,
    "alioss_check-fallback": fallback,
    "alioss_check-unsigned-denied": unsigned_denied,
}


def collectstatic_rerun(emu: Any, monkeypatch: Any, source: Path) -> str:
    """The second of two ``collectstatic --noinput`` runs into a manifest storage."""
    from django.test import override_settings
    from PIL import Image

    (source / "site" / "img").mkdir(parents=True)
    Image.new("RGB", (3, 2), "red").save(source / "site" / "img" / "dot.png")
    (source / "site" / "site.css").write_text("body { background: url('img/dot.png'); }\n")
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    config = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
              "staticfiles": {"BACKEND": "django_alioss.storage.OSSManifestStaticStorage"}}
    with override_settings(STORAGES=config, STATICFILES_DIRS=[str(source)],
                           ALIOSS_LOCATION=f"static-{source.parent.name}"[:60],
                           ALIOSS_DEFAULT_ACL="public-read"):
        run_manage("collectstatic", "--noinput")
        return run_manage("collectstatic", "--noinput")


def alioss_cors_set(tmp_path: Path) -> str:
    """``alioss_cors set --origin https://www.example.com`` on a bucket ``my-bucket`` that
    already has a rule for another origin."""
    from django.test import override_settings

    from django_alioss.emulator import Emulator
    from django_alioss.emulator.storages import STATIC_KEYS, emulator_options
    from django_alioss.emulator.store import CorsConfiguration, CorsRule

    with Emulator(bucket="my-bucket") as emu:
        emu.store.set_bucket_cors(emu.bucket_name, CorsConfiguration(rules=(
            CorsRule(("https://cdn.example.com",), ("GET",)),)))
        storages = {"default": {"BACKEND": OSS, "OPTIONS": {
            "location": "media", **emulator_options(emu, STATIC_KEYS)}}}
        with override_settings(STORAGES=storages, DEBUG=True):
            return run_manage("alioss_cors", "set", "--origin", "https://www.example.com")
