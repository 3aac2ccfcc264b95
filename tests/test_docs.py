"""The README documents what the code does: every option, the CI command, the CLI exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from django_alioss.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_option_has_a_readme_row_with_its_setting_name() -> None:
    table = README.split("### Options", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `(\w+)` \|", table, re.M)}
    assert set(rows) == set(OPTIONS), "README option table differs from options.OPTIONS"
    for name, option in OPTIONS.items():
        assert rows[name] == option.setting_name


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs ``./scripts/test`` with no argument, the README's command."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert any(re.search(r"(^|\s)\./scripts/test$", line) for line in commands), commands
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "\n./scripts/test\n" in quick_start


@pytest.mark.parametrize("failing", [None, "test", "lint", "test-django6"])
def test_ci_runs_every_step_and_fails_when_one_fails(tmp_path: Path, failing: str | None
                                                     ) -> None:
    """.ci/run, with its scripts replaced by stubs: every step runs, and its status is 1
    when any one of them failed."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    ran = tmp_path / "ran"
    for name in ("test", "lint", "test-django6"):
        stub = tmp_path / "scripts" / name
        stub.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {ran}\n"
                        f"exit {1 if name == failing else 0}\n")
        stub.chmod(0o755)
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "CI": "true"})
    assert ran.read_text().splitlines() == ["test", "lint", "test-django6"]  # no arguments
    assert result.returncode == (0 if failing is None else 1), result.stdout + result.stderr


def test_readme_names_every_exported_emulator_variable() -> None:
    for name in ("ALIOSS_ENDPOINT", "ALIOSS_BUCKET_NAME", "ALIOSS_REGION", "ALIOSS_STS_ENDPOINT",
                 "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                 "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_ACCESS_KEY_ID",
                 "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        assert f"`{name}`" in README
