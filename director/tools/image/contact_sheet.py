"""A contact sheet: every keyframe of a film as a thumbnail with its label, on one PNG."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

from director.errors import InputError
from director.tools.assemble.fonts import pil_font
from director.tools.image.previz import fit, write_png

BACKGROUND = (18, 18, 20)
LABEL = (228, 226, 220)
MISSING = (60, 24, 24)


def contact_sheet(
    items: list[tuple[Path, str]], dest: Path, *, columns: int = 4, thumb_width: int = 320
) -> Path:
    """Lay out ``(image path, label)`` pairs in a grid, row by row, and write ``dest`` (PNG).

    Thumbnails keep the first image's aspect ratio; an image that cannot be read is drawn as
    a dark red tile so a sheet is still made and the gap is visible.
    """
    if not items:
        raise InputError(
            "A contact sheet needs at least one image.", "Pass the keyframes to lay out."
        )
    if columns < 1 or thumb_width < 16:
        raise InputError(
            f"Cannot lay out {columns} columns of {thumb_width} px thumbnails.",
            "Use at least 1 column and a thumbnail width of 16 px or more.",
        )
    thumb_h = round(thumb_width / _aspect(items))
    font = pil_font(max(10, thumb_width // 22))
    label_h, gap = int(font.size * 1.6), max(4, thumb_width // 40)
    columns = min(columns, len(items))
    rows = math.ceil(len(items) / columns)
    sheet = Image.new(
        "RGB",
        (gap + columns * (thumb_width + gap), gap + rows * (thumb_h + label_h + gap)),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    for i, (path, label) in enumerate(items):
        x = gap + (i % columns) * (thumb_width + gap)
        y = gap + (i // columns) * (thumb_h + label_h + gap)
        sheet.paste(_thumbnail(Path(path), thumb_width, thumb_h), (x, y))
        text = fit(label, font, thumb_width)
        draw.text((x, y + thumb_h + label_h * 0.15), text, font=font, fill=LABEL)
    dest = Path(dest)
    write_png(sheet, dest)
    return dest


def _aspect(items: list[tuple[Path, str]]) -> float:
    for path, _ in items:
        try:
            with Image.open(path) as img:
                return img.width / img.height
        except OSError:
            continue
    return 16 / 9


def _thumbnail(path: Path, width: int, height: int) -> Image.Image:
    """The image fitted inside width x height, centred on the sheet's background."""
    tile = Image.new("RGB", (width, height), BACKGROUND)
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((width, height), Image.Resampling.LANCZOS)
    except OSError:
        return Image.new("RGB", (width, height), MISSING)
    tile.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
    return tile
