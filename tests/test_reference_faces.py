"""A cast reference's face is found once per process: the run checks each reference before it
starts and the identity critic compares every frame with it, but the detector runs once."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut

from director.agent.cast import resolve_cast
from director.tools.critics import faces
from director.tools.critics.face_dlib import DlibFaces
from director.tools.critics.identity import IdentityCritic
from director.tools.critics.registered import CriticSetup

pytest.importorskip("dlib")


@pytest.fixture
def detections(monkeypatch):
    """Every image the dlib backend is asked to search, with an empty cache to start from."""
    monkeypatch.setattr(faces, "_REFERENCE_FACES", OrderedDict())
    seen, detect = [], DlibFaces.detect

    def counting(self, image_rgb, *, expect=1):
        seen.append(image_rgb.shape)
        return detect(self, image_rgb, expect=expect)

    monkeypatch.setattr(DlibFaces, "detect", counting)
    return seen


def test_the_reference_face_is_detected_once_for_the_cast_check_and_the_critic(
    tmp_path, detections
):
    photo = tmp_path / "mara.png"
    Image.fromarray(astronaut()).save(photo)
    cast = resolve_cast([], [f"Mara={photo}"])
    critic = IdentityCritic.for_run(CriticSetup(cast=cast))
    assert isinstance(critic, IdentityCritic) and len(detections) == 1
    copy = tmp_path / "same-bytes.png"
    copy.write_bytes(photo.read_bytes())
    assert DlibFaces().embed_reference(copy).shape == (128,) and len(detections) == 1
    mirrored = tmp_path / "mirrored.png"
    Image.fromarray(np.ascontiguousarray(astronaut()[:, ::-1])).save(mirrored)
    DlibFaces().reference_face(mirrored)
    assert len(detections) == 2  # another picture is searched anew


def test_a_refused_reference_is_refused_every_time_but_searched_once(tmp_path, detections):
    from director.errors import InputError

    blank = tmp_path / "wall.png"
    Image.new("RGB", (200, 200), (120, 120, 120)).save(blank)
    for _ in range(2):
        with pytest.raises(InputError, match="shows no face"):
            DlibFaces().reference_face(blank)
    assert len(detections) == 1
