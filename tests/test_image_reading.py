"""Images are read as they are meant to be seen: EXIF orientation applied, deep greyscale
scaled rather than clipped, transparency laid on white; faces are found in all of them."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image

from director.tools.critics.imaging import open_rgb

ORIENTATION = 0x0112


def _upright() -> Image.Image:
    """The astronaut's head and shoulders (the whole photo's badge passes for a second face
    once JPEG-compressed)."""
    return Image.fromarray(skdata.astronaut()).crop((60, 0, 400, 300))


def _close(a: Image.Image, b: Image.Image, tolerance: float) -> bool:
    if a.size != b.size:
        return False
    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
    return float(diff.mean()) <= tolerance


@pytest.fixture
def sideways(tmp_path):
    """A phone photo: pixels stored turned, with EXIF orientation 6 ("rotate 90 clockwise")."""
    path = tmp_path / "sideways.jpg"
    stored = _upright().transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    stored.save(path, quality=95, exif=exif)
    return path


@pytest.fixture
def deep_grey(tmp_path):
    path = tmp_path / "grey16.png"
    grey = np.asarray(_upright().convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(path)  # a 16-bit greyscale PNG
    return path


def test_exif_orientation_is_applied(sideways):
    assert _close(open_rgb(sideways), _upright(), tolerance=4.0)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(deep_grey):
    with Image.open(deep_grey) as raw:
        assert raw.mode.startswith("I")
    assert _close(open_rgb(deep_grey), _upright().convert("L").convert("RGB"), tolerance=1.0)


def test_transparency_is_laid_on_white(tmp_path):
    path = tmp_path / "cutout.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert open_rgb(path).getpixel((3, 3)) == (255, 255, 255)


@pytest.mark.parametrize("photo", ["sideways", "deep_grey"])
def test_a_reference_face_is_found_in_a_turned_or_deep_photo(photo, request, tmp_path):
    from director.tools.critics.face_dlib import DlibFaces

    faces = DlibFaces()
    face = faces.reference_face(request.getfixturevalue(photo))
    upright = tmp_path / "upright.png"  # the same picture, stored plainly
    (_upright().convert("L") if photo == "deep_grey" else _upright()).save(upright)
    same = faces.similarity(face.embedding, faces.reference_face(upright).embedding)
    assert same >= 0.9
