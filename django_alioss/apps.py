from django.apps import AppConfig


class AliossConfig(AppConfig):
    """django-alioss: adding it to INSTALLED_APPS enables its management commands."""

    name = "django_alioss"
    verbose_name = "Alibaba Cloud OSS storage"
