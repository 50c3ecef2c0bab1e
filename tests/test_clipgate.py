"""The clip gate: sampling frames from a clip, flicker, continuity, critics folded over frames."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from director.errors import InputError
from director.records import CheckResult, Shot, ShotPrompt, StyleBible
from director.testing import ScriptedCritic
from director.tools.assemble.ffmpeg_bin import ffmpeg_exe
from director.tools.base import CriticContext, ImageRequest
from director.tools.critics.clipgate import (
    DEFAULTS,
    ClipGate,
    flicker_spikes,
    fold,
    frame_luma,
    last_frame,
    sample_frames,
)
from director.tools.critics.identity import IdentityNotRun
from director.tools.image.previz import render_frame

W, H, FPS = 160, 90, 24


def write_clip(frames: np.ndarray, path: Path) -> Path:
    n, h, w, _ = frames.shape
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"]
    argv += ["-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "pipe:0"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p"]
    subprocess.run([*argv, str(path)], input=frames.tobytes(), check=True)
    return path


def scenery(seed: int, tint: tuple[float, float, float], width: int = 3 * W) -> np.ndarray:
    """A wide picture of soft blobs and a horizon, in one colour cast."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, width // 20, 3)) * 255
    blobs = np.asarray(
        Image.fromarray(coarse.astype(np.uint8)).resize((width, H), Image.Resampling.BICUBIC),
        dtype=np.float32,
    )
    sky = np.linspace(1.0, 0.4, H, dtype=np.float32)[:, None, None]
    return np.clip(blobs * sky * np.array(tint, np.float32), 0, 255).astype(np.uint8)


def pan(picture: np.ndarray, start: int, frames: int = FPS) -> np.ndarray:
    """A camera pan: a W-wide window sliding one pixel a frame from ``start``."""
    return np.stack([picture[:, start + i : start + i + W] for i in range(frames)])


def brighten(frames: np.ndarray, which, amount: int) -> np.ndarray:
    out = frames.astype(np.int16)
    out[which] += amount
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def warm() -> np.ndarray:
    return scenery(1, (1.0, 0.8, 0.55))


@pytest.fixture(scope="module")
def clips(tmp_path_factory, warm) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    moving = pan(warm, 0)
    fade = (moving * np.linspace(1, 0.2, FPS)[:, None, None, None]).astype(np.uint8)
    cut = np.concatenate([moving[:12], (pan(scenery(2, (0.4, 0.5, 0.9)), 0)[12:] * 0.5)])
    made = {
        "pan": moving,
        "next": pan(warm, FPS),  # the same pan going on: the shot after "pan"
        "other": pan(scenery(2, (0.4, 0.5, 0.9)), 0),  # another place, another light
        "fade": fade,
        "cut": cut.astype(np.uint8),
        "strobe": brighten(moving, np.arange(FPS) % 2 == 1, 20),
        "flash": brighten(moving, 12, 30),
    }
    return {name: write_clip(frames, folder / f"{name}.mp4") for name, frames in made.items()}


def shot(continuous: bool = False, characters: list[str] | None = None) -> Shot:
    prompt = ShotPrompt(
        subject="Mara", action="walks", environment="a garden", camera="pan", style="ink"
    )
    return Shot(
        id="s1", beat_id="b1", index=0, role="wide", size="wide", angle="eye-level",
        move="pan-right", duration_s=1.0, prompt=prompt, continuous=continuous,
        characters=characters or [],
    )  # fmt: skip


@pytest.fixture(scope="module")
def context() -> CriticContext:
    bible = StyleBible(
        name="ink", suffix="ink", negative="", palette=["#000000", "#ffffff"],
        aspect_ratio="16:9", width=W, height=H, grain=0.0,
    )  # fmt: skip
    return CriticContext(bible=bible)


def checks(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


# --- sampling --------------------------------------------------------------------------------


def test_samples_are_evenly_spaced_and_include_the_first_and_last_frame(clips, warm):
    frames = sample_frames(clips["pan"], 5)
    times = [t for t, _ in frames]
    assert len(frames) == 5
    assert times == pytest.approx([0, 6 / FPS, 12 / FPS, 17 / FPS, 23 / FPS], abs=1e-3)
    first, last = (np.asarray(im, dtype=float) for _, im in (frames[0], frames[-1]))
    assert first.shape == (H, W, 3) and frames[0][1].mode == "RGB"
    # Each is the frame it claims to be: closer to the source frame than to its neighbours.
    source = pan(warm, 0).astype(float)
    assert np.abs(first - source[0]).mean() < 3 < np.abs(first - source[3]).mean()
    assert np.abs(last - source[23]).mean() < 3 < np.abs(last - source[20]).mean()


def test_sample_count_is_capped_by_the_clip_and_at_least_two(clips):
    assert len(sample_frames(clips["pan"], 2)) == 2
    assert len(sample_frames(clips["pan"], 100)) == FPS
    with pytest.raises(ValueError, match="at least 2"):
        sample_frames(clips["pan"], 1)


def test_smaller_decode_and_last_frame(clips):
    _, small = sample_frames(clips["pan"], 2, max_width=80)[0]
    assert small.size == (80, 46)  # height kept even for the decoder
    when, image = last_frame(clips["pan"])
    assert when == pytest.approx(23 / FPS, abs=1e-3)
    assert np.array_equal(np.asarray(image), np.asarray(sample_frames(clips["pan"], 2)[1][1]))


def test_frame_luma_follows_a_fade(clips):
    times, luma = frame_luma(clips["fade"])
    assert len(times) == len(luma) == FPS
    assert times[1] == pytest.approx(1 / FPS, abs=1e-3)
    assert np.all(np.diff(luma) < 0) and luma[0] > 3 * luma[-1]


# --- flicker ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pan", "fade", "cut"])
def test_smooth_changes_and_cuts_do_not_flicker(clips, context, name):
    result = checks(ClipGate().check_clip(clips[name], shot(), None, context))["flicker"]
    assert result.passed is True and result.score < DEFAULTS["max_flicker"] / 3
    assert result.higher_is_better is False


@pytest.mark.parametrize(("name", "at"), [("strobe", None), ("flash", 12 / FPS)])
def test_strobes_and_flashes_fail_flicker(clips, context, name, at):
    result = checks(ClipGate().check_clip(clips[name], shot(), None, context))["flicker"]
    assert result.passed is False and result.score > 15
    if at is not None:  # a single flash is found where it happened
        assert result.details["worst_time_s"] == pytest.approx(at, abs=1e-3)
        assert result.details["frames_over"] == 1


def test_flicker_measure_on_series():
    flat = np.full(30, 100.0)
    assert flicker_spikes(np.linspace(0, 200, 30)).max() < 1e-6  # a ramp
    v = np.abs(np.arange(30) - 15.0) * 6  # a fade through black and back
    assert flicker_spikes(v).max() < 1e-6
    for length in (1, 2, 3):
        flash = flat.copy()
        flash[10 : 10 + length] += 12
        assert flicker_spikes(flash).max() == pytest.approx(12)


# --- continuity ------------------------------------------------------------------------------


def test_a_clip_that_continues_the_previous_one_passes(clips, context):
    results = ClipGate().check_clip(clips["next"], shot(True), clips["pan"], context)
    result = checks(results)["continuity"]
    assert result.passed is True and result.score > 0.9
    assert result.details["previous_clip"] == "pan.mp4"
    assert result.details["whole_frames"] > 0.9
    assert abs(result.details["lightness_shift"]) < 2 and result.details["tint_shift"] < 2


def test_an_unrelated_next_shot_fails_continuity(clips, context):
    result = checks(ClipGate().check_clip(clips["other"], shot(True), clips["pan"], context))
    assert result["continuity"].passed is False
    assert result["continuity"].score < DEFAULTS["min_continuity"] - 0.2


GARDEN = "her garden, {time}, a watering can in the foreground, tall sunflowers in the background"
DAY, NIGHT = "in bright afternoon sun", "at night, cold moonlight"


def storyboard_clip(folder: Path, name: str, size: str, environment: str) -> Path:
    """Six frames of a previz storyboard frame of one garden shot, at the given size."""
    bible = StyleBible(
        name="dusty", suffix="", negative="", palette=["#1f2a36", "#5f6f52", "#c8a06a", "#f1e7d0"],
        aspect_ratio="16:9", width=320, height=180, grain=0.0,
    )  # fmt: skip
    prompt = ShotPrompt(
        subject="a gardener", action="digs", environment=environment,
        camera=f"{size.replace('-', ' ')} shot", style="",
    )  # fmt: skip
    drawn = Shot(
        id="s7", beat_id="b1", index=7, role="medium", size=size, angle="eye-level",
        move="static", duration_s=0.25, prompt=prompt,
    )  # fmt: skip
    request = ImageRequest(shot=drawn, bible=bible, seed=3, width=320, height=180, prompt="")
    frame = np.asarray(render_frame(request).image)
    return write_clip(np.stack([frame] * 6), folder / f"{name}.mp4")


@pytest.fixture(scope="module")
def storyboard(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("storyboard")
    return {
        "wide": storyboard_clip(folder, "wide", "wide", GARDEN.format(time=DAY)),
        "close": storyboard_clip(folder, "close", "close-up", GARDEN.format(time=DAY)),
        "medium": storyboard_clip(folder, "medium", "medium", GARDEN.format(time=DAY)),
        "close at night": storyboard_clip(folder, "night", "close-up", GARDEN.format(time=NIGHT)),
        "kitchen": storyboard_clip(folder, "kitchen", "wide", f"a kitchen interior, {DAY}"),
    }


@pytest.mark.parametrize("name", ["close", "medium"])
def test_a_cut_on_action_to_a_closer_framing_passes_continuity(storyboard, context, name):
    """The same place and light in a new framing (the figure fills much of the closer frame)."""
    results = ClipGate().check_clip(storyboard[name], shot(True), storyboard["wide"], context)
    result = checks(results)["continuity"]
    assert result.passed is True, result.reason
    assert result.score > DEFAULTS["min_continuity"] + 0.02
    assert abs(result.details["lightness_shift"]) < 15 and result.details["tint_shift"] < 3


@pytest.mark.parametrize("name", ["close at night", "kitchen"])
def test_a_jump_to_night_or_to_another_place_fails_continuity(storyboard, context, name):
    results = ClipGate().check_clip(storyboard[name], shot(True), storyboard["wide"], context)
    result = checks(results)["continuity"]
    assert result.passed is False, result.reason
    assert result.score < DEFAULTS["min_continuity"] - 0.1
    if name == "close at night":  # the reason says what changed: the light
        assert result.details["lightness_shift"] < -10
        assert "mean lightness -" in result.reason


def test_continuity_is_not_run_without_a_continuous_shot_or_a_previous_clip(clips, context):
    gate = ClipGate()
    apart = checks(gate.check_clip(clips["other"], shot(False), clips["pan"], context))
    first = checks(gate.check_clip(clips["next"], shot(True), None, context))
    for result in (apart["continuity"], first["continuity"]):
        assert result.passed is None and result.score is None
        assert result.reason.startswith("not run: ")
    assert "previous clip" in first["continuity"].reason


# --- image critics on sampled frames ---------------------------------------------------------


def test_a_check_failing_on_one_frame_fails_the_clip_with_the_worst_frame(clips, context):
    critic = ScriptedCritic({"s1": 2})  # fails the first two frames it sees: 0.45, then 0.65
    result = checks(ClipGate([critic], samples=4).check_clip(clips["pan"], shot(), None, context))
    folded = result["scripted"]
    assert folded.passed is False and folded.score == pytest.approx(0.45)
    assert folded.threshold == 0.9 and folded.details["worst_time_s"] == 0.0
    assert folded.details["failed_frames"] == 2
    assert [f["score"] for f in folded.details["frames"]] == pytest.approx([0.45, 0.65, 1.0, 1.0])
    assert folded.details["frames"][-1]["time_s"] == pytest.approx(23 / FPS, abs=1e-3)
    assert "failed on 2 of 4" in folded.reason


def test_a_check_passing_on_every_frame_passes(clips, context):
    gate = ClipGate([ScriptedCritic({})], samples=3)
    folded = checks(gate.check_clip(clips["pan"], shot(), None, context))["scripted"]
    assert folded.passed is True and folded.score == 1.0 and len(folded.details["frames"]) == 3


def test_a_critic_that_does_not_run_leaves_the_clip_check_not_run(clips, context):
    gate = ClipGate([IdentityNotRun("storyboard frames have no faces")])
    folded = checks(gate.check_clip(clips["pan"], shot(characters=["Mara"]), None, context))
    assert folded["identity"].passed is None and folded["identity"].score is None
    assert folded["identity"].reason == "not run: storyboard frames have no faces"


def test_fold_ranks_a_missing_face_worst_and_respects_lower_is_better():
    def result(score, passed, name="identity", higher=True):
        return CheckResult(
            name=name, score=score, threshold=0.5, passed=passed, reason=f"r{score}",
            higher_is_better=higher,
        )  # fmt: skip

    folded = fold("identity", [(0.0, result(0.7, True)), (0.5, result(None, False))])
    assert folded.passed is False and folded.score is None and folded.details["worst_time_s"] == 0.5
    copies = [(0.0, result(0.2, True, "copy_paste", False)), (1.0, result(0.4, True, "cp", False))]
    folded = fold("copy_paste", copies)
    assert folded.passed is True and folded.score == 0.4 and folded.higher_is_better is False


# --- bad input -------------------------------------------------------------------------------


def test_a_missing_or_corrupt_clip_is_an_input_error(clips, tmp_path, context):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips["pan"].read_bytes()[:300])
    gate = ClipGate()
    with pytest.raises(InputError, match="does not exist"):
        gate.check_clip(tmp_path / "missing.mp4", shot(), None, context)
    with pytest.raises(InputError, match="cannot be read") as caught:
        gate.check_clip(broken, shot(), None, context)
    assert caught.value.hint
    with pytest.raises(InputError, match="does not exist"):
        gate.check_clip(clips["next"], shot(True), tmp_path / "gone.mp4", context)


def test_gate_settings_are_checked():
    with pytest.raises(InputError, match="at least 2"):
        ClipGate(samples=1)
    with pytest.raises(TypeError, match="unknown thresholds"):
        ClipGate(max_flash=3)
    assert ClipGate(max_flicker=9).thresholds["max_flicker"] == 9
