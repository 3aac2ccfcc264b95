"""CRC-64/XZ (ECMA-182, reflected) as OSS reports it in ``x-oss-hash-crc64ecma``.

The emulator uses the backend's implementation (:mod:`django_alioss.crc`): fastcrc at
several GB/s when installed, else crcmod's C extension. :func:`combine` joins the CRCs
of two adjacent pieces without their data, which is how a multipart object gets its CRC
from its parts.
"""

from __future__ import annotations

from ..crc import POLY, Crc64, combine, combine_all, crc64

__all__ = ["POLY", "Crc64", "combine", "combine_all", "crc64"]
