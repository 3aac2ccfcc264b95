#!/usr/bin/env python
"""Django's command-line utility for the django-alioss example project."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    # django_alioss from this checkout when it is not installed.
    sys.path.append(str(HERE.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
