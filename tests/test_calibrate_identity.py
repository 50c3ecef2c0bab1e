"""bench/calibrate_identity.py: the threshold arithmetic on hand-made scores, and the whole
calibration on real faces with dlib's real weights.

No one in the photos that ship installed appears in two of them, so the real-face test labels
an edited copy of the astronaut photo as a second photo of her: enough to check that the parts
fit together, not a calibration.
"""

from __future__ import annotations

import importlib.util
import io
import tarfile

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image

from bench import calibrate_identity as cal

SAME = [0.3, 0.6, 0.7, 0.8]
DIFFERENT = [0.1, 0.2, 0.35, 0.5]


def test_rates_count_accepts_at_or_above_and_rejects_below():
    assert cal.rates(SAME, DIFFERENT, 0.5) == (0.25, 0.25)  # 0.5 itself is accepted
    assert cal.rates(SAME, DIFFERENT, 0.31) == (0.5, 0.25)
    assert cal.rates(SAME, DIFFERENT, 0.0) == (1.0, 0.0)
    assert cal.rates(SAME, DIFFERENT, 0.9) == (0.0, 1.0)
    assert cal.rates([], DIFFERENT, 0.4) == (0.25, 0.0)


def test_calibration_on_overlapping_scores():
    c = cal.calibrate(SAME, DIFFERENT, current=0.4)
    # Cutting at 0.5 or 0.6 both leave one error of four on the worse side; any threshold in
    # (0.35, 0.6] does, and its middle is the one furthest from the scores on either side.
    assert c.eer_threshold == pytest.approx(0.475) and c.eer == 0.25
    assert c.far_threshold == pytest.approx(0.55) and c.frr_at_far_threshold == 0.25
    assert (c.far_at_current, c.frr_at_current) == (0.25, 0.25)
    assert c.same == cal.Spread(
        4, 0.3, pytest.approx(0.345), pytest.approx(0.65), pytest.approx(0.785), 0.8
    )
    assert c.different.count == 4 and c.different.max == 0.5


def test_separated_scores_put_the_threshold_in_the_middle_of_the_gap():
    c = cal.calibrate([0.6, 0.7], [0.1, 0.3], current=0.4)
    assert c.eer_threshold == pytest.approx(0.45) and c.eer == 0.0
    assert c.far_threshold == pytest.approx(0.45) and c.frr_at_far_threshold == 0.0
    assert (c.far_at_current, c.frr_at_current) == (0.0, 0.0)


def test_the_false_accept_limit_decides_how_far_up_the_threshold_goes():
    different = [0.1] * 199 + [0.9]  # one impostor scores higher than most genuine pairs
    same = [0.5, 0.6, 0.95]
    lenient = cal.calibrate(same, different, current=0.4, max_far=0.01)
    assert lenient.far_threshold == pytest.approx(0.3) and lenient.frr_at_far_threshold == 0.0
    strict = cal.calibrate(same, different, current=0.4, max_far=0.0)
    assert strict.far_threshold == pytest.approx(0.925)
    assert strict.frr_at_far_threshold == pytest.approx(2 / 3)
    assert cal.rates(same, different, strict.far_threshold)[0] == 0.0


def test_no_scores_is_refused():
    with pytest.raises(ValueError, match="no scores"):
        cal.calibrate([], [], current=0.4)


def test_folder_photos_are_labelled_by_subfolder(tmp_path):
    for person, names in {"Mara": ["a.png", "b.jpg"], "Jun": ["c.png"]}.items():
        (tmp_path / person).mkdir()
        for name in names:
            Image.new("RGB", (8, 8), (90, 90, 90)).save(tmp_path / person / name)
    (tmp_path / "Mara" / "notes.txt").write_text("not a photo")
    photos = cal.folder_photos(tmp_path)
    assert [(p.person, p.source) for p in photos] == [
        ("Jun", "Jun/c.png"),
        ("Mara", "Mara/a.png"),
        ("Mara", "Mara/b.jpg"),
    ]


def test_face_recognition_sdist_is_read_from_the_tarball_and_copies_are_left_out(tmp_path):
    archive = tmp_path / "face_recognition-1.3.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [*cal.FACE_RECOGNITION, "32bit.png", "obama_partial_face.jpg"]:
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), (120, 60, 30)).save(buffer, "PNG")
            info = tarfile.TarInfo(f"face_recognition-1.3.0/tests/test_images/{name}")
            info.size = len(buffer.getvalue())
            tar.addfile(info, io.BytesIO(buffer.getvalue()))
    photos = cal.face_recognition_photos(archive)
    assert sorted(p.source.split()[-1] for p in photos) == sorted(cal.FACE_RECOGNITION)
    assert sum(p.person == "Barack Obama" for p in photos) == 3


needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None
    or importlib.util.find_spec("face_recognition_models") is None
    or importlib.util.find_spec("insightface") is None,
    reason="needs dlib, face_recognition_models and insightface's sample photos",
)


def _edited(image: np.ndarray) -> np.ndarray:
    """The photo shrunk, colour-quantised and put on a new background: an edit, labelled here
    as if it were another photo of the same person."""
    small = Image.fromarray(image).resize((400, 400)).quantize(16).convert("RGB")
    frame = Image.new("RGB", (560, 480), (200, 180, 150))
    frame.paste(small, (120, 40))
    return np.asarray(frame)


@needs_dlib
def test_a_calibration_on_real_faces_fits_together():
    from director.tools.critics.face_dlib import DlibFaces

    astronaut = skdata.astronaut()
    photos = [
        *cal.installed_photos(),
        cal.Photo("Eileen Collins", "edited astronaut", _edited(astronaut)),
        cal.Photo("a cat", "skimage chelsea", skdata.chelsea()),
    ]
    backend = DlibFaces()
    samples, missed = cal.detect_samples(backend, photos)
    assert missed == ["skimage chelsea"]
    assert len(samples) == 9  # astronaut, Tom Hanks, the six of the group photo, the edit
    same_pairs, different_pairs = cal.pairs(samples)
    assert len(same_pairs) == 1 and len(different_pairs) == 9 * 8 // 2 - 1
    same = cal.similarities(backend, same_pairs)
    different = cal.similarities(backend, different_pairs)
    c = cal.calibrate(same, different, backend.threshold)
    assert c.different.p50 < c.eer_threshold < c.same.p50
    assert c.eer == 0.0 and c.different.max < backend.threshold < c.same.min
    assert c.far_at_current == sum(d >= backend.threshold for d in different) / len(different)
    reference = samples[0]
    assert reference.person == "Eileen Collins"
    cases = {s.case: s for s in cal.paste_cases(backend, reference, cal.host_photo())}
    assert cal.flagged(cases["pasted at full size"].chip, cases["pasted at full size"].embedding)
    assert not cal.flagged(*cal._copy_scores(backend, samples[1].face, reference.face))
