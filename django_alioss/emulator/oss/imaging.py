"""The emulated Image Processing (IMG) service: ``x-oss-process=image/...`` on GetObject.

Pillow (in the ``emulator`` extra) does the work; without it a processing request is
answered 501 NotImplemented naming the extra, never with the unprocessed image.

Emulated actions, applied in order: ``resize`` (``m`` lfit/mfit/fill/pad/fixed, ``w``
``h`` ``l`` ``s`` 1..16384, ``p`` 1..1000 percent, ``limit`` 1 (default: never enlarge;
the image is then left as it is) or 0, ``color`` RRGGBB for pad), ``crop`` (``w`` ``h``
``x`` ``y``, gravity ``g`` as the nine-cell grid: x/y are margins from that side),
``rotate,<0..360>`` (clockwise, canvas enlarged), ``auto-orient,<0|1>`` (EXIF),
``format,<jpg|png|webp|bmp|gif|tiff>``, ``quality`` (``q_`` relative to a JPEG
source's quality, ``Q_`` absolute but never above it; jpg/webp output) and ``info``
(JSON ``{"FileSize": {"value": "..."}, "Format": ..., "ImageHeight": ...,
"ImageWidth": ...}``, of the image as processed so far; the last action).
``style/<name>`` applies a style saved with ``controls.styles``.

Errors, with the codes of OSS's IMG error table: a malformed value or an out-of-range
parameter 400 InvalidArgument (``The value: <v> of parameter: <p> is invalid.reason:
...``, as OSS words it); a required parameter missing 400 MissingArgument; a source over
20 MB, 30,000 px a side or 250 megapixels 400 ImageTooLarge; a source that is no image
400 BadRequest; an unknown style 404 NoSuchStyle; an action OSS has but the emulator
does not implement (``watermark``, ``blur``...), ``heic``/``avif`` output and
``video/``/``doc/`` processing 501 NotImplemented.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..extras import INSTALL_HINT
from .errors import WireError

if TYPE_CHECKING:
    from PIL.Image import Image

PROCESS_PARAM = "x-oss-process"
SOURCE_MAX_BYTES = 20 * 1024 * 1024
SOURCE_MAX_SIDE = 30_000
SOURCE_MAX_PIXELS = 250_000_000
MAX_SIDE = 16_384
DEFAULT_QUALITY = 85
"""jpg/webp quality when neither the request nor a JPEG source says otherwise."""

#: Output format -> (Pillow's name, Content-Type).
FORMATS = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"),
           "webp": ("WEBP", "image/webp"), "bmp": ("BMP", "image/bmp"),
           "gif": ("GIF", "image/gif"), "tiff": ("TIFF", "image/tiff")}
#: Source formats OSS processes, by Pillow's name.
SOURCE_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp",
                  "GIF": "gif", "TIFF": "tiff"}
NOT_EMULATED = ("watermark", "blur", "bright", "contrast", "sharpen", "interlace", "circle",
                "rounded-corners", "indexcrop", "average-hue")
RESIZE_MODES = ("lfit", "mfit", "fill", "pad", "fixed")
GRAVITIES = ("nw", "north", "ne", "west", "center", "east", "sw", "south", "se")
# The IJG standard luminance quantization table (quality 50), to estimate a JPEG's quality.
_IJG_LUMINANCE_SUM = sum((
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
    56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81,
    104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99))

StyleLookup = Callable[[str], "str | None"]


def invalid(value: str, name: str, reason: str) -> WireError:
    """400 InvalidArgument in the words OSS's IMG uses."""
    return WireError(400, "InvalidArgument",
                     f"The value: {value} of parameter: {name} is invalid.reason:{reason}")


def not_implemented(what: str) -> WireError:
    return WireError(501, "NotImplemented", f"The emulator does not implement {what}.")


@dataclass
class Step:
    """One action of the chain: its ``k_v`` parameters and bare values, as given."""

    action: str
    params: dict[str, str] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int | None:
        text = self.params.get(key)
        if text is None:
            return default
        if not (text.isascii() and text.isdigit()):
            raise invalid(text, key, "Value must be digit")
        if not low <= int(text) <= high:
            raise invalid(text, key, f"Value must be in [{low}, {high}]")
        return int(text)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        text = self.params.get(key, default)
        if text not in choices:
            raise invalid(text, key, f"Value must be one of {', '.join(choices)}")
        return text

    def value(self, low: int, high: int) -> int:
        """The one bare integer value (``rotate,90``)."""
        if len(self.values) != 1:
            raise WireError(400, "MissingArgument", f"Missing argument for {self.action}.")
        text = self.values[0]
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise invalid(text, self.action, f"Value must be digit in [{low}, {high}]")
        return int(text)


def parse_chain(process: str) -> list[Step]:
    """The steps of an ``image/...`` value (errors for what OSS or the emulator refuses)."""
    kind, _, rest = process.partition("/")
    if kind in ("video", "doc", "audio"):
        raise not_implemented(f"{kind} processing")
    if kind != "image" or not rest:
        raise invalid(process, "x-oss-process", "Value must start with image/ or style/")
    steps = []
    for text in rest.split("/"):
        name, *parts = text.split(",")
        if name in NOT_EMULATED:
            raise not_implemented(f"the image action {name!r}")
        if name not in EMULATORS:
            raise invalid(name, "operation", "Unsupported operation")
        step = Step(name)
        for part in parts:
            key, sep, value = part.partition("_")
            if sep and key and name not in ("rotate", "auto-orient", "format"):
                step.params[key] = value
            else:
                step.values.append(part)
        steps.append(step)
    if any(step.action == "info" for step in steps[:-1]):
        raise invalid(process, "x-oss-process", "info must be the last action")
    return steps


@dataclass
class Work:
    """The image being processed and how it will be written."""

    image: Image
    source: bytes
    source_format: str
    format: str
    source_quality: int | None
    quality: tuple[str, int] | None = None  # ("q" or "Q", value)
    changed: bool = False


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise WireError(501, "NotImplemented", "Image processing in the emulator needs "
                        f"Pillow, which is not installed: {INSTALL_HINT}") from None
    return Image


def estimate_jpeg_quality(image: Image) -> int | None:
    """The IJG quality a JPEG was saved with, estimated from its luminance table."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    scale = 100.0 * sum(tables[0]) / _IJG_LUMINANCE_SUM
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return max(1, min(100, round(quality)))


def open_source(data: bytes) -> Work:
    """The source image, after OSS's limits on its size (errors as OSS answers them)."""
    image_module = _pillow()
    if len(data) > SOURCE_MAX_BYTES:
        raise WireError(400, "ImageTooLarge", "The image file size exceeds the limit of 20 MB.")
    try:
        image = image_module.open(io.BytesIO(data))
    except image_module.DecompressionBombError:
        raise WireError(400, "ImageTooLarge",
                        "The image exceeds the limit of 250 megapixels.") from None
    except Exception:  # Pillow raises several kinds for undecodable data
        raise WireError(400, "BadRequest", "The source object is not an image OSS can "
                        "process.") from None
    width, height = image.size
    if max(width, height) > SOURCE_MAX_SIDE or width * height > SOURCE_MAX_PIXELS:
        raise WireError(400, "ImageTooLarge", f"The image is {width} x {height} pixels: at "
                        f"most {SOURCE_MAX_SIDE} a side and {SOURCE_MAX_PIXELS} in all.")
    source_format = SOURCE_FORMATS.get(image.format or "")
    if source_format is None:
        raise WireError(400, "BadRequest", f"The image format {image.format} is not supported.")
    quality = estimate_jpeg_quality(image) if source_format == "jpg" else None
    try:
        image.load()
    except Exception:
        raise WireError(400, "BadRequest", "The source image is truncated or corrupt.") from None
    return Work(image, data, source_format, source_format, quality)


# --- actions ---------------------------------------------------------------------------------
def _resample(work: Work, size: tuple[int, int]) -> None:
    image = work.image
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    work.image = image.resize((max(1, size[0]), max(1, size[1])), _pillow().Resampling.LANCZOS)
    work.changed = True


def _box(step: Step, width: int, height: int) -> tuple[int | None, int | None]:
    """The w/h a resize asks for (``l``/``s``: the longer/shorter side)."""
    w, h = step.integer("w", 1, MAX_SIDE), step.integer("h", 1, MAX_SIDE)
    longer, shorter = step.integer("l", 1, MAX_SIDE), step.integer("s", 1, MAX_SIDE)
    if w is None and h is None:
        if longer is None and shorter is None:
            raise WireError(400, "MissingArgument", "Missing argument: resize needs w, h, l, s "
                            "or p.")
        w, h = (longer, shorter) if width >= height else (shorter, longer)
    return w, h


def resize(work: Work, step: Step) -> None:
    width, height = work.image.size
    mode = step.choice("m", RESIZE_MODES, "lfit")
    limit = step.integer("limit", 0, 1, 1)
    color = step.params.get("color", "FFFFFF")
    if len(color) != 6 or any(c not in "0123456789abcdefABCDEF" for c in color):
        raise invalid(color, "color", "Value must be a color as RRGGBB")
    percent = step.integer("p", 1, 1000)
    if percent is not None:
        if not (percent > 100 and limit):
            _resample(work, (round(width * percent / 100), round(height * percent / 100)))
        return
    w, h = _box(step, width, height)
    if mode in ("fill", "pad", "fixed"):
        w, h = w or h, h or w
    if mode == "fixed":
        assert w is not None and h is not None
        if not (limit and (w > width or h > height)):
            _resample(work, (w, h))
        return
    ratios = [r for r in (w / width if w else None, h / height if h else None) if r is not None]
    scale = min(ratios) if mode in ("lfit", "pad") else max(ratios)
    if limit and scale > 1:
        return
    _resample(work, (round(width * scale), round(height * scale)))
    if mode == "fill":
        assert w is not None and h is not None
        scaled_w, scaled_h = work.image.size
        left, top = (scaled_w - w) // 2, (scaled_h - h) // 2
        work.image = work.image.crop((left, top, left + w, top + h))
    elif mode == "pad":
        assert w is not None and h is not None
        _pad(work, w, h, tuple(int(color[i:i + 2], 16) for i in (0, 2, 4)))


def _pad(work: Work, w: int, h: int, color: tuple[int, ...]) -> None:
    image = work.image.convert("RGBA")
    canvas = _pillow().new("RGBA", (w, h), (*color, 255))
    canvas.paste(image, ((w - image.width) // 2, (h - image.height) // 2), image)
    work.image = canvas


_GRID = {"nw": "nn", "north": "cn", "ne": "fn", "west": "nc", "center": "cc", "east": "fc",
         "sw": "nf", "south": "cf", "se": "ff"}
"""Gravity -> where a crop sits on each axis (x, y): near side, center or far side."""


def _origin(gravity: str, size: int, length: int, offset: int, axis: int) -> int:
    """Where a crop of ``length`` starts on one axis (0: x, 1: y) for ``gravity``; the
    offset is a margin from the gravity's side (or from the center)."""
    cell = _GRID[gravity][axis]
    if cell == "n":
        return offset
    if cell == "c":
        return (size - length) // 2 + offset
    return size - length - offset


def crop(work: Work, step: Step) -> None:
    width, height = work.image.size
    x, y = step.integer("x", 0, 10 ** 6, 0), step.integer("y", 0, 10 ** 6, 0)
    gravity = step.choice("g", GRAVITIES, "nw")
    assert x is not None and y is not None
    if x >= width or y >= height:
        raise WireError(400, "BadRequest", "Advance cut's position is out of image.")
    w = step.integer("w", 1, MAX_SIDE) or width - x
    h = step.integer("h", 1, MAX_SIDE) or height - y
    left = max(0, _origin(gravity, width, w, x, 0))
    top = max(0, _origin(gravity, height, h, y, 1))
    right, bottom = min(width, left + w), min(height, top + h)
    if right <= left or bottom <= top:
        raise WireError(400, "BadRequest", "Advance cut's position is out of image.")
    work.image = work.image.crop((left, top, right, bottom))
    work.changed = True


def rotate(work: Work, step: Step) -> None:
    degrees = step.value(0, 360)
    image = work.image
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA")
    fills: dict[str, float | tuple[float, ...]] = {"RGB": (255, 255, 255), "RGBA": (0, 0, 0, 0),
                                                    "L": 255}
    fill = fills[image.mode]
    work.image = image.rotate(-degrees, expand=True, fillcolor=fill)
    work.changed = True


def auto_orient(work: Work, step: Step) -> None:
    if step.value(0, 1):
        from PIL import ImageOps

        work.image = ImageOps.exif_transpose(work.image)
        work.changed = True


def set_format(work: Work, step: Step) -> None:
    if len(step.values) != 1:
        raise WireError(400, "MissingArgument", "Missing argument for format.")
    name = step.values[0]
    if name in ("heic", "avif"):
        raise not_implemented(f"{name} output")
    if name not in FORMATS:
        raise invalid(name, "format", f"Value must be one of {', '.join(FORMATS)}")
    work.format = name


def set_quality(work: Work, step: Step) -> None:
    given = [key for key in ("q", "Q") if key in step.params]
    if len(given) != 1:
        raise WireError(400, "MissingArgument", "Missing argument: quality needs q or Q.")
    value = step.integer(given[0], 1, 100)
    assert value is not None
    work.quality = (given[0], value)


EMULATORS: dict[str, Callable[[Work, Step], None]] = {
    "resize": resize, "crop": crop, "rotate": rotate, "auto-orient": auto_orient,
    "format": set_format, "quality": set_quality, "info": lambda work, step: None,
}


# --- output ----------------------------------------------------------------------------------
def output_quality(work: Work) -> int:
    """The quality a jpg/webp output is written with (see the module docstring)."""
    source = work.source_quality if work.source_format == "jpg" else None
    if work.quality is None:
        return source or DEFAULT_QUALITY
    kind, value = work.quality
    if work.format != "jpg" or source is None:
        return value
    return max(1, round(source * value / 100)) if kind == "q" else min(value, source)


def encode(work: Work) -> bytes:
    """The processed image in its output format."""
    pil_name = FORMATS[work.format][0]
    image = work.image
    options: dict[str, Any] = {}
    if work.format in ("jpg", "webp"):
        options["quality"] = output_quality(work)
    if work.format in ("jpg", "bmp") and image.mode not in ("RGB", "L"):
        flat = _pillow().new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode in ("CMYK", "I", "F", "I;16"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, pil_name, **options)
    return buffer.getvalue()


def info(work: Work) -> bytes:
    """The ``info`` JSON, as OSS returns it (every value a string in ``{"value": ...}``)."""
    untouched = not work.changed and work.format == work.source_format and work.quality is None
    size = len(work.source) if untouched else len(encode(work))
    width, height = work.image.size
    return json.dumps({"FileSize": {"value": str(size)}, "Format": {"value": work.format},
                       "ImageHeight": {"value": str(height)},
                       "ImageWidth": {"value": str(width)}}).encode("utf-8")


def resolve_style(process: str, style: StyleLookup) -> str:
    """``process``, with ``style/<name>`` replaced by the style's processing string."""
    kind, _, name = process.partition("/")
    if kind != "style":
        return process
    saved = style(name)
    if saved is None:
        raise WireError(404, "NoSuchStyle", "The specified style does not exist.",
                        {"StyleName": name})
    return saved


def process_image(data: bytes, process: str, style: StyleLookup) -> tuple[bytes, str]:
    """Apply ``process`` (``image/...`` or ``style/<name>``) to the image ``data``: the
    body and Content-Type to answer with. Raises :class:`WireError` as OSS answers."""
    steps = parse_chain(resolve_style(process, style))
    work = open_source(data)
    for step in steps:
        EMULATORS[step.action](work, step)
    if steps[-1].action == "info":
        return info(work), "application/json"
    return encode(work), FORMATS[work.format][1]
