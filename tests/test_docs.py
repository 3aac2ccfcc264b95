"""The documentation says what the code does: every option in the reference, the CI steps,
the newcomer commands, the emulator CLI's exports; the site's pages are all in its nav."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from django_alioss.emulator import Emulator
from django_alioss.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPTIONS_PAGE = (DOCS / "reference" / "options.md").read_text(encoding="utf-8")
EMULATOR_PAGE = (DOCS / "testing" / "emulator.md").read_text(encoding="utf-8")
CI_STEPS = ("test", "lint", "test-django6", "test-django42", "docs")


def test_every_option_has_a_reference_row_with_its_setting_name() -> None:
    rows = {m.group(1): m.group(2)
            for m in re.finditer(r"^\| `(\w+)` \| `(\w+)` \|", OPTIONS_PAGE, re.M)}
    assert set(rows) == set(OPTIONS), "docs/reference/options.md differs from options.OPTIONS"
    for name, option in OPTIONS.items():
        assert rows[name] == option.setting_name


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs ``./scripts/test`` with no argument, the README's command."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert any(re.search(r"(^|\s)\./scripts/test$", line) for line in commands), commands
    assert any(re.search(r"(^|\s)\./scripts/docs$", line) for line in commands), commands
    for text in (README, (DOCS / "index.md").read_text(encoding="utf-8")):
        quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
        assert "\n./scripts/test\n" in quick_start
        assert ("\npython3 -m venv .venv && .venv/bin/pip install -e '.[demo]' && "
                ".venv/bin/python example_project/run_demo.py\n") in quick_start


@pytest.mark.parametrize("failing", [None, *CI_STEPS])
def test_ci_runs_every_step_and_fails_when_one_fails(tmp_path: Path, failing: str | None
                                                     ) -> None:
    """.ci/run, with its scripts replaced by stubs: every step runs, and its status is 1
    when any one of them failed."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    ran = tmp_path / "ran"
    for name in CI_STEPS:
        stub = tmp_path / "scripts" / name
        stub.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {ran}\n"
                        f"exit {1 if name == failing else 0}\n")
        stub.chmod(0o755)
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "CI": "true"})
    assert ran.read_text().splitlines() == list(CI_STEPS)  # in order, no arguments
    assert result.returncode == (0 if failing is None else 1), result.stdout + result.stderr
    if failing is not None:
        assert "=== .ci/run: failed: " in result.stdout and f"scripts/{failing})" in result.stdout


def test_the_emulator_page_names_every_exported_variable() -> None:
    """Every variable the CLI can export (with --admin, a CDN edge and --detach) is named
    on the emulator page, and every ALIOSS_EMULATOR_* name there is one of them."""
    with Emulator(admin=True, cdn_auth_type="A", cdn_auth_key="docs-check-key") as emu:
        exported = set(emu.env()) | {"ALIOSS_EMULATOR_PID"}
        assert set(re.findall(r"^export (\w+)=", emu.export_lines(), re.M)) == set(emu.env())
    for name in sorted(exported):
        assert f"`{name}`" in EMULATOR_PAGE, name
    named = set(re.findall(r"`(ALIOSS_EMULATOR_\w+)`", EMULATOR_PAGE))
    assert named <= exported, named - exported


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)$", config, re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert nav == pages



def test_readme_is_short_and_links_into_the_docs() -> None:
    """The README is the front page: what, quick start, the two commands, links to every
    docs page that exists (the rest lives in docs/)."""
    assert len(README.splitlines()) < 200
    links = set(re.findall(r"\]\((docs/[^)#]+\.md)(?:#[^)]*)?\)", README))
    for link in links:
        assert (ROOT / link).is_file(), link
    pages = {f"docs/{p.relative_to(DOCS)}" for p in DOCS.rglob("*.md")} - {"docs/changelog.md"}
    assert pages <= links, pages - links
