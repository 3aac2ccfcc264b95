"""``manage.py alioss_cors show|set``: the bucket's CORS rules, for uploads from the browser.

- ``show``: every rule, then whether each origin of the ``direct_upload_origins`` option
  may POST (send a form upload).
- ``set --origin ORIGIN [--origin ...] [--method M ...] [--header H ...]
  [--expose-header H ...] [--max-age SECONDS] [--dry-run]``: allow the origins (default:
  ``direct_upload_origins``) the methods (default POST and PUT). The bucket's other
  rules are kept: a rule for exactly these origins is updated, else one is added.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...cors import (
    DEFAULT_EXPOSE_HEADERS,
    DEFAULT_MAX_AGE,
    UPLOAD_METHODS,
    describe_rule,
    merge,
    post_report,
)
from ...credentials import CredentialsUnavailable
from ...diagnostics import explain, storage_for_alias
from ...exceptions import OSSError
from ...storage import OSSStorage


class Command(BaseCommand):
    help = "Show or set the CORS rules of a django-alioss storage's bucket (browser uploads)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="show|set")
        shower = actions.add_parser("show", help="print the bucket's CORS rules")
        setter = actions.add_parser("set", help="allow origins, keeping the other rules")
        for subparser in (shower, setter):
            subparser.add_argument("--storage", default="default", metavar="ALIAS",
                                   help="alias in STORAGES (default: default)")
        setter.add_argument("--origin", action="append", default=[], metavar="ORIGIN",
                            help="scheme://host[:port] (repeat for several; default: the "
                                 "direct_upload_origins option)")
        setter.add_argument("--method", action="append", default=[], metavar="METHOD",
                            help=f"allowed method (repeatable; default {' '.join(UPLOAD_METHODS)})")
        setter.add_argument("--header", action="append", default=[], metavar="HEADER",
                            help="allowed request header (repeatable; default *)")
        setter.add_argument("--expose-header", action="append", default=[], metavar="HEADER",
                            help="response header scripts may read (repeatable; default "
                                 f"{' '.join(DEFAULT_EXPOSE_HEADERS)})")
        setter.add_argument("--max-age", type=int, default=DEFAULT_MAX_AGE, metavar="SECONDS",
                            help=f"how long browsers cache a preflight (default {DEFAULT_MAX_AGE})")
        setter.add_argument("--dry-run", action="store_true",
                            help="print the rules that would be set without setting them")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            storage, _ = storage_for_alias(options["storage"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        try:
            if options["action"] == "show":
                self.show(storage)
            else:
                self.set(storage, options)
        except (OSSError, CredentialsUnavailable) as exc:
            raise CommandError(explain(exc, storage)) from None

    def show(self, storage: OSSStorage) -> None:
        cors = storage.client.get_bucket_cors()
        where = f"bucket {storage.bucket_name!r}"
        if not cors.rules:
            self.stdout.write(f"{where} has no CORS rules")
        for number, rule in enumerate(cors.rules, 1):
            self.stdout.write(f"rule {number}: {describe_rule(rule)}")
        if storage.direct_upload_origins:
            status, detail = post_report(cors, storage.direct_upload_origins)
            style = self.style.SUCCESS if status == "OK" else self.style.ERROR
            self.stdout.write(style(detail))

    def set(self, storage: OSSStorage, options: dict[str, Any]) -> None:
        origins = options["origin"] or list(storage.direct_upload_origins)
        if not origins:
            raise CommandError("give --origin ORIGIN (or set the direct_upload_origins option, "
                               "ALIOSS_DIRECT_UPLOAD_ORIGINS)")
        if options["max_age"] < 0:
            raise CommandError("--max-age must be at least 0")
        current = storage.client.get_bucket_cors()
        try:
            wanted = merge(current, origins, options["method"] or UPLOAD_METHODS,
                           options["header"] or ("*",),
                           options["expose_header"] or DEFAULT_EXPOSE_HEADERS, options["max_age"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for number, rule in enumerate(wanted.rules, 1):
            self.stdout.write(f"rule {number}: {describe_rule(rule)}")
        if wanted == current:
            self.stdout.write(self.style.SUCCESS("already set: nothing to change"))
        elif options["dry_run"]:
            self.stdout.write("dry run: nothing changed")
        else:
            storage.client.put_bucket_cors(wanted)
            self.stdout.write(self.style.SUCCESS(
                f"set {len(wanted.rules)} CORS rule(s) on bucket {storage.bucket_name!r}"))
