"""Settings of the django-alioss example project, 12-factor style: all from the environment.

- ``ALIOSS_*`` (endpoint, bucket, region, ...) and ``ALIBABA_CLOUD_*`` (RRSA: role ARN,
  OIDC provider ARN, token file; or static keys) configure OSS. Locally they come from
  the emulator's export lines (``run_demo.py`` sets them itself); on ACK, RRSA injects
  the ``ALIBABA_CLOUD_*`` ones into the pod.
- ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG``, ``DJANGO_ALLOWED_HOSTS``: the usual, with
  development defaults.
- ``EXAMPLE_DATA_DIR``: where the SQLite database lives (default ``.alioss-data/``
  beside ``manage.py``, shared with the emulator's objects); ``DJANGO_SQLITE_PATH``
  overrides the database file itself.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR") or BASE_DIR / ".alioss-data")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "dev-only-insecure-key-set-DJANGO_SECRET_KEY"
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    # First: its collectstatic (unchanged files skipped, the rest uploaded in parallel)
    # replaces Django's, which runs when django.contrib.staticfiles comes first.
    "django_alioss",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "gallery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

SQLITE_PATH = Path(os.environ.get("DJANGO_SQLITE_PATH") or DATA_DIR / "db.sqlite3")
SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": SQLITE_PATH}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Media and static files both live in OSS. Endpoint, bucket, region and credentials come
# from ALIOSS_* / ALIBABA_CLOUD_* environment variables; the access keys are left empty,
# which selects RRSA (AssumeRoleWithOIDC with the pod's projected token). Thumbnails are
# made by OSS image processing: {{ photo.image|oss_image:"thumb" }} (templatetags alioss).
STORAGES = {
    "default": {
        "BACKEND": "django_alioss.storage.OSSStorage",
        "OPTIONS": {
            "location": os.environ.get("EXAMPLE_MEDIA_LOCATION", "media"),
            "image_styles": {"thumb": "image/resize,m_fill,w_40,h_40/format,webp"},
        },
    },
    "staticfiles": {
        "BACKEND": "django_alioss.storage.OSSManifestStaticStorage",
        # Static URLs are unsigned (cacheable), so the objects are public-read.
        "OPTIONS": {"location": "static", "default_acl": "public-read"},
    },
}
STATIC_URL = "/static/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_alioss": {"handlers": ["console"], "level": "INFO"}},
}
