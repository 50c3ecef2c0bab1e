"""Title card, end card and the corner AI label, drawn with Pillow in the film's font.

Text stays inside the title-safe area (90% of the frame), centred, on the darkest colour of the
style bible's palette, so Chinese and English titles render the same way on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from director.errors import AssemblyError
from director.files import atomic_file
from director.records import Plan
from director.tools.assemble.fonts import FontInfo, pil_font, wrap

SAFE = 0.9  # title-safe fraction of the frame
CREDIT = {
    "en": "Made with director · previz storyboard",
    "zh": "由 director 制作 · 预演故事板",
}


@dataclass(frozen=True)
class TextBlock:
    text: str
    size: float  # fraction of the frame height
    colour: str


def title_card(plan: Plan, font: FontInfo | None = None) -> Image.Image:
    """The film's title, with the logline in smaller type beneath it."""
    _require(plan)
    background, ink, muted = _colours(plan)
    blocks = [TextBlock(plan.cards.title, 0.085, ink)]
    if plan.story.logline.strip():
        blocks.append(TextBlock(plan.story.logline.strip(), 0.038, muted))
    return _card(plan, blocks, background, font)


def end_card(plan: Plan, font: FontInfo | None = None) -> Image.Image:
    """The end title, the credit line and the AI-generated label."""
    _require(plan)
    background, ink, muted = _colours(plan)
    blocks = [
        TextBlock(plan.cards.end, 0.075, ink),
        TextBlock(CREDIT.get(plan.story.language, CREDIT["en"]), 0.032, muted),
        TextBlock(plan.cards.label, 0.032, muted),
    ]
    return _card(plan, blocks, background, font)


def label_image(text: str, frame_height: int, font: FontInfo | None = None) -> Image.Image:
    """The corner label: light text on a translucent dark plate, as an RGBA image."""
    face = _font(max(10, round(frame_height * 0.032)), font)
    left, top, right, bottom = face.getbbox(text)
    pad = max(3, round(frame_height * 0.012))
    image = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, *image.size), radius=pad, fill=(0, 0, 0, 150))
    draw.text((pad - left, pad - top), text, font=face, fill=(255, 255, 255, 235))
    return image


def save_png(image: Image.Image, path: Path) -> Path:
    """Write ``image`` atomically (temp file beside ``path``, then rename)."""
    path = Path(path)
    with atomic_file(path) as fh:
        image.save(fh, format="PNG")
    return path


# --- layout ---------------------------------------------------------------------------------


def _card(plan: Plan, blocks: list[TextBlock], background: str, font: FontInfo | None):
    width, height = plan.bible.width, plan.bible.height
    image = Image.new("RGB", (width, height), background)
    box_w, box_h = width * SAFE, height * SAFE
    scale = 1.0
    # Shrink every block together until the whole text fits the safe area.
    while True:
        laid = [_layout(b, height * scale, box_w, font) for b in blocks]
        total = _stack_height(laid, height)
        widest = max(face.getlength(line) for face, lines, _ in laid for line in lines)
        if (total <= box_h and widest <= box_w) or scale < 0.3:
            break
        scale *= 0.9
    draw = ImageDraw.Draw(image)
    y = (height - total) / 2
    for face, lines, colour in laid:
        for line in lines:
            draw.text((width / 2, y), line, font=face, fill=colour, anchor="ma")
            y += _line_height(face)
        y += height * 0.03
    return image


def _layout(block: TextBlock, height: float, width: float, font: FontInfo | None):
    face = _font(max(8, round(block.size * height)), font)
    return face, wrap(block.text, face, width), block.colour


def _stack_height(laid, frame_height: int) -> float:
    lines = sum(len(lines) * _line_height(face) for face, lines, _ in laid)
    return lines + frame_height * 0.03 * (len(laid) - 1)


def _line_height(face: ImageFont.FreeTypeFont) -> float:
    ascent, descent = face.getmetrics()
    return (ascent + descent) * 1.1


def _font(size: int, font: FontInfo | None) -> ImageFont.FreeTypeFont:
    if font is None:
        return pil_font(size)
    return ImageFont.truetype(str(font.path), size, index=font.index)


def _colours(plan: Plan) -> tuple[str, str, str]:
    """(background, text, secondary text): darkest palette colour, and light text on it."""
    palette = plan.bible.palette or ["#000000"]
    background = palette[0]
    light = palette[-1] if _luma(palette[-1]) - _luma(background) > 0.45 else "#f5f5f5"
    return background, light, _mix(light, background, 0.75)


def _luma(colour: str) -> float:
    r, g, b = ImageColor.getrgb(colour)[:3]
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _mix(a: str, b: str, weight: float) -> str:
    ra, rb = ImageColor.getrgb(a)[:3], ImageColor.getrgb(b)[:3]
    return "#" + "".join(
        f"{round(x * weight + y * (1 - weight)):02x}" for x, y in zip(ra, rb, strict=True)
    )


def _require(plan: Plan) -> None:
    if plan.cards is None or plan.bible is None:
        raise AssemblyError(
            "The plan has no cards or style bible, so the title and end cards cannot be drawn.",
            "Plan the style bible (it sets the cards) before assembling the film.",
        )
