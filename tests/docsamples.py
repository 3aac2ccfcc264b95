"""The code samples of the documentation (README.md, CHANGELOG.md, docs/**/*.md) and the
rule that runs each one (tests/test_doc_samples.py).

A fenced block's rule is named by an HTML comment on the line before its fence,
``<!-- sample: RULE [ARGS] -->`` (invisible on the site), or by its language alone where
the table below has a default. A block whose language and rule are not in :data:`RULES`
fails the suite: no sample is skipped silently.

python
    ``settings``: a settings module fragment, exec'd (``INSTALLED_APPS`` is predefined as
    the suite's list; ``env=NAME:VALUE,...`` sets variables first); Django's checks run on
    it as written, then each storage of its ``STORAGES`` is built against the emulator and
    saves, reads, serves (URL fetched) and deletes a file.
    ``models``: a models module, exec'd inside the suite's test app; each ``FileField``
    serialises for a migration without configuration or secret, its table is created and
    a file saved through it lands in the emulator.
    ``usage``: run against the emulator with ``storage`` (``STORAGES["default"]``), under
    the page's last ``settings`` sample (else a default media storage).
    ``script``: run as it is (it starts its own emulator).
    ``env-script``: run with the emulator's exported variables in ``os.environ``.
    ``pytest``: a user's test module, run by pytest in a user project whose ``OPTIONS``
    name real OSS; every test in it must pass.
sh, bash
    ``commands`` (the default): each command (lines joined at ``\\``, split at ``&&``) must
    match a command rule of ``tests/test_doc_samples.py``: ``manage.py`` commands run
    through ``call_command`` against the emulator, emulator CLI lines run for a moment,
    ``pip install`` lines are checked against pyproject's extras, scripts and files must
    exist with the options they are given.
    ``synopsis``: a usage line; every ``--option`` must be one the command accepts.
    ``run``: run by bash in an empty directory (``python`` is the suite's interpreter, a
    ``manage.py`` of a project whose storages come from the environment is there); it
    must exit 0. Emulator commands get ``--port 0`` (free ports).
text
    ``output``: illustrative output, not code (nothing to run).
    ``real-output SCENARIO``: compared with what the code prints in that scenario, after
    :func:`normalise` (ports, ids, times, keys and numbers vary).
    ``signature DOTTED.PATH``: the signature of that callable.
json
    ``json`` (the default): parsed; ``json ram-policy`` is granted to a role the storage
    then uses for every operation, ``json ram-trust-policy`` must let the emulator's
    service account assume a role with it.
yaml
    ``pod-env``: ``- {name: X, value: "Y"}`` lines; each name is an option's environment
    variable or one the credentials code reads, each ``ALIOSS_*`` value parses.
django
    ``django``: a template, rendered with ``photo`` (an image on the emulator) and
    ``form`` (a presigned POST); every URL in it is fetched.
ini
    ``ini pytest``: a pytest ini file, used by a user project's pytest run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: language -> rules a block of it may name (the first one is the default, if any).
RULES: dict[str, tuple[str, ...]] = {
    "python": ("", "settings", "models", "usage", "script", "env-script", "pytest"),
    "sh": ("commands", "synopsis", "run"),
    "bash": ("commands", "synopsis", "run"),
    "text": ("", "output", "real-output", "signature"),
    "json": ("json",),
    "yaml": ("", "pod-env"),
    "django": ("django",),
    "ini": ("", "ini"),
}

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!-- sample: (?P<rule>[\w-]+)(?P<args>(?: [^ >]+)*) -->\s*$")


@dataclass(frozen=True)
class Sample:
    """One fenced block: where it is, its language, its rule and its text (unindented)."""

    page: str
    line: int
    lang: str
    rule: str
    args: tuple[str, ...]
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    def arg(self, name: str, default: str = "") -> str:
        """The value of ``name=value`` among the marker's arguments."""
        for arg in self.args:
            key, _, value = arg.partition("=")
            if key == name:
                return value
        return default

    @property
    def matched(self) -> bool:
        """Whether a rule of :data:`RULES` applies to this block."""
        return bool(self.rule) and self.rule in RULES.get(self.lang, ())


def pages() -> list[Path]:
    """Every Markdown file of the documentation."""
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse(path: Path) -> list[Sample]:
    """The fenced blocks of one Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = str(path.relative_to(ROOT))
    samples: list[Sample] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence or not fence.group("lang"):
            index += 1
            continue
        indent, lang = fence.group("indent"), fence.group("lang")
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != indent + "```":
            end += 1
        body = "\n".join(line[len(indent):] for line in lines[index + 1:end]) + "\n"
        rule, args = _rule(lines, index, lang)
        samples.append(Sample(page, index + 1, lang, rule, args, body))
        index = end + 1
    return samples


def _rule(lines: list[str], fence: int, lang: str) -> tuple[str, tuple[str, ...]]:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    marker = MARKER.match(lines[before]) if before >= 0 else None
    if marker:
        return marker.group("rule"), tuple(marker.group("args").split())
    return (RULES.get(lang) or ("",))[0], ()


def all_samples() -> list[Sample]:
    return [sample for path in pages() for sample in parse(path)]


def of_rule(rule: str) -> list[Sample]:
    return [s for s in all_samples() if s.matched and s.rule == rule]


def page_settings(sample: Sample) -> Sample | None:
    """The last ``settings`` sample before ``sample`` on its page."""
    found = None
    for other in parse(ROOT / sample.page):
        if other.line >= sample.line:
            break
        if other.rule == "settings":
            found = other
    return found


#: What varies from run to run in real output: replaced before comparing.
VARYING = [
    (re.compile(r"\b[0-9A-F]{24}\b"), "<request-id>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"\b(STS\.|LTAI)\*{4}\w{4}"), "<key-id>"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"(token file) \S+?(?=[,;)]|$)"), r"\1 <path>"),
    (re.compile(r"(\.alioss-check(?:/|%2F)|probe )[0-9a-f]{16}"), r"\1<hex>"),
    (re.compile(r"(Admin login: \w+ / )\S+"), r"\1<password>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
]


def normalise(text: str) -> list[str]:
    """Non-empty lines of ``text`` with :data:`VARYING` parts replaced."""
    lines = []
    for line in text.splitlines():
        for pattern, replacement in VARYING:
            line = pattern.sub(replacement, line)
        if line.strip():
            lines.append(line.rstrip())
    return lines


def is_subsequence(wanted: list[str], lines: list[str]) -> bool:
    """Whether ``wanted`` appear in ``lines`` in that order."""
    remaining = iter(lines)
    return all(any(line == want for line in remaining) for want in wanted)


def commands(text: str) -> list[str]:
    """The commands of a shell block: comments dropped, ``\\`` lines joined, ``&&`` split."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        found += [part.strip() for part in line.split(" && ") if part.strip()]
    return found
