from django.apps import AppConfig


class AliossConfig(AppConfig):
    """django-alioss: adding it to INSTALLED_APPS enables its management commands and
    its system checks (``manage.py check``)."""

    name = "django_alioss"
    verbose_name = "Alibaba Cloud OSS storage"

    def ready(self) -> None:
        from . import checks

        checks.register()
