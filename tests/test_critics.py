"""The critics that need no weights: technical quality, palette consistency, near-duplicates."""

from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image, ImageFilter

from director.records import Critique, Shot, ShotPrompt, StyleBible
from director.tools.base import CriticContext, ImageRequest
from director.tools.critics.duplicate import DuplicateCritic, phash
from director.tools.critics.palette import PaletteCritic
from director.tools.critics.technical import DEFAULTS, TechnicalCritic
from director.tools.image.previz import render_frame

WARM = ["#1c1410", "#4a3020", "#8c5a32", "#d09a5a", "#f4e0b8"]
NEON = ["#2a0033", "#7a00a0", "#ff00aa", "#00ffcc", "#f0ff00"]
W, H = 640, 360


def bible(palette=WARM, width=W, height=H) -> StyleBible:
    return StyleBible(
        name="film",
        suffix="storyboard",
        negative="",
        palette=palette,
        aspect_ratio="16:9",
        width=width,
        height=height,
        grain=0.25,
    )


def shot(shot_id="S02", environment="a farm field at dawn", camera="wide shot") -> Shot:
    prompt = ShotPrompt(
        subject="an old farmer",
        action="walks along the furrows",
        environment=environment,
        camera=camera,
        style="storyboard",
    )
    return Shot(
        id=shot_id,
        beat_id="B1",
        index=2,
        role="wide",
        size="wide",
        angle="eye-level",
        move="static",
        duration_s=4.0,
        prompt=prompt,
    )


def frame(palette=WARM, seed=3, **shot_fields) -> Image.Image:
    s = shot(**shot_fields)
    request = ImageRequest(
        shot=s, bible=bible(palette), seed=seed, width=W, height=H, prompt=s.prompt.render()
    )
    return render_frame(request).image


@pytest.fixture(scope="module")
def good() -> Image.Image:
    return frame()


def context(**fields) -> CriticContext:
    return CriticContext(bible=fields.pop("bible", bible()), **fields)


def by_name(results) -> dict:
    return {r.name: r for r in results}


# --- technical -------------------------------------------------------------------------------


def test_a_sound_frame_passes_every_technical_check(good):
    results = by_name(TechnicalCritic().check(good, shot(), context()))
    assert set(results) == {"exposure", "contrast", "sharpness", "resolution"}
    for r in results.values():
        assert r.passed is True, r.reason
        assert r.score is not None and r.threshold is not None
    assert results["exposure"].higher_is_better is False
    assert results["contrast"].higher_is_better is True


@pytest.mark.parametrize(
    "fill, score, text",
    [((0, 0, 0), 0.55, "100.0% crushed to black"), ((255, 255, 255), 1.0, "100.0% blown to white")],
)
def test_black_and_white_frames_fail_exposure_with_the_numbers(fill, score, text):
    image = Image.new("RGB", (W, H), fill)
    exposure = by_name(TechnicalCritic().check(image, shot(), context()))["exposure"]
    assert exposure.passed is False
    assert exposure.score == score and exposure.threshold == DEFAULTS["max_clipped"]
    assert text in exposure.reason and "max 5.0%" in exposure.reason
    assert "45% is allowed for dark areas" in exposure.reason


def test_the_astronaut_photo_passes_exposure_despite_its_black_sky():
    """12.6% of the photo is the pure black of space: a dark area, not a fault."""
    photo = Image.fromarray(skdata.astronaut())
    exposure = by_name(TechnicalCritic().check(photo, shot(), context()))["exposure"]
    assert exposure.passed is True, exposure.reason
    assert exposure.details["black"] == pytest.approx(0.126, abs=0.001)
    assert exposure.score == pytest.approx(exposure.details["white"])


def test_the_astronaut_photo_blown_out_fails_exposure():
    blown = Image.eval(Image.fromarray(skdata.astronaut()), lambda v: min(255, v * 2))
    exposure = by_name(TechnicalCritic().check(blown, shot(), context()))["exposure"]
    assert exposure.passed is False
    assert exposure.details["white"] > 0.3 and "blown to white" in exposure.reason


def test_black_counts_only_beyond_the_allowance_and_white_always(good):
    pixels = np.asarray(good).copy()
    pixels[: H // 5] = 0  # a fifth crushed to black: a dark sky
    checks = TechnicalCritic().check(Image.fromarray(pixels), shot(), context())
    assert by_name(checks)["exposure"].passed is True
    pixels[: H * 2 // 3] = 0  # two thirds: more black than any sound photo measured
    exposure = by_name(TechnicalCritic().check(Image.fromarray(pixels), shot(), context()))
    assert exposure["exposure"].passed is False
    assert exposure["exposure"].score == pytest.approx(2 / 3 - 0.45, abs=0.01)
    pixels = np.asarray(good).copy()
    pixels[: H // 10] = 255  # a tenth blown to white: a blown sky
    exposure = by_name(TechnicalCritic().check(Image.fromarray(pixels), shot(), context()))
    assert exposure["exposure"].passed is False
    assert exposure["exposure"].score == pytest.approx(0.1, abs=0.01)


def test_a_storyboard_night_frame_with_a_crushed_sky_passes_exposure():
    """An ink-black palette, night and heavy grain crush part of the sky to black: a dark
    scene, which real night photos show too."""
    ink = ["#000000", "#101418", "#303840", "#8090a0", "#e0e8f0"]
    s = shot(environment="outer space at night")
    b = bible(palette=ink).model_copy(update={"grain": 1.0})
    request = ImageRequest(shot=s, bible=b, seed=2, width=W, height=H, prompt=s.prompt.render())
    image = render_frame(request).image
    exposure = by_name(TechnicalCritic().check(image, s, context(bible=b)))["exposure"]
    assert exposure.passed is True, exposure.reason
    assert 0.02 < exposure.details["black"] < 0.45
    strict = TechnicalCritic(black_allowance=0.0)
    assert by_name(strict.check(image, s, context(bible=b)))["exposure"].passed is False


def test_flat_grey_fails_contrast_and_sharpness():
    image = Image.new("RGB", (W, H), (128, 128, 128))
    results = by_name(TechnicalCritic().check(image, shot(), context()))
    assert results["contrast"].passed is False and results["contrast"].score == 0
    assert results["sharpness"].passed is False
    assert results["contrast"].reason == "RMS contrast 0.000 (min 0.050)"
    assert results["exposure"].passed is True


def test_a_blurred_frame_fails_sharpness_only(good):
    blurred = good.filter(ImageFilter.GaussianBlur(4))
    results = by_name(TechnicalCritic().check(blurred, shot(), context()))
    sharp = by_name(TechnicalCritic().check(good, shot(), context()))["sharpness"]
    assert results["sharpness"].passed is False
    assert results["sharpness"].score < sharp.score / 10
    assert f"{results['sharpness'].score:.1f}" in results["sharpness"].reason
    assert results["contrast"].passed and results["exposure"].passed


def test_sharpness_does_not_depend_on_the_image_size():
    scores = []
    for width, height in ((1280, 720), (1920, 1080)):
        s = shot()
        b = bible(width=width, height=height).model_copy(update={"grain": 0.0})
        request = ImageRequest(
            shot=s, bible=b, seed=3, width=width, height=height, prompt=s.prompt.render()
        )
        image = render_frame(request).image
        (sharp,) = [
            r for r in TechnicalCritic().check(image, s, context(bible=b)) if r.name == "sharpness"
        ]
        assert sharp.passed and "640 px wide" in sharp.reason
        scores.append(sharp.score)
    assert scores[0] == pytest.approx(scores[1], rel=0.25)


def test_a_frame_smaller_than_the_bible_asks_fails_resolution(good):
    small = good.resize((W // 2, H // 2))
    resolution = by_name(TechnicalCritic().check(small, shot(), context()))["resolution"]
    assert resolution.passed is False and resolution.score == 0.5
    assert "320x180 px for 640x360 asked" in resolution.reason
    bigger = by_name(TechnicalCritic().check(good.resize((1280, 720)), shot(), context()))
    assert bigger["resolution"].passed is True


def test_sharpness_of_a_tiny_image_is_not_run():
    tiny = Image.new("RGB", (2, 2), (10, 200, 30))
    sharpness = by_name(TechnicalCritic().check(tiny, shot(), context()))["sharpness"]
    assert sharpness.passed is None and sharpness.score is None
    assert "too small" in sharpness.reason


def test_technical_thresholds_are_configurable(good):
    strict = TechnicalCritic(min_contrast=0.9, min_sharpness=1e9)
    results = by_name(strict.check(good, shot(), context()))
    assert results["contrast"].passed is False and results["contrast"].threshold == 0.9
    assert results["sharpness"].passed is False
    assert results["exposure"].passed is True
    with pytest.raises(TypeError, match="min_contrst"):
        TechnicalCritic(min_contrst=0.1)


# --- palette ---------------------------------------------------------------------------------


def test_a_frame_made_with_the_bible_palette_passes_and_a_neon_one_fails(good):
    critic = PaletteCritic()
    (mine,) = critic.check(good, shot(), context())
    (neon,) = critic.check(frame(palette=NEON), shot(), context())
    assert mine.name == "style_palette" and mine.passed is True
    assert neon.passed is False and neon.score < mine.score
    assert f"{neon.score:.0%}" in neon.reason and "ΔE 20" in neon.reason
    assert 0.0 <= neon.score <= 1.0


def test_style_anchors_take_over_from_the_palette(tmp_path, good):
    anchors = []
    for i, place in enumerate(("a city street", "a desert at dusk", "a garden")):
        path = tmp_path / f"anchor{i}.png"
        frame(seed=10 + i, environment=place).save(path)
        anchors.append(str(path))
    critic = PaletteCritic()
    (mine,) = critic.check(good, shot(), context(style_anchors=anchors))
    (neon,) = critic.check(frame(palette=NEON), shot(), context(style_anchors=anchors))
    assert mine.passed is True and "3 style anchor(s)" in mine.reason
    assert mine.name == "style_colours"  # a measure of its own, with its own threshold
    assert neon.passed is False and neon.score < mine.score - 0.2


def test_palette_check_is_not_run_without_anything_to_compare(tmp_path, good):
    (unreadable,) = PaletteCritic().check(
        good, shot(), context(style_anchors=[str(tmp_path / "gone.png")])
    )
    assert unreadable.passed is None and "could be read" in unreadable.reason
    assert unreadable.name == "style_colours"
    (nothing,) = PaletteCritic().check(good, shot(), context(bible=bible(palette=[])))
    assert nothing.passed is None and nothing.score is None
    assert Critique(shot_id="S02", attempt=1, checks=[nothing]).verdict == "not judged"


def test_palette_thresholds_are_configurable(good):
    (loose,) = PaletteCritic(min_on_palette=0.0).check(frame(palette=NEON), shot(), context())
    (tight,) = PaletteCritic(palette_delta_e=0.5).check(good, shot(), context())
    assert loose.passed is True
    assert tight.passed is False and "ΔE 0.5" in tight.reason


# --- duplicates -------------------------------------------------------------------------------


def test_nothing_to_compare_is_not_run(tmp_path, good):
    critic = DuplicateCritic()
    (empty,) = critic.check(good, shot(), context())
    assert empty.passed is None and empty.reason == "no accepted keyframes to compare with yet"
    path = tmp_path / "self.png"
    good.save(path)
    (itself,) = critic.check(good, shot("S02"), context(accepted={"S02": str(path)}))
    assert itself.passed is None
    (gone,) = critic.check(good, shot(), context(accepted={"S01": str(tmp_path / "no.png")}))
    assert gone.passed is None and "could be read" in gone.reason


def test_a_copy_of_an_accepted_keyframe_fails_and_names_the_shot(tmp_path, good):
    path = tmp_path / "s01.png"
    good.save(path)
    buf = io.BytesIO()
    good.resize((W // 2, H // 2)).save(buf, "JPEG", quality=70)
    recoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    for candidate in (good, recoded):
        (result,) = DuplicateCritic().check(candidate, shot(), context(accepted={"S01": str(path)}))
        assert result.passed is False and result.score <= 2
        assert "S01" in result.reason and f"{int(result.score)} of 64 bits" in result.reason


def test_a_different_shot_passes_and_the_nearest_is_reported(tmp_path, good):
    accepted = {}
    for sid, place in (("S01", "a city street at night"), ("S03", "outer space")):
        path = tmp_path / f"{sid}.png"
        frame(environment=place, camera="close-up").save(path)
        accepted[sid] = str(path)
    (result,) = DuplicateCritic().check(good, shot(), context(accepted=accepted))
    assert result.passed is True and result.score >= 7
    assert "compared with 2 accepted" in result.reason
    distances = {
        sid: int((phash(good) != phash(Image.open(p))).sum()) for sid, p in accepted.items()
    }
    assert result.score == min(distances.values())
    (lenient,) = DuplicateCritic(min_distance=0).check(
        good, shot(), context(accepted={"S01": accepted["S01"]})
    )
    assert lenient.passed is True and lenient.threshold == 0


def test_phash_is_64_bits_and_stable_under_small_changes(good):
    bits = phash(good)
    assert bits.shape == (64,) and bits.dtype == bool and 10 < bits.sum() < 54
    brighter = Image.eval(good, lambda v: min(255, int(v * 1.08)))
    assert (phash(brighter) != bits).sum() <= 4
    assert (phash(good.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) != bits).sum() > 10


# --- what a critic is handed -------------------------------------------------------------------


@pytest.mark.parametrize("critic", [TechnicalCritic, PaletteCritic, DuplicateCritic])
def test_a_critic_takes_the_image_a_caller_holds_or_its_path_alike(critic, tmp_path, good):
    path = tmp_path / "frame.png"
    good.save(path)
    accepted = tmp_path / "other.png"
    frame(seed=11).save(accepted)
    ctx = context(accepted={"S01": str(accepted)})
    expected = critic().check(good, shot(), ctx)
    assert expected and all(r.passed is not None for r in expected)
    for given in (path, str(path), np.asarray(good), np.asarray(good) / 255.0):
        assert critic().check(given, shot(), ctx) == expected


def test_a_critic_handed_an_unreadable_path_says_so(tmp_path):
    from director.errors import InputError

    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="Cannot read the image"):
        TechnicalCritic().check(tmp_path / "notes.png", shot(), context())


def test_not_run_results_have_one_constructor_with_the_reason():
    from director.records import CheckResult

    result = CheckResult.not_run("style", "not run: no style anchor yet")
    assert (result.score, result.threshold, result.passed) == (None, None, None)
    assert result.reason == "not run: no style anchor yet"
    assert Critique(shot_id="S02", attempt=1, checks=[result]).verdict == "not judged"
