"""The README documents what the code does: every option, the CI command, the CLI exports."""

from __future__ import annotations

import re
from pathlib import Path

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
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert "./scripts/test" in commands
    assert "./scripts/test" in README


def test_readme_names_every_exported_emulator_variable() -> None:
    for name in ("ALIOSS_ENDPOINT", "ALIOSS_BUCKET_NAME", "ALIOSS_REGION", "ALIOSS_STS_ENDPOINT",
                 "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                 "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_ACCESS_KEY_ID",
                 "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        assert f"`{name}`" in README
