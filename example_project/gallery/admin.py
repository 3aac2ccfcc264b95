"""Admin with thumbnails: every ``<img>`` points at a signed URL: the image itself
(``image.url``) and a thumbnail made by OSS image processing (the ``oss_image`` filter
with the ``thumb`` style of ``image_styles``, signed with its ``x-oss-process``)."""

from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from django_alioss.forms import DirectUploadAdminMixin
from django_alioss.templatetags.alioss import oss_image

from .models import Attachment, Document, Photo


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("thumbnail", "processed_thumbnail", "title", "dimensions", "uploaded_at")
    list_display_links = ("thumbnail", "title")
    search_fields = ("title",)
    readonly_fields = ("preview", "dimensions", "uploaded_at")
    fields = ("title", "image", "preview", "dimensions", "uploaded_at")

    @admin.display(description="Image")
    def thumbnail(self, obj: Photo) -> str:
        return format_html('<img class="gallery-thumb" src="{}" alt="{}" height="60" '
                           'style="max-width:120px;object-fit:cover">', obj.image.url, obj.title)

    @admin.display(description="Thumbnail (x-oss-process)")
    def processed_thumbnail(self, obj: Photo) -> str:
        return format_html('<img class="gallery-oss-thumb" src="{}" alt="Thumbnail of {}" '
                           'width="40" height="40">', oss_image(obj.image, "thumb"), obj.title)

    @admin.display(description="Preview")
    def preview(self, obj: Photo) -> str:
        if not obj.pk or not obj.image:
            return "-"
        return format_html('<img class="gallery-preview" src="{}" alt="{}" '
                           'style="max-width:480px;max-height:360px">', obj.image.url, obj.title)

    @admin.display(description="Size in pixels")
    def dimensions(self, obj: Photo) -> str:
        return f"{obj.width} x {obj.height}" if obj.width else "-"


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "download", "human_size", "uploaded_at")
    search_fields = ("title",)
    readonly_fields = ("human_size", "uploaded_at")

    @admin.display(description="File")
    def download(self, obj: Document) -> str:
        return format_html('<a href="{}">{}</a>', obj.file.url, obj.file.name.rsplit("/", 1)[-1])

    @admin.display(description="Size")
    def human_size(self, obj: Document) -> str:
        return filesizeformat(obj.size) if obj.size is not None else "-"


@admin.register(Attachment)
class AttachmentAdmin(DirectUploadAdminMixin, admin.ModelAdmin):
    """The file goes from the browser straight to OSS, with a progress bar; saving the
    form sends only a signed token and the file name, checked with one HEAD."""

    list_display = ("title", "download", "uploaded_at")
    search_fields = ("title",)
    readonly_fields = ("uploaded_at",)

    @admin.display(description="File")
    def download(self, obj: Attachment) -> str:
        return format_html('<a class="attachment-link" href="{}">{}</a>', obj.file.url,
                           obj.file.name.rsplit("/", 1)[-1])
