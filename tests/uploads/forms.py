"""Helpers of the direct-upload tests: post a form the way a browser does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests

CODE = re.compile(r"<Code>([^<]*)</Code>")
MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def post_form(http: requests.Session, form: Mapping[str, Any], content: bytes = b"hello",
              filename: str = "hello.txt", *, extra: Mapping[str, str] | None = None,
              file_content_type: str = "text/plain", **kwargs: Any) -> requests.Response:
    """POST ``form`` (``{"url", "fields"}``) plus ``extra`` fields, the file last."""
    fields = {**form["fields"], **(extra or {})}
    return http.post(form["url"], data=fields,
                     files={"file": (filename, content, file_content_type)}, timeout=30,
                     **kwargs)


def error_code(response: requests.Response) -> str:
    """The ``<Code>`` of an OSS error answer ("" when there is none)."""
    match = CODE.search(response.text)
    return match.group(1) if match else ""


def error_message(response: requests.Response) -> str:
    match = MESSAGE.search(response.text)
    return match.group(1) if match else ""
