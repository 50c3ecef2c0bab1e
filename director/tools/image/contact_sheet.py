"""A contact sheet: every keyframe of a film (or of one beat) as a thumbnail, on one PNG.

Under each thumbnail: the shot's id and, when given, a caption saying what the shot shows, in
type sized to the thumbnail so it reads at the sheet's own size (a caption band baked into a
storyboard frame does not: at a quarter of its size it is a few pixels tall, so it is left off
the thumbnail when its height is known). A flagged shot, one taken below threshold, gets a red
frame and a red "FLAGGED: reason" beside its id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from director.errors import InputError
from director.records import Shot
from director.tools.assemble.fonts import fit, pil_font, wrap
from director.tools.image.previz import write_png

BACKGROUND = (18, 18, 20)
LABEL = (236, 234, 228)
CAPTION = (190, 188, 182)
MISSING = (60, 24, 24)
FLAG = (228, 52, 44)
# Type size as a share of the thumbnail width: 21 px type on a 320 px thumbnail, whose capitals
# stand 16 px tall, about the size of body text on a screen.
TYPE_SHARE = 1 / 15
MIN_TYPE = 11
CAPTION_LINES = 2


@dataclass(frozen=True)
class Tile:
    """One thumbnail: the image, its label (the shot id), what it shows, and how many pixels
    of caption band the image carries at its bottom (left off the thumbnail)."""

    path: Path
    label: str
    caption: str = ""
    band_px: int = 0


def shot_tiles(
    shots: Iterable[Shot],
    root: Path,
    keyframes: Mapping[str, str],
    bands: Mapping[str, int] | None = None,
) -> list[Tile]:
    """A tile per shot: its keyframe (``keyframes`` holds paths relative to ``root``), its id,
    who is in it and what they do, and the keyframe's caption band height from ``bands``."""
    bands = bands or {}
    return [
        Tile(Path(root) / keyframes[s.id], s.id, shot_caption(s), int(bands.get(s.id, 0) or 0))
        for s in shots
    ]


def shot_caption(shot: Shot) -> str:
    """Who and what: the characters' names (their identity blocks are long), else the subject."""
    who = ", ".join(shot.characters) or shot.prompt.subject
    return " — ".join(part.strip() for part in (who, shot.prompt.action) if part.strip())


def contact_sheet(
    items: Sequence[Tile | tuple[Path, str]],
    dest: Path,
    *,
    columns: int = 4,
    thumb_width: int = 320,
    flagged: Mapping[str, str | Sequence[str]] | None = None,
) -> Path:
    """Lay out tiles (or ``(image path, label)`` pairs) in a grid, row by row; write ``dest``.

    ``flagged`` maps a label to why that shot was flagged (a sentence, or the names of the
    checks it failed); those tiles are framed and labelled in red. Thumbnails keep the first
    readable image's aspect ratio; an image that cannot be read is drawn as a dark red tile so a
    sheet is still made and the gap is visible.
    """
    tiles = [item if isinstance(item, Tile) else Tile(Path(item[0]), item[1]) for item in items]
    _check(tiles, columns, thumb_width)
    grid = _Grid.of(tiles, columns, thumb_width)
    sheet = Image.new("RGB", grid.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        x, y = grid.origin(i)
        sheet.paste(_thumbnail(tile, grid.thumb_w, grid.thumb_h), (x, y))
        reason = (flagged or {}).get(tile.label)
        if reason is not None:
            _frame(draw, grid, x, y)
        _text(draw, grid, tile, x, y + grid.thumb_h, flag_text(reason))
    dest = Path(dest)
    write_png(sheet, dest)
    return dest


def flag_text(reason: str | Sequence[str] | None) -> str:
    """The red words beside a flagged shot's id; empty for a shot that was not flagged."""
    if reason is None:
        return ""
    words = reason if isinstance(reason, str) else ", ".join(r for r in reason if r)
    return f"FLAGGED: {words.strip() or 'below threshold'}"


def _check(tiles: list[Tile], columns: int, thumb_width: int) -> None:
    if not tiles:
        raise InputError(
            "A contact sheet needs at least one image.", "Pass the keyframes to lay out."
        )
    if columns < 1 or thumb_width < 16:
        raise InputError(
            f"Cannot lay out {columns} columns of {thumb_width} px thumbnails.",
            "Use at least 1 column and a thumbnail width of 16 px or more.",
        )


@dataclass(frozen=True)
class _Grid:
    columns: int
    rows: int
    thumb_w: int
    thumb_h: int
    type_px: int
    line_h: int
    text_h: int
    gap: int
    captions: int

    @classmethod
    def of(cls, tiles: list[Tile], columns: int, thumb_width: int) -> _Grid:
        type_px = max(MIN_TYPE, round(thumb_width * TYPE_SHARE))
        ascent, descent = pil_font(type_px).getmetrics()
        line_h = round((ascent + descent) * 1.1)
        captions = CAPTION_LINES if any(t.caption.strip() for t in tiles) else 0
        columns = min(columns, len(tiles))
        return cls(
            columns=columns,
            rows=math.ceil(len(tiles) / columns),
            thumb_w=thumb_width,
            thumb_h=round(thumb_width / _aspect(tiles)),
            type_px=type_px,
            line_h=line_h,
            text_h=round(line_h * (1 + captions) + type_px * 0.5),
            # Room between tiles for a flagged tile's frame, which sits outside the picture.
            gap=max(6, thumb_width // 26),
            captions=captions,
        )

    @property
    def border(self) -> int:
        return max(2, self.gap // 2)

    @property
    def size(self) -> tuple[int, int]:
        cell_w, cell_h = self.thumb_w + self.gap, self.thumb_h + self.text_h + self.gap
        return self.gap + self.columns * cell_w, self.gap + self.rows * cell_h

    def origin(self, i: int) -> tuple[int, int]:
        row, col = divmod(i, self.columns)
        return (
            self.gap + col * (self.thumb_w + self.gap),
            self.gap + row * (self.thumb_h + self.text_h + self.gap),
        )


def _frame(draw: ImageDraw.ImageDraw, grid: _Grid, x: int, y: int) -> None:
    """A red frame around the whole tile, picture and text, drawn in the gap so it hides none."""
    b = grid.border
    box = (x - b, y - b, x + grid.thumb_w + b - 1, y + grid.thumb_h + grid.text_h + b - 1)
    draw.rectangle(box, outline=FLAG, width=b)


def _text(draw: ImageDraw.ImageDraw, grid: _Grid, tile: Tile, x: int, y: int, flag: str) -> None:
    font, width = pil_font(grid.type_px), grid.thumb_w
    top = y + round(grid.type_px * 0.25)
    label = fit(tile.label, font, width)
    draw.text((x, top), label, font=font, fill=LABEL)
    if flag:
        after = font.getlength(label + "  ")
        draw.text((x + after, top), fit(flag, font, width - after), font=font, fill=FLAG)
    lines = wrap(tile.caption, font, width, grid.captions) if grid.captions else []
    for i, line in enumerate(lines):
        draw.text((x, top + (i + 1) * grid.line_h), line, font=font, fill=CAPTION)


def _aspect(tiles: list[Tile]) -> float:
    for tile in tiles:
        try:
            with Image.open(tile.path) as img:
                return img.width / max(1, img.height - _band(tile, img.height))
        except (OSError, Image.DecompressionBombError):
            continue
    return 16 / 9


def _band(tile: Tile, height: int) -> int:
    """The caption band to leave off, never more than half the image."""
    return min(max(0, tile.band_px), height // 2)


def _thumbnail(tile: Tile, width: int, height: int) -> Image.Image:
    """The image (less its caption band) fitted inside width x height, centred."""
    from director.errors import InputError
    from director.tools.critics.imaging import open_rgb

    canvas = Image.new("RGB", (width, height), BACKGROUND)
    try:  # a file that is no image, or one too large to decode safely, shows as missing
        img = open_rgb(tile.path)
    except (OSError, InputError):
        img = None
    if img is None:
        return Image.new("RGB", (width, height), MISSING)
    img = img.crop((0, 0, img.width, img.height - _band(tile, img.height)))
    img.thumbnail((width, height), Image.Resampling.LANCZOS)
    canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
    return canvas
