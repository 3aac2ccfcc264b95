"""Django settings for the test suite. Storages are configured per test from the emulator."""

SECRET_KEY = "django-alioss-tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_alioss",  # before staticfiles: its collectstatic is the one that runs (W003)
    "django.contrib.staticfiles",
    "tests.testapp",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
