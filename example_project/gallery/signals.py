"""Delete a file from the bucket once the row that names it is gone (Django keeps
files of deleted rows by default) or once a change replaced it."""

from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, pre_save
from django.dispatch import receiver

from .models import Attachment, Document, Photo

FILE_FIELDS = {Photo: "image", Document: "file", Attachment: "file"}


def _delete_after_commit(field_file: FieldFile) -> None:
    if field_file and field_file.name:
        storage, name = field_file.storage, field_file.name
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=Photo)
@receiver(post_delete, sender=Document)
@receiver(post_delete, sender=Attachment)
def delete_file_of_deleted_row(sender: type, instance: Photo | Document | Attachment,
                               **kwargs: object) -> None:
    _delete_after_commit(getattr(instance, FILE_FIELDS[sender]))


@receiver(pre_save, sender=Photo)
@receiver(pre_save, sender=Document)
@receiver(pre_save, sender=Attachment)
def delete_replaced_file(sender: type, instance: Photo | Document | Attachment,
                         **kwargs: object) -> None:
    if instance.pk is None:
        return
    field = FILE_FIELDS[sender]
    previous = sender.objects.filter(pk=instance.pk).only(field).first()
    if previous is not None:
        old = getattr(previous, field)
        if old.name and old.name != getattr(instance, field).name:
            _delete_after_commit(old)
