"""``{% load alioss %}``: the ``oss_image`` filter.

``{{ photo.image|oss_image:"thumb" }}`` is the URL of the file processed by OSS image
processing: the argument is a name in the storage's ``image_styles`` option or an
``x-oss-process`` value (``"image/resize,w_200/format,webp"``), signed as part of the
URL like any URL of the storage (or signed for the CDN with ``cdn_auth_type``). It
works with any ``FieldFile`` (or ``File`` with a ``storage``) on an
:class:`~django_alioss.storage.OSSStorage`; for a file of another storage it is the
plain ``file.url``, and for an empty field the empty string. A bad style or
processing string raises ``ValueError`` (a template error, not a broken image).
"""

from __future__ import annotations

from typing import Any

from django import template

from ..storage import OSSStorage

register = template.Library()


@register.filter
def oss_image(file: Any, process: str) -> str:
    """The URL of ``file`` processed with ``process`` (a style name or processing string)."""
    if not file or not getattr(file, "name", None):
        return ""
    storage = getattr(file, "storage", None)
    if isinstance(storage, OSSStorage):
        return storage.url(file.name, process=process)
    return str(file.url)
