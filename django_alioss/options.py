"""The option table: every setting of the backend, in one place.

Each option has one name everywhere. Its value is looked up in this order::

    STORAGES[alias]["OPTIONS"][name]   (or a class attribute of a subclass)
    > Django setting ALIOSS_<NAME>
    > environment variable ALIOSS_<NAME>
    > default

Values from settings and OPTIONS may have their Python type or be strings (as from
the environment); :meth:`Option.parse` turns both into the option's type and raises
``ImproperlyConfigured`` naming the option and where the bad value came from.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING_PREFIX = "ALIOSS_"

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected a boolean (true/false, 1/0, yes/no, on/off)")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip().replace("_", ""))
        except ValueError:
            raise ValueError("expected an integer") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError("expected an integer")


def _parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError("expected a number") from None
    raise ValueError("expected a number")


def _parse_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("expected a string")


def _parse_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError("expected a dict (or a JSON object in the environment)")


def _parse_str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("expected a list of strings (comma-separated in the environment)")


def _parse_provider(value: Any) -> Any:
    """A source name or dotted path (str), a callable returning credentials, or a provider
    object (anything with ``get_credentials()``)."""
    if isinstance(value, str):
        return value
    if callable(value) or callable(getattr(value, "get_credentials", None)):
        return value
    raise ValueError("expected a source name or dotted path, a callable, or an object with "
                     "get_credentials()")


def _parse_policy(value: Any) -> str:
    """A session policy: a JSON object as text, or a dict (written as compact JSON)."""
    if isinstance(value, Mapping):
        try:
            return json.dumps(value, separators=(",", ":"))
        except (TypeError, ValueError):
            raise ValueError("the dict cannot be written as JSON") from None
    text = _parse_str(value)
    if text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValueError("expected a JSON object; this is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object")
    return text


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "str": _parse_str,
    "bool": _parse_bool,
    "int": _parse_int,
    "float": _parse_float,
    "dict": _parse_dict,
    "list": _parse_str_tuple,
    "provider": _parse_provider,
    "policy": _parse_policy,
}


@dataclass(frozen=True)
class Option:
    """One configurable option: its type, default, limits and documentation."""

    name: str
    kind: str
    default: Any
    doc: str
    required: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def setting_name(self) -> str:
        """The Django setting and environment variable that configure this option."""
        return SETTING_PREFIX + self.name.upper()

    def parse(self, value: Any, source: str) -> Any:
        """Coerce ``value`` (from ``source``, for the error message) to this option's type."""
        if value is None:
            return None
        shown = "(hidden)" if self.secret else repr(value)
        try:
            parsed = _PARSERS[self.kind](value)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"django-alioss option {self.name!r} from {source} has an invalid value "
                f"{shown}: {exc}") from None
        if self.choices and parsed not in self.choices:
            raise ImproperlyConfigured(
                f"django-alioss option {self.name!r} from {source} must be one of "
                f"{', '.join(self.choices)}; got {shown}")
        if self.minimum is not None and parsed < self.minimum:
            raise ImproperlyConfigured(
                f"django-alioss option {self.name!r} from {source} must be at least "
                f"{self.minimum:g}; got {shown}")
        if self.maximum is not None and parsed > self.maximum:
            raise ImproperlyConfigured(
                f"django-alioss option {self.name!r} from {source} must be at most "
                f"{self.maximum:g}; got {shown}")
        return parsed


DEFAULT_GZIP_CONTENT_TYPES = (
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "image/svg+xml",
)

ACLS = ("default", "private", "public-read", "public-read-write")

OPTIONS: dict[str, Option] = {option.name: option for option in (
    # --- where -------------------------------------------------------------------
    Option("endpoint", "str", None, required=True,
           doc="OSS endpoint the backend talks to, e.g. "
               "`https://oss-cn-hangzhou-internal.aliyuncs.com` "
               "(scheme optional: https is assumed)."),
    Option("bucket_name", "str", None, required=True, doc="The bucket."),
    Option("region", "str", None,
           doc="Region id such as `cn-hangzhou`; derived from an "
               "`oss-<region>[-internal].aliyuncs.com` "
               "endpoint when omitted. Needed for V4 signatures."),
    Option("location", "str", "",
           doc="Key prefix under which all names are stored (no leading `/`)."),
    # --- credentials ----------------------------------------------------------------
    Option("access_key_id", "str", None,
           doc="Static AccessKey id. Empty or `rrsa` (with an empty or `rrsa` secret) selects "
               "RRSA."),
    Option("access_key_secret", "str", None, secret=True, doc="Static AccessKey secret."),
    Option("security_token", "str", None, secret=True,
           doc="STS security token to use with a temporary AccessKey pair."),
    Option("credentials_provider", "provider", None,
           doc="Pick the credential source explicitly: `rrsa`, `static`, `ram_role_arn`, "
               "`ecs_ram_role`, `default_chain`, a dotted path / callable returning "
               "credentials, or a provider object with `get_credentials()`."),
    Option("role_arn", "str", None,
           doc="RAM role to assume (RRSA, `ram_role_arn`); default env `ALIBABA_CLOUD_ROLE_ARN`."),
    Option("oidc_provider_arn", "str", None,
           doc="RRSA OIDC provider ARN; default env `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`."),
    Option("oidc_token_file", "str", None,
           doc="Projected service-account token file; default env "
               "`ALIBABA_CLOUD_OIDC_TOKEN_FILE`."),
    Option("role_session_name", "str", None,
           doc="STS session name; default env `ALIBABA_CLOUD_ROLE_SESSION_NAME`, else derived from "
               "the pod/host name."),
    Option("role_duration", "int", 3600, minimum=900, maximum=43200,
           doc="Lifetime in seconds of STS credentials requested for a role."),
    Option("role_policy", "policy", None,
           doc="Inline session policy that narrows the role's permissions: a JSON object, as "
               "text or a dict."),
    Option("sts_endpoint", "str", None,
           doc="STS endpoint; `http://` allowed (emulator, private endpoints). Default "
               "`sts[-vpc].<sts_region>.aliyuncs.com` or `sts.aliyuncs.com`."),
    Option("sts_region", "str", None,
           doc="Region of the STS endpoint; default env `ALIBABA_CLOUD_STS_REGION`."),
    Option("sts_vpc_endpoint", "bool", None,
           doc="Use the `sts-vpc` endpoint; default env `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`."),
    Option("rrsa_fallback", "bool", True,
           doc="Fall back to `ALIBABA_CLOUD_ACCESS_KEY_ID`/`_SECRET` when RRSA credentials "
               "cannot be "
               "obtained (logged once at WARNING). False makes that an error."),
    Option("ecs_role_name", "str", None, doc="Worker RAM role name for `ecs_ram_role`."),
    # --- writing ---------------------------------------------------------------------
    Option("file_overwrite", "bool", True,
           doc="Overwrite an existing object of the same name. False finds a free name, race-free "
               "(`x-oss-forbid-overwrite`)."),
    Option("default_acl", "str", None, choices=ACLS,
           doc="Object ACL set on upload (`private`, `public-read`, ...); unset keeps the "
               "bucket's."),
    Option("object_parameters", "dict", {},
           doc="HTTP headers set on every upload, e.g. `{\"Cache-Control\": \"max-age=86400\"}`; "
               "override `get_object_parameters(name)` for per-object values."),
    Option("gzip", "bool", False,
           doc="Gzip content whose type is in `gzip_content_types` on upload."),
    Option("gzip_content_types", "list", DEFAULT_GZIP_CONTENT_TYPES,
           doc="Content types that `gzip` compresses."),
    Option("max_memory_size", "int", 10 * MiB, minimum=0,
           doc="Bytes a file opened in an update mode (`r+`, `a`, `w+`) keeps in memory before "
               "spilling to a temporary file (0: never spill)."),
    Option("multipart_threshold", "int", 16 * MiB, minimum=100 * KiB,
           doc="Uploads at least this large use parallel multipart upload."),
    Option("multipart_chunksize", "int", 8 * MiB, minimum=100 * KiB, maximum=5 * GiB,
           doc="Part size for multipart uploads and for files opened for writing."),
    Option("multipart_concurrency", "int", 4, minimum=1, maximum=64,
           doc="Parts uploaded in parallel; also sizes the HTTP connection pool."),
    Option("collectstatic_concurrency", "int", 16, minimum=1, maximum=32,
           doc="Files django-alioss's `collectstatic` uploads in parallel (static storages; "
               "1: one at a time). At most 32, the HTTP connection pool's size."),
    # --- uploads from the browser ------------------------------------------------------------
    Option("direct_upload_prefix", "str", "direct-uploads",
           doc="Where the `DirectUploadField` widget's browser uploads land (under "
               "`location`); `alioss_cleanup_uploads --direct-uploads` deletes the old ones "
               "no model references."),
    Option("direct_upload_origins", "list", (),
           doc="Origins (`https://host[:port]`) of the pages that upload straight to the "
               "bucket: `alioss_cors set` allows them by default, `alioss_check` checks that "
               "they can POST."),
    # --- URLs --------------------------------------------------------------------------
    Option("querystring_auth", "bool", True,
           doc="Sign URLs (False: plain URLs for public objects)."),
    Option("querystring_expire", "int", 3600, minimum=1, maximum=7 * 24 * 3600,
           doc="Seconds a signed URL stays valid (never beyond the credentials' expiry)."),
    Option("signature_version", "str", "v4", choices=("v4", "v1"),
           doc="Signature version: `v4` or `v1`."),
    Option("custom_domain", "str", None,
           doc="Domain bound to the bucket (CNAME or CDN); URLs use it and are unsigned, "
               "unless `cdn_auth_type` signs them for the CDN."),
    Option("url_protocol", "str", "https:", choices=("https:", "http:"),
           doc="Scheme for `custom_domain` URLs."),
    Option("public_endpoint", "str", None,
           doc="Endpoint used in URLs when uploads go through another (e.g. the `-internal` one)."),
    Option("is_cname", "bool", False, doc="`endpoint` is a custom domain bound to the bucket."),
    Option("image_styles", "dict", {},
           doc="Named image processing strings, e.g. `{\"thumb\": \"image/resize,w_200\"}`: "
               "`url(name, process=\"thumb\")` and the `oss_image` template filter accept "
               "the name."),
    Option("cdn_auth_type", "str", None, choices=("A", "B", "C"),
           doc="Alibaba Cloud CDN URL authentication type (`A`, `B` or `C`) of "
               "`custom_domain`: its URLs are then signed for the CDN (no OSS credentials "
               "needed)."),
    Option("cdn_auth_key", "str", None, secret=True,
           doc="The CDN's URL authentication key (type C: 16 to 32 letters and digits)."),
    Option("cdn_auth_ttl", "int", 1800, minimum=1,
           doc="The URL authentication TTL set in the CDN console, in seconds: a CDN URL "
               "asked for with `expire=N` is signed so that it stops working after N "
               "seconds."),
    # --- network --------------------------------------------------------------------------
    Option("connect_timeout", "float", 10.0, minimum=0.1, doc="Seconds to wait for a connection."),
    Option("read_timeout", "float", 60.0, minimum=0.1, doc="Seconds to wait for response data."),
    Option("max_retries", "int", 3, minimum=0, maximum=20,
           doc="Retries (with backoff) of transient failures: idempotent requests and "
               "rewindable uploads."),
)}

CREDENTIAL_OPTIONS = (
    "access_key_id", "access_key_secret", "security_token", "credentials_provider", "role_arn",
    "oidc_provider_arn", "oidc_token_file", "role_session_name", "role_duration", "role_policy",
    "sts_endpoint", "sts_region", "sts_vpc_endpoint", "rrsa_fallback", "ecs_role_name",
    "connect_timeout", "read_timeout",
)
"""The options the credentials provider is built from (none of them are needed to
address the bucket, so none of them belongs in a migration)."""

SECRET_OPTIONS = tuple(name for name, option in OPTIONS.items() if option.secret)


class OptionValues:
    """Every option as a typed attribute, as a storage holds it once parsed.

    ``tests/backend/test_options.py`` checks that these annotations and :data:`OPTIONS`
    name the same options.
    """

    # where
    endpoint: str
    bucket_name: str
    region: str | None
    location: str
    # credentials
    access_key_id: str | None
    access_key_secret: str | None
    security_token: str | None
    credentials_provider: str | Callable[[], Any] | Any | None
    role_arn: str | None
    oidc_provider_arn: str | None
    oidc_token_file: str | None
    role_session_name: str | None
    role_duration: int
    role_policy: str | None
    sts_endpoint: str | None
    sts_region: str | None
    sts_vpc_endpoint: bool | None
    rrsa_fallback: bool
    ecs_role_name: str | None
    # writing
    file_overwrite: bool
    default_acl: str | None
    object_parameters: dict[str, Any]
    gzip: bool
    gzip_content_types: tuple[str, ...]
    max_memory_size: int
    multipart_threshold: int
    multipart_chunksize: int
    multipart_concurrency: int
    collectstatic_concurrency: int
    # uploads from the browser
    direct_upload_prefix: str
    direct_upload_origins: tuple[str, ...]
    # URLs
    querystring_auth: bool
    querystring_expire: int
    signature_version: str
    custom_domain: str | None
    url_protocol: str
    public_endpoint: str | None
    is_cname: bool
    image_styles: dict[str, str]
    cdn_auth_type: str | None
    cdn_auth_key: str | None
    cdn_auth_ttl: int
    # network
    connect_timeout: float
    read_timeout: float
    max_retries: int


def resolve_options(given: Mapping[str, Any], owner: type,
                    defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Every option's parsed value for a storage of class ``owner``: ``given``
    (``OPTIONS``) first, then a class attribute of ``owner``, then ``defaults``
    (settings, environment, default). Unknown names raise ``ImproperlyConfigured``."""
    check_unknown(given, owner.__name__)
    values: dict[str, Any] = {}
    for name, option in OPTIONS.items():
        if name in given:
            values[name] = option.parse(given[name], f"OPTIONS[{name!r}]")
        elif hasattr(owner, name):
            values[name] = option.parse(getattr(owner, name), f"{owner.__name__}.{name}")
        else:
            values[name] = defaults[name]
    return values


_ENDPOINT_REGION = re.compile(r"^(?:[a-z]+://)?oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com(?::\d+)?/?$")


def region_from_endpoint(endpoint: str) -> str | None:
    """``oss-cn-hangzhou[-internal].aliyuncs.com`` -> ``cn-hangzhou``; else None."""
    match = _ENDPOINT_REGION.match(endpoint.strip().lower())
    return match.group(1) if match else None


def lookup(option: Option, environ: Mapping[str, str] | None = None) -> Any:
    """The value from the Django setting, else the environment, else the default."""
    environ = os.environ if environ is None else environ
    name = option.setting_name
    if hasattr(settings, name):
        return option.parse(getattr(settings, name), f"setting {name}")
    if name in environ:
        return option.parse(environ[name], f"environment variable {name}")
    return option.default


def default_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every option's value from settings/environment/defaults (no OPTIONS applied)."""
    return {name: lookup(option, environ) for name, option in OPTIONS.items()}


#: django-storages' S3Storage option names (and a few other spellings) -> ours.
S3_COUNTERPARTS = {
    "endpoint_url": "endpoint",
    "region_name": "region",
    "access_key": "access_key_id",
    "secret_key": "access_key_secret",
    "session_token": "security_token",
    "bucket": "bucket_name",
    "session_profile": "credentials_provider",
    "use_ssl": "endpoint",
    "transfer_config": "multipart_threshold",
    "client_config": "connect_timeout",
}


def suggestion(name: str) -> str:
    """What to write instead of the unknown option ``name``: the S3Storage counterpart,
    else the closest valid name ("" when nothing is close)."""
    if name in S3_COUNTERPARTS:
        return f"S3Storage's {name!r} is {S3_COUNTERPARTS[name]!r} here"
    close = difflib.get_close_matches(name.lower(), OPTIONS, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def unknown_options_text(unknown: Iterable[str]) -> str:
    """``'endpoint_url' (S3Storage's 'endpoint_url' is 'endpoint' here), 'bucket_nme' (did
    you mean 'bucket_name'?)``: each unknown name with its suggestion."""
    parts = []
    for name in sorted(unknown):
        hint = suggestion(name)
        parts.append(f"{name!r} ({hint})" if hint else repr(name))
    return ", ".join(parts)


def check_unknown(names: Iterable[str], owner: str) -> None:
    """Raise ImproperlyConfigured for names that are not options, each with the closest
    valid name (or its S3Storage counterpart), listing the valid ones."""
    unknown = set(names) - set(OPTIONS)
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown option(s) {unknown_options_text(unknown)} for {owner}. "
            f"Valid options: {', '.join(sorted(OPTIONS))}.")
