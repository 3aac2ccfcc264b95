"""Uploads kept in OSS: the database holds names, the bucket holds the bytes."""

from django.db import models


class Photo(models.Model):
    """An image; width and height are read by Pillow at upload, so listing photos
    never downloads them."""

    title = models.CharField(max_length=200)
    image = models.ImageField(upload_to="photos/%Y/%m/", width_field="width",
                              height_field="height")
    width = models.PositiveIntegerField(editable=False, null=True)
    height = models.PositiveIntegerField(editable=False, null=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Document(models.Model):
    """Any file, offered for download through a signed URL."""

    title = models.CharField(max_length=200)
    file = models.FileField(upload_to="documents/%Y/%m/")
    size = models.PositiveBigIntegerField(editable=False, null=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        if self.file and not self.file._committed:
            self.size = self.file.size  # of the upload, before it goes to OSS
        super().save(*args, **kwargs)


class Attachment(models.Model):
    """A file of any size that the browser uploads straight to the bucket (the admin
    uses django-alioss's DirectUploadField): the app server only checks and keeps its
    name."""

    title = models.CharField(max_length=200)
    file = models.FileField(max_length=255)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title
