"""CRC-64/XZ (ECMA-182, reflected) as OSS reports it in ``x-oss-hash-crc64ecma``.

The running CRC uses crcmod's C extension (installed with oss2). :func:`combine`
joins the CRCs of two adjacent pieces without their data (zlib's ``crc32_combine``
adapted to 64 bits), which is how a multipart object gets its CRC from its parts.
"""

from __future__ import annotations

import crcmod

POLY = 0x142F0E1EBA9EA3693
_REFLECTED_POLY = 0xC96C5795D7870F42
_MASK = 0xFFFFFFFFFFFFFFFF

_crc_template = crcmod.Crc(POLY, initCrc=0, rev=True, xorOut=_MASK)


class Crc64:
    """An incremental CRC-64/XZ: ``update(data)`` then read ``value`` (0 for no data)."""

    __slots__ = ("_crc",)

    def __init__(self) -> None:
        self._crc = _crc_template.new()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._crc.update(data)

    @property
    def value(self) -> int:
        return int(self._crc.crcValue)


def crc64(data: bytes | bytearray | memoryview) -> int:
    """The CRC-64/XZ of ``data`` (``b"123456789"`` -> 11051210869376104954)."""
    crc = Crc64()
    crc.update(data)
    return crc.value


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


def _zero_byte_operators() -> list[list[int]]:
    """Operator k appends 2**k zero bytes to a CRC register (k = 0..63)."""
    one_bit = [_REFLECTED_POLY] + [1 << n for n in range(63)]
    operator = _gf2_square(_gf2_square(_gf2_square(one_bit)))  # 8 bits: one byte
    operators = [operator]
    for _ in range(63):
        operator = _gf2_square(operator)
        operators.append(operator)
    return operators


_OPERATORS = _zero_byte_operators()


def combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``."""
    if len2 <= 0:
        return crc1
    k = 0
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(_OPERATORS[k], crc1)
        len2 >>= 1
        k += 1
    return (crc1 ^ crc2) & _MASK


def combine_all(pieces: list[tuple[int, int]]) -> int:
    """The CRC of the concatenation of pieces given as ``(crc, length)`` pairs, in order."""
    total = 0
    for crc, length in pieces:
        total = combine(total, crc, length)
    return total
