"""``manage.py alioss_emulator``: the local OSS + STS + OIDC emulator, persisting to a
data directory (default ``<BASE_DIR or cwd>/.alioss-data``).

Same options and output as ``python -m django_alioss.emulator`` (whose parser and
``main()`` this command reuses): shell ``export`` lines on standard output, then it
serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...emulator.__main__ import build_parser, main

DATA_DIR_NAME = ".alioss-data"


def default_data_dir() -> str:
    """``<BASE_DIR>/.alioss-data`` when settings define BASE_DIR, else ``<cwd>/.alioss-data``."""
    base = getattr(settings, "BASE_DIR", None) or os.getcwd()
    return str(Path(base) / DATA_DIR_NAME)


def emulator_actions() -> list[argparse.Action]:
    """The emulator CLI's options, except ``--help`` and the short ``-v`` (Django's
    ``--verbosity`` owns it; ``--verbose`` stays)."""
    actions = []
    for action in build_parser()._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        action.option_strings = [o for o in action.option_strings if o != "-v"]
        actions.append(action)
    return actions


class Command(BaseCommand):
    help = ("Run the local Alibaba Cloud OSS + STS + OIDC issuer emulator (persistent data "
            "directory) and print the environment for django-alioss as export lines.")
    requires_system_checks: list[str] = []  # the settings may well point at this emulator

    def add_arguments(self, parser: CommandParser) -> None:
        for action in emulator_actions():
            if action.dest == "data_dir":
                action.default = None
                action.help = ("keep objects and the token file here "
                               f"(default <BASE_DIR>/{DATA_DIR_NAME})")
            parser._add_action(action)
        parser.add_argument("--in-memory", action="store_true",
                            help="keep objects in memory instead of a data directory")

    def handle(self, *args: Any, **options: Any) -> None:
        argv: list[str] = []
        for action in emulator_actions():
            value = options.get(action.dest)
            if action.dest == "data_dir":
                if options["in_memory"]:
                    continue
                value = value or default_data_dir()
            if value is None or value is False or value == action.default:
                continue
            flag = action.option_strings[-1]
            argv += [flag] if value is True else [flag, str(value)]
        status = main(argv)
        if status:
            raise CommandError(f"the emulator exited with status {status}", returncode=status)
