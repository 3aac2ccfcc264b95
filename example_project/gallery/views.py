from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Document, Photo


def index(request: HttpRequest) -> HttpResponse:
    """The public page: every photo (signed image URLs) and every document (links)."""
    return render(request, "gallery/index.html", {
        "photos": Photo.objects.all(),
        "documents": Document.objects.all(),
    })
