"""Content objects for upload tests."""

from __future__ import annotations

import io
from typing import Any


class OneShot(io.RawIOBase):
    """Readable once, not seekable: a pipe, or a request body being streamed."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self.size = len(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)
