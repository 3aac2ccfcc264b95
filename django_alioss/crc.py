"""CRC-64/XZ (ECMA-182, reflected): the checksum OSS reports in ``x-oss-hash-crc64ecma``.

One implementation for the client and the emulator. The running CRC comes from
``fastcrc`` (SIMD, several GB/s) when it is installed, else from crcmod's C extension
(installed with oss2, ~450 MB/s; pure Python where it could not be compiled, ~6 MB/s).
Which one is used is logged once, at import, on the ``django_alioss`` logger.

- :func:`crc64` computes or continues a CRC: ``crc64(b, crc64(a)) == crc64(a + b)``.
- :class:`Crc64` is the same as an incremental object (``update``, ``value``).
- :func:`combine` joins the CRCs of two adjacent pieces without their data (zlib's
  ``crc32_combine`` adapted to 64 bits), which is how OSS gives a multipart object the
  CRC of its parts; :func:`combine_all` folds a list of ``(crc, length)`` pieces.

Every function is thread-safe and builds no table per call (unlike
``oss2.utils.Crc64()``, which builds one per request).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable

logger = logging.getLogger("django_alioss")

POLY = 0x142F0E1EBA9EA3693
"""The polynomial as crcmod (and oss2) spell it, with the x**64 term."""
_REFLECTED_POLY = 0xC96C5795D7870F42
_MASK = 0xFFFFFFFFFFFFFFFF

Buffer = bytes | bytearray | memoryview

#: Set to ``crcmod`` to ignore an installed fastcrc (tests of the fallback).
FORCE_ENV = "ALIOSS_CRC64_BACKEND"


def _crcmod_function() -> Callable[..., int]:
    import crcmod

    return crcmod.mkCrcFun(POLY, initCrc=0, rev=True, xorOut=_MASK)


def select_backend(preferred: str | None = None) -> tuple[str, Callable[..., int]]:
    """The best available implementation: ``(name, function(data, crc=0) -> int)``.

    ``preferred`` (or the :data:`FORCE_ENV` environment variable) ``"crcmod"`` skips
    fastcrc. The function continues from ``crc`` (the CRC of the preceding bytes).
    """
    preferred = preferred or os.environ.get(FORCE_ENV, "")
    if preferred != "crcmod":
        try:
            from fastcrc import crc64 as fast
        except ImportError:
            pass
        else:
            xz = fast.xz
            return "fastcrc", lambda data, crc=0: xz(data, crc)
    function = _crcmod_function()
    try:
        import crcmod._crcfunext  # noqa: F401  (the C extension: ~450 MB/s)
    except ImportError:
        return "crcmod (pure Python, ~6 MB/s)", function
    return "crcmod", function


BACKEND, _crc_function = select_backend()
if BACKEND == "fastcrc":
    logger.info("CRC-64: fastcrc")
else:
    logger.info("CRC-64: %s; pip install fastcrc for several GB/s", BACKEND)


def crc64(data: Buffer, crc: int = 0) -> int:
    """The CRC-64/XZ of ``data``, continuing from ``crc`` (the CRC of the bytes before
    it; 0 to start). ``crc64(b"123456789") == 11051210869376104954``; no data: ``crc``."""
    return _crc_function(data, crc)


class Crc64:
    """An incremental CRC-64/XZ: ``update(data)`` any number of times, then ``value``
    (0 before any data). Cheap to create: no table is built."""

    __slots__ = ("value",)

    def __init__(self, crc: int = 0) -> None:
        self.value = crc

    def update(self, data: Buffer) -> None:
        self.value = _crc_function(data, self.value)


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(64)]


@functools.cache
def _zero_byte_operators() -> tuple[list[int], ...]:
    """Operator k appends 2**k zero bytes to a CRC register (k = 0..63); built on first use
    (a few ms), then shared."""
    one_bit = [_REFLECTED_POLY] + [1 << n for n in range(63)]
    operator = _gf2_square(_gf2_square(_gf2_square(one_bit)))  # 8 bits: one byte
    operators = [operator]
    for _ in range(63):
        operator = _gf2_square(operator)
        operators.append(operator)
    return tuple(operators)


def combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` (no data needed)."""
    if len2 <= 0:
        return crc1
    operators = _zero_byte_operators()
    k = 0
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(operators[k], crc1)
        len2 >>= 1
        k += 1
    return (crc1 ^ crc2) & _MASK


def combine_all(pieces: Iterable[tuple[int, int]]) -> int:
    """The CRC of the concatenation of pieces given as ``(crc, length)`` pairs, in order."""
    total = 0
    for crc, length in pieces:
        total = combine(total, crc, length)
    return total

