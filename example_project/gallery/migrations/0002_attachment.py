from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("gallery", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Attachment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("title", models.CharField(max_length=200)),
                ("file", models.FileField(max_length=255, upload_to="")),
                ("uploaded_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["-uploaded_at", "-id"]},
        ),
    ]
