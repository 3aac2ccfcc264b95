from django.apps import AppConfig


class GalleryConfig(AppConfig):
    """Photos (ImageField) and documents (FileField) stored in OSS."""

    name = "gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the receivers
