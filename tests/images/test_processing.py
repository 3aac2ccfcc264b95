"""x-oss-process values checked before any request: what OSS accepts passes unchanged,
what it refuses raises a ValueError that says which action and parameter."""

from __future__ import annotations

import pytest

from django_alioss.processing import resolve_process, validate_process, validate_styles

VALID = [
    "image/resize,w_200",
    "image/resize,m_fill,w_40,h_40/format,webp",
    "image/resize,m_pad,w_100,h_100,color_FF0000,limit_0",
    "image/resize,l_16384",
    "image/resize,s_1",
    "image/resize,p_50",
    "image/crop,w_100,h_100,x_10,y_10,g_se",
    "image/rotate,90",
    "image/rotate,0",
    "image/auto-orient,1/resize,w_100/quality,q_80/format,jpg",
    "image/quality,Q_90",
    "image/info",
    "image/format,avif",
    "image/watermark,text_SGVsbG8gV29ybGQ,g_se,x_10,y_10",
    "image/blur,r_3,s_2",
    "image/bright,-50/contrast,30/sharpen,100/interlace,1",
    "style/thumb-small_v2.x",
]

INVALID = [
    ("image/resize", "resize needs w_ or h_ or l_ or s_ or p_"),
    ("image/resize,w_0", "w must be 1..16384"),
    ("image/resize,h_16385", "h must be 1..16384"),
    ("image/resize,w_abc", "w must be an integer"),
    ("image/resize,m_stretch,w_10", "m must be one of lfit, mfit, fill, pad, fixed"),
    ("image/resize,w_10,color_red", "color must be a color as 6 hex digits"),
    ("image/resize,w_10,w_20", "parameter 'w' is given twice"),
    ("image/resize,w_10,", "unknown parameter ''"),
    ("image/resize,x_10", "unknown parameter 'x_10'"),
    ("image/resise,w_10", "unknown image action 'resise'"),
    ("image/crop,g_middle,w_10", "g must be one of nw, north"),
    ("image/crop", "crop needs w_ or h_ or x_ or y_"),
    ("image/rotate", "rotate needs a value"),
    ("image/rotate,361", "must be 0..360"),
    ("image/auto-orient,2", "must be one of 0, 1"),
    ("image/format,jpeg", "must be one of jpg, png, webp"),
    ("image/quality,q_0", "q must be 1..100"),
    ("image/quality,q_80,Q_90", "q and Q cannot be combined"),
    ("image/quality", "quality needs q_ or Q_"),
    ("image/info/resize,w_10", "info must be the last action"),
    ("image/resize,w_10//format,png", "unknown image action ''"),
    ("image/", "expected image/<action>"),
    ("video/snapshot,t_1000", "expected image/<action>"),
    ("resize,w_100", "expected image/<action>"),
    ("style/", "invalid style name ''"),
    ("style/a b", "invalid style name 'a b'"),
    ("image/watermark,g_se", "watermark needs text_ or image_"),
]


@pytest.mark.parametrize("value", VALID)
def test_valid_values_pass_unchanged(value: str) -> None:
    assert validate_process(value) == value
    assert validate_process(f"  {value} ") == value


@pytest.mark.parametrize(("value", "message"), INVALID, ids=[v for v, _ in INVALID])
def test_invalid_values_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="invalid x-oss-process") as raised:
        validate_process(value)
    assert message in str(raised.value)


def test_not_a_string() -> None:
    with pytest.raises(ValueError, match="must be a string, not int"):
        validate_process(200)  # type: ignore[arg-type]


def test_resolve_a_style_name_or_a_processing_string() -> None:
    styles = {"thumb": "image/resize,w_100", "card": "style/card"}
    assert resolve_process("thumb", styles) == "image/resize,w_100"
    assert resolve_process("card", styles) == "style/card"
    assert resolve_process("image/rotate,90", styles) == "image/rotate,90"
    with pytest.raises(ValueError, match=r"unknown image style 'thumbnail' \(image_styles: "
                                         r"card, thumb\)"):
        resolve_process("thumbnail", styles)
    with pytest.raises(ValueError, match="image_styles: none defined"):
        resolve_process("thumb", {})
    with pytest.raises(ValueError, match="image style 'bad': invalid x-oss-process"):
        resolve_process("bad", {"bad": "image/resize"})


def test_validate_styles_names_the_bad_entry() -> None:
    validate_styles({"thumb": "image/resize,w_100", "big.v2": "image/resize,w_1000"})
    with pytest.raises(ValueError, match=r"image style 'big': .*w must be 1\.\.16384"):
        validate_styles({"thumb": "image/resize,w_100", "big": "image/resize,w_99999"})
    with pytest.raises(ValueError, match="image style 'two words': invalid style name"):
        validate_styles({"two words": "image/resize,w_100"})
