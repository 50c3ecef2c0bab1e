"""The identity critic and the copy-paste guard, on real face photos with dlib's real weights.

The astronaut (Eileen Collins) from scikit-image is the reference; LFW faces bundled with
scikit-image, upscaled from 25 px, stand in for other people. A "re-render" of the astronaut
is approximated by a smooth pixel warp (features move a few pixels, as with a new expression or
pose), colour quantisation and a new background, rotation and scale.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image, ImageEnhance

from director.agent.ladder import MIN_FACE_PX
from director.errors import InputError, ToolMissing
from director.records import Character, Shot, ShotPrompt, StyleBible
from director.tools.base import CriticContext
from director.tools.critics import face_dlib
from director.tools.critics.face_dlib import DlibFaces
from director.tools.critics.faces import Face, FaceBackend, assign, chip_similarity
from director.tools.critics.identity import IdentityCritic
from tests.conftest import plain_shot

CONTEXT = CriticContext(
    bible=StyleBible(
        name="film",
        suffix="storyboard",
        negative="",
        palette=["#101010", "#f0f0f0"],
        aspect_ratio="4:3",
        width=640,
        height=480,
        grain=0.0,
    )
)
# An LFW face far from the astronaut (embedding distance about 0.8).
OTHER_PERSON = 0


def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


def lfw_face(index: int) -> Image.Image:
    grey = (skdata.lfw_subset()[index] * 255).astype(np.uint8)
    face = Image.fromarray(grey).resize((150, 150), Image.Resampling.BICUBIC).convert("RGB")
    return canvas(face, size=(300, 300), pos=(75, 75), bg=(128, 128, 128))


def canvas(img, scale=1.0, angle=0.0, bg=(40, 90, 60), size=(640, 480), pos=(100, 20)):
    """``img`` scaled, rotated and placed on a plain background of another size."""
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    if angle:
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=bg)
    out = Image.new("RGB", size, bg)
    out.paste(img, pos)
    return out


def warp(img: Image.Image, amp: float = 6.0, period: float = 180.0) -> Image.Image:
    """A smooth displacement of every pixel by up to ``amp`` pixels."""
    x = np.asarray(img)
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    sx = (xx + amp * np.sin(2 * np.pi * yy / period)).clip(0, w - 1).astype(int)
    sy = (yy + amp * np.sin(2 * np.pi * xx / period)).clip(0, h - 1).astype(int)
    return Image.fromarray(x[sy, sx])


def re_render(img: Image.Image) -> Image.Image:
    styled = warp(img).quantize(12).convert("RGB")
    return canvas(styled, scale=0.8, angle=3, bg=(200, 180, 150))


def shot(*characters: str) -> Shot:
    prompt = ShotPrompt(
        subject="an astronaut",
        action="looks up",
        environment="a hangar",
        camera="close-up",
        style="storyboard",
    )
    return plain_shot(0, 3.0, prompt=prompt, size="close-up", characters=characters)


@pytest.fixture(scope="module")
def backend() -> DlibFaces:
    return DlibFaces()


@pytest.fixture(scope="module")
def refs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("refs")
    paths = {"Astro": folder / "astro.png", "Other": folder / "other.png"}
    astronaut().save(paths["Astro"])
    lfw_face(OTHER_PERSON).save(paths["Other"])
    return {name: str(p) for name, p in paths.items()}


@pytest.fixture(scope="module")
def critic(backend, refs) -> IdentityCritic:
    return IdentityCritic(backend, {"Astro": [refs["Astro"]], "Other": [refs["Other"]]})


def by_name(results):
    return {r.name: r for r in results}


# --- the backend ------------------------------------------------------------------------------


def test_astronaut_is_exactly_one_face_where_her_face_is(backend):
    faces = backend.detect(np.asarray(astronaut()))
    assert len(faces) == 1
    left, top, right, bottom = faces[0].box
    assert 150 < (left + right) / 2 < 290 and 50 < (top + bottom) / 2 < 190
    assert faces[0].embedding.shape == (128,)
    assert faces[0].chip.shape == (150, 150, 3) and faces[0].chip.dtype == np.uint8


def test_a_frame_without_faces_has_none(backend):
    assert backend.detect(np.asarray(Image.fromarray(skdata.chelsea()))) == []


def test_embed_reference_refuses_no_face_two_faces_and_unreadable(backend, tmp_path):
    cat, pair, text = tmp_path / "cat.png", tmp_path / "pair.png", tmp_path / "notes.png"
    Image.fromarray(skdata.chelsea()).save(cat)
    two = Image.new("RGB", (1024, 512))
    two.paste(astronaut(), (0, 0))
    two.paste(astronaut(), (512, 0))
    two.save(pair)
    text.write_text("not an image")
    with pytest.raises(InputError, match="no face"):
        backend.embed_reference(cat)
    with pytest.raises(InputError, match="[2-9] faces"):
        backend.embed_reference(pair)
    with pytest.raises(InputError, match="Cannot read"):
        backend.embed_reference(text)


def test_missing_weights_package_is_a_tool_missing_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ToolMissing, match="pip install dlib-bin face_recognition_models"):
        face_dlib.model_folder()


# --- shared logic -----------------------------------------------------------------------------


class _Dot(FaceBackend):
    """Embeddings are unit vectors; similarity is their dot product."""

    name, threshold = "dot", 0.5

    def detect(self, image_rgb, *, expect=1):
        return []

    def similarity(self, a, b):
        return float(np.dot(a, b))


def _face(*v: float) -> Face:
    return Face(box=(0, 0, 1, 1), embedding=np.array(v), chip=np.zeros((8, 8, 3), np.uint8))


def test_assign_gives_each_face_to_one_character_most_similar_first():
    faces = [_face(1.0, 0.0), _face(0.6, 0.8)]
    refs = {"A": [np.array([0.8, 0.6])], "B": [np.array([1.0, 0.0]), np.array([0.0, 1.0])]}
    matches = assign(faces, refs, _Dot())
    # B is closest to face 0 (1.0) and takes it; A, also closest to face 0, gets face 1.
    assert matches["B"].face is faces[0] and matches["B"].best == pytest.approx(1.0)
    assert matches["B"].mean == pytest.approx(0.5)
    assert matches["A"].face is faces[1] and matches["A"].best == pytest.approx(0.96)
    assert assign([], refs, _Dot())["A"].face is None


def test_chip_similarity_ignores_brightness_but_not_movement():
    chip = np.asarray(astronaut().crop((170, 70, 320, 220)))
    brighter = np.clip(chip.astype(float) * 1.2 + 10, 0, 255).astype(np.uint8)
    shifted = np.roll(chip, 8, axis=1)
    assert chip_similarity(chip, brighter) > 0.99
    assert chip_similarity(chip, shifted) < 0.9


# --- the critic -------------------------------------------------------------------------------


def test_pasted_reference_passes_identity_and_fails_copy_paste(critic):
    results = by_name(critic.check(canvas(astronaut()), shot("Astro"), CONTEXT))
    assert results["identity"].passed is True and results["identity"].score > 0.9
    assert results["copy_paste"].passed is False and results["copy_paste"].score > 0.97
    assert "pasted" in results["copy_paste"].reason


def test_rescaled_rotated_brightened_copy_is_still_a_copy(critic):
    copy = canvas(astronaut(), scale=0.7, angle=4, bg=(200, 180, 150))
    results = by_name(
        critic.check(ImageEnhance.Brightness(copy).enhance(1.3), shot("Astro"), CONTEXT)
    )
    assert results["identity"].passed is True
    assert results["copy_paste"].passed is False


def test_re_rendered_face_passes_identity_and_copy_paste(critic):
    results = by_name(critic.check(re_render(astronaut()), shot("Astro"), CONTEXT))
    assert results["identity"].passed is True, results["identity"].reason
    assert results["copy_paste"].passed is True, results["copy_paste"].reason
    assert results["copy_paste"].score < 0.9
    assert "dlib" in results["identity"].reason and "mean" in results["identity"].reason
    left, top, right, bottom = results["identity"].details["box"]
    assert 0 <= left < right and 0 <= top < bottom  # where an edit would repaint
    assert results["identity"].details["face_px"] == bottom - top >= MIN_FACE_PX


def test_another_person_fails_identity(critic):
    frame = canvas(lfw_face(7), scale=1.2)
    results = by_name(critic.check(frame, shot("Astro"), CONTEXT))
    assert results["identity"].passed is False
    assert results["identity"].score < 0.4


def test_expected_face_not_found_fails(critic):
    results = by_name(critic.check(Image.fromarray(skdata.chelsea()), shot("Astro"), CONTEXT))
    assert results["identity"].passed is False and "not found" in results["identity"].reason
    assert results["identity"].details == {"faces": 0}  # the ladder reframes closer
    assert results["copy_paste"].passed is None


def test_no_character_with_references_is_not_run(critic):
    for s in (shot(), shot("Nobody")):
        results = critic.check(astronaut(), s, CONTEXT)
        assert [r.name for r in results] == ["identity", "copy_paste"]
        assert all(r.passed is None and "not run" in r.reason for r in results)


def test_two_characters_are_checked_by_name(critic):
    frame = Image.new("RGB", (900, 560), (30, 30, 60))
    frame.paste(re_render(astronaut()).crop((60, 0, 560, 480)), (0, 40))
    frame.paste(lfw_face(OTHER_PERSON), (560, 130))
    results = by_name(critic.check(frame, shot("Astro", "Other"), CONTEXT))
    assert set(results) == {"identity:Astro", "identity:Other", "copy_paste"}
    assert results["identity:Astro"].passed is True
    assert results["identity:Other"].passed is True
    # The second face is the reference itself, pasted: the guard names it.
    assert results["copy_paste"].passed is False and "Other" in results["copy_paste"].reason


def test_from_characters_reads_references_and_unknown_threshold_is_refused(backend, refs):
    astro = Character(name="Astro", description="astronaut", references=[refs["Astro"]])
    critic = IdentityCritic.from_characters(backend, [astro, Character(name="X", description="")])
    assert set(critic.references) == {"Astro"}
    with pytest.raises(TypeError, match="unknown thresholds"):
        IdentityCritic(backend, {}, copy_paste=0.9)
