"""``x-oss-process`` values for OSS image processing, checked before they go into a URL.

A value is ``image/<action>,<param>,.../<action>,...`` (actions applied in order) or
``style/<name>`` (a style saved in the bucket). :func:`validate_process` checks the
syntax the service would refuse: unknown actions, unknown or repeated parameters,
values out of the documented ranges, a missing required parameter. It raises
``ValueError`` with a message naming the action and the parameter; nothing here sends a
request.

Named styles of the ``image_styles`` option (``{"thumb": "image/resize,w_200"}``) are
resolved by :func:`resolve_process`, so ``storage.url(name, process="thumb")`` and the
``oss_image`` template filter accept a style name or a processing string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

PROCESS_PARAM = "x-oss-process"
MAX_SIDE = 16384
"""Largest width, height, longer or shorter side a resize may ask for."""
FORMATS = ("jpg", "png", "webp", "bmp", "gif", "tiff", "heic", "avif")
GRAVITIES = ("nw", "north", "ne", "west", "center", "east", "sw", "south", "se")
RESIZE_MODES = ("lfit", "mfit", "fill", "pad", "fixed")

_STYLE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_INTEGER = re.compile(r"-?[0-9]{1,9}")
_COLOR = re.compile(r"[0-9A-Fa-f]{6}")
_BASE64URL = re.compile(r"[A-Za-z0-9_=-]+")

Check = Callable[[str], str | None]
"""A parameter check: the reason a value is invalid, or None."""


def _integer(low: int, high: int) -> Check:
    def check(value: str) -> str | None:
        if not _INTEGER.fullmatch(value):
            return "must be an integer"
        if not low <= int(value) <= high:
            return f"must be {low}..{high}"
        return None
    return check


def _choice(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _pattern(regex: re.Pattern[str], what: str) -> Check:
    def check(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"must be {what}"
    return check


_SIDE = _integer(1, MAX_SIDE)
_OFFSET = _integer(0, MAX_SIDE)
_FLAG = _choice("0", "1")
_GRAVITY = _choice(*GRAVITIES)
_COLOR_HEX = _pattern(_COLOR, "a color as 6 hex digits (RRGGBB)")
_ENCODED = _pattern(_BASE64URL, "URL-safe base64")


@dataclass(frozen=True)
class Action:
    """What one action accepts: ``key_value`` parameters (``w_200``), or one bare
    ``value`` (``rotate,90``); ``needs`` lists groups of which one key must be given;
    ``exclusive`` keys may not be combined."""

    params: Mapping[str, Check] = field(default_factory=dict)
    value: Check | None = None
    value_required: bool = False
    needs: tuple[tuple[str, ...], ...] = ()
    exclusive: tuple[str, ...] = ()


ACTIONS: dict[str, Action] = {
    "resize": Action({"m": _choice(*RESIZE_MODES), "w": _SIDE, "h": _SIDE, "l": _SIDE,
                      "s": _SIDE, "limit": _FLAG, "color": _COLOR_HEX,
                      "p": _integer(1, 1000)},
                     needs=(("w", "h", "l", "s", "p"),)),
    "crop": Action({"w": _SIDE, "h": _SIDE, "x": _OFFSET, "y": _OFFSET, "g": _GRAVITY},
                   needs=(("w", "h", "x", "y"),)),
    "rotate": Action(value=_integer(0, 360), value_required=True),
    "auto-orient": Action(value=_FLAG, value_required=True),
    "format": Action(value=_choice(*FORMATS), value_required=True),
    "quality": Action({"q": _integer(1, 100), "Q": _integer(1, 100)}, needs=(("q", "Q"),),
                      exclusive=("q", "Q")),
    "info": Action(),
    "average-hue": Action(),
    "interlace": Action(value=_FLAG, value_required=True),
    "bright": Action(value=_integer(-100, 100), value_required=True),
    "contrast": Action(value=_integer(-100, 100), value_required=True),
    "sharpen": Action(value=_integer(50, 399), value_required=True),
    "blur": Action({"r": _integer(1, 50), "s": _integer(1, 50)}, needs=(("r",), ("s",))),
    "circle": Action({"r": _integer(1, 4096)}, needs=(("r",),)),
    "rounded-corners": Action({"r": _integer(1, 4096)}, needs=(("r",),)),
    "indexcrop": Action({"x": _SIDE, "y": _SIDE, "i": _integer(0, MAX_SIDE)},
                        needs=(("x", "y"),), exclusive=("x", "y")),
    "watermark": Action({
        "t": _integer(0, 100), "g": _GRAVITY, "x": _integer(0, 4096), "y": _integer(0, 4096),
        "voffset": _integer(-1000, 1000), "fill": _FLAG, "padx": _integer(0, 4096),
        "pady": _integer(0, 4096), "text": _ENCODED, "type": _ENCODED, "color": _COLOR_HEX,
        "size": _integer(1, 1000), "shadow": _integer(0, 100), "rotate": _integer(0, 360),
        "image": _ENCODED, "order": _FLAG, "align": _integer(0, 2),
        "interval": _integer(0, 1000)}, needs=(("text", "image"),)),
}


def _check_parameters(name: str, spec: Action, parts: list[str]) -> None:
    """Raise ValueError unless ``parts`` (the action's comma-separated items after its
    name) are what ``spec`` accepts."""
    given: dict[str, str] = {}
    bare: list[str] = []
    for part in parts:
        key, sep, value = part.partition("_")
        if sep and key in spec.params:
            if key in given:
                raise ValueError(f"{name}: parameter {key!r} is given twice")
            given[key] = value
        elif spec.value is not None and not bare:
            bare.append(part)
        else:
            known = ", ".join(f"{k}_" for k in spec.params) or "none"
            raise ValueError(f"{name}: unknown parameter {part!r} (accepted: {known})")
    for key, value in given.items():
        reason = spec.params[key](value)
        if reason:
            raise ValueError(f"{name}: {key}_{value} is invalid: {key} {reason}")
    if spec.value is not None:
        if not bare and spec.value_required:
            raise ValueError(f"{name} needs a value, e.g. {name},<value>")
        reason = spec.value(bare[0]) if bare else None
        if reason:
            raise ValueError(f"{name}: {bare[0]!r} is invalid: the value {reason}")
    for group in spec.needs:
        if not any(key in given for key in group):
            raise ValueError(f"{name} needs {' or '.join(f'{k}_' for k in group)}")
    if sum(key in given for key in spec.exclusive) > 1:
        raise ValueError(f"{name}: {' and '.join(spec.exclusive)} cannot be combined")


def validate_style_name(name: str) -> str:
    """``name`` if it can name a style (1-64 of letters, digits, ``_``, ``-``, ``.``)."""
    if not isinstance(name, str) or not _STYLE_NAME.fullmatch(name):
        raise ValueError(f"invalid style name {name!r}: 1 to 64 letters, digits, '_', '-' "
                         "or '.'")
    return name


def validate_process(value: str) -> str:
    """Return ``value`` stripped if it is a valid ``x-oss-process`` value for images
    (``image/...`` or ``style/<name>``); raise ``ValueError`` saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"x-oss-process must be a string, not {type(value).__name__}")
    text = value.strip()
    kind, _, rest = text.partition("/")
    if kind == "style":
        try:
            validate_style_name(rest)
        except ValueError as exc:
            raise ValueError(f"invalid x-oss-process {value!r}: {exc}") from None
        return text
    if kind != "image" or not rest:
        raise ValueError(f"invalid x-oss-process {value!r}: expected image/<action>,... "
                         "or style/<name>")
    for index, action in enumerate(rest.split("/")):
        name, *parts = action.split(",")
        spec = ACTIONS.get(name)
        if spec is None:
            raise ValueError(f"invalid x-oss-process {value!r}: unknown image action "
                             f"{name!r} (known: {', '.join(ACTIONS)})")
        if name == "info" and index != rest.count("/"):
            raise ValueError(f"invalid x-oss-process {value!r}: info must be the last action")
        try:
            _check_parameters(name, spec, parts)
        except ValueError as exc:
            raise ValueError(f"invalid x-oss-process {value!r}: {exc}") from None
    return text


def resolve_process(value: str, styles: Mapping[str, str]) -> str:
    """The ``x-oss-process`` value for ``value``: the processing string of the named
    style in ``styles`` (the ``image_styles`` option), else ``value`` itself; validated
    either way (``ValueError`` naming the known styles when it is neither)."""
    if isinstance(value, str) and value in styles:
        try:
            return validate_process(styles[value])
        except ValueError as exc:
            raise ValueError(f"image style {value!r}: {exc}") from None
    if isinstance(value, str) and "/" not in value and _STYLE_NAME.fullmatch(value.strip()):
        known = ", ".join(sorted(styles)) or "none defined"
        raise ValueError(f"unknown image style {value!r} (image_styles: {known}); a "
                         "processing string starts with image/ or style/")
    return validate_process(value)


def validate_styles(styles: Mapping[str, str]) -> None:
    """Raise ``ValueError`` naming the first invalid entry of ``image_styles``."""
    for name, process in styles.items():
        try:
            validate_style_name(name)
            validate_process(process)
        except ValueError as exc:
            raise ValueError(f"image style {name!r}: {exc}") from None
