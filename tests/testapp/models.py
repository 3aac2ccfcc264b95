from django.db import models


class Document(models.Model):
    title = models.CharField(max_length=100, blank=True)
    attachment = models.FileField(upload_to="documents/", max_length=100)


class Photo(models.Model):
    image = models.ImageField(upload_to="photos/", width_field="width", height_field="height")
    width = models.IntegerField(null=True)
    height = models.IntegerField(null=True)
