"""The contact sheet: flagged shots marked, captions readable at the sheet's own size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from director.records import Shot, ShotPrompt
from director.tools.image.contact_sheet import (
    BACKGROUND,
    FLAG,
    Tile,
    contact_sheet,
    flag_text,
    shot_caption,
    shot_tiles,
)

COLOURS = [(90, 110, 140), (120, 140, 90), (150, 120, 100), (80, 80, 90)]


def solid(tmp_path, name, colour, size=(1280, 720)):
    path = tmp_path / f"{name}.png"
    Image.new("RGB", size, colour).save(path)
    return path


def tiles(tmp_path, captions=("",) * 4):
    return [
        Tile(solid(tmp_path, f"s{i}", c), f"s00{i + 1}", caption)
        for i, (c, caption) in enumerate(zip(COLOURS, captions, strict=True))
    ]


def cells(pixels: np.ndarray, count: int, columns: int, rows: int) -> list[np.ndarray]:
    """The sheet cut into equal cells (each tile with its half of the gaps around it)."""
    h, w = pixels.shape[:2]
    ch, cw = h // rows, w // columns
    return [
        pixels[
            (i // columns) * ch : (i // columns + 1) * ch,
            (i % columns) * cw : (i % columns + 1) * cw,
        ]
        for i in range(count)
    ]


def flag_pixels(cell: np.ndarray) -> int:
    return int((np.abs(cell.astype(int) - FLAG).sum(axis=2) < 60).sum())


def ink_rows(band: np.ndarray) -> list[tuple[int, int]]:
    """Runs of rows holding text (pixels well away from the background), as (first, last)."""
    ink = (np.abs(band.astype(int) - BACKGROUND).sum(axis=2) > 120).any(axis=1)
    runs, start = [], None
    for y, on in enumerate([*ink, False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            runs.append((start, y - 1))
            start = None
    return runs


def test_a_flagged_shot_is_framed_and_labelled_in_red_and_no_other_is(tmp_path):
    dest = contact_sheet(
        tiles(tmp_path), tmp_path / "sheet.png", columns=2, flagged={"s002": ["palette"]}
    )
    pixels = np.asarray(Image.open(dest))
    found = [flag_pixels(c) for c in cells(pixels, 4, columns=2, rows=2)]
    assert found[1] > 4 * 320  # a frame at least a pixel wide all the way round
    assert found[0] == found[2] == found[3] == 0
    # The red words sit in the text under the picture, inside the frame.
    cell = cells(pixels, 4, 2, 2)[1]
    text = cell[200:-12, 12:-12]
    assert flag_pixels(text) > 40


def test_flag_reasons_are_said_in_words():
    assert flag_text(["palette", "exposure"]) == "FLAGGED: palette, exposure"
    assert flag_text([]) == "FLAGGED: below threshold"
    assert flag_text("identity drifted") == "FLAGGED: identity drifted"
    assert flag_text(None) == ""


def test_an_unflagged_sheet_has_no_red_at_all(tmp_path):
    dest = contact_sheet(tiles(tmp_path), tmp_path / "sheet.png", columns=2)
    assert flag_pixels(np.asarray(Image.open(dest))) == 0


def test_labels_and_captions_stand_at_least_14_px_tall_on_the_real_sheet(tmp_path):
    # The sheet's real size: 320 px thumbnails of 1280x720 keyframes (what a run writes).
    items = tiles(tmp_path, captions=("Lin — kneels by the seedling",) * 4)
    pixels = np.asarray(Image.open(contact_sheet(items, tmp_path / "sheet.png")))
    thumb_h = round(320 / (16 / 9))
    gap = 12
    under = pixels[gap + thumb_h : pixels.shape[0] - gap, gap : gap + 320]
    runs = ink_rows(under)
    assert len(runs) == 2  # the label line, the caption line
    heights = [b - a + 1 for a, b in runs]
    assert min(heights) >= 14, heights


def render_caption(tmp_path, text: str, name: str) -> np.ndarray:
    item = Tile(solid(tmp_path, name, COLOURS[0]), "s001", text)
    pixels = np.asarray(Image.open(contact_sheet([item], tmp_path / f"{name}-sheet.png")))
    return pixels[12 + 180 :, :]


def test_chinese_captions_render_as_real_glyphs_not_boxes(tmp_path):
    # A font without Chinese draws every character as the same box ("tofu"): two different
    # names would then look alike. Check the test can tell.
    tofu = ImageFont.load_default(21)
    boxes = []
    for text in ("林奶奶", "王爷爷"):
        img = Image.new("L", (120, 40))
        ImageDraw.Draw(img).text((0, 0), text, font=tofu, fill=255)
        boxes.append(np.asarray(img))
    assert np.array_equal(*boxes)
    a = render_caption(tmp_path, "林奶奶 — 跪在幼苗旁", "a")
    b = render_caption(tmp_path, "王爷爷 — 跪在幼苗旁", "b")
    assert (a != b).any(axis=2).sum() > 100
    heights = [y1 - y0 + 1 for y0, y1 in ink_rows(a)]
    assert min(heights) >= 14


def test_a_baked_caption_band_is_left_off_the_thumbnail(tmp_path):
    frame = Image.new("RGB", (1280, 720), (40, 90, 160))
    ImageDraw.Draw(frame).rectangle((0, 620, 1280, 720), fill=(250, 250, 250))
    path = tmp_path / "frame.png"
    frame.save(path)
    with_band = np.asarray(Image.open(contact_sheet([Tile(path, "s001")], tmp_path / "a.png")))
    cropped = np.asarray(
        Image.open(contact_sheet([Tile(path, "s001", band_px=100)], tmp_path / "b.png"))
    )
    white = lambda p: int((p[:, :, :].min(axis=2) > 240).sum())  # noqa: E731
    assert white(with_band[12 : 12 + 180]) > 320 * 20
    assert white(cropped[12 : 12 + 150]) == 0
    # The picture keeps its proportions: the thumbnail is shorter, not squeezed.
    assert cropped.shape[0] < with_band.shape[0]


def shot(characters, subject="a man in his forties, lean, wearing a long brown coat"):
    return Shot(
        id="s004",
        beat_id="b01",
        index=3,
        role="wide",
        size="wide",
        angle="eye-level",
        move="static",
        duration_s=4.0,
        prompt=ShotPrompt(
            subject=subject,
            action="climbs onto a ledge",
            environment="the shore",
            camera="wide shot",
            style="storyboard",
        ),
        characters=characters,
    )


def test_a_shot_caption_names_the_characters_not_their_identity_block(tmp_path):
    assert shot_caption(shot(["Soren"])) == "Soren — climbs onto a ledge"
    assert shot_caption(shot([], "the rope winch")) == "the rope winch — climbs onto a ledge"
    made = shot_tiles([shot(["Soren"])], tmp_path, {"s004": "keyframes/s004/2.png"}, {"s004": 101})
    assert made == [
        Tile(tmp_path / "keyframes/s004/2.png", "s004", "Soren — climbs onto a ledge", 101)
    ]


@pytest.mark.parametrize("width", [16, 160, 320, 640])
def test_any_thumbnail_width_lays_out(tmp_path, width):
    dest = contact_sheet(
        tiles(tmp_path, captions=("a long caption " * 8,) * 4),
        tmp_path / "sheet.png",
        thumb_width=width,
        flagged={"s001": "too dark"},
    )
    assert Image.open(dest).width > 4 * width
