"""The previz storyboard renderer and the contact sheet."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from director.errors import InputError
from director.records import Shot, ShotPrompt, StyleBible
from director.tools.assemble.fonts import fit, pil_font, wrap
from director.tools.base import ImageRequest, Job
from director.tools.image.contact_sheet import contact_sheet
from director.tools.image.previz import (
    PrevizImage,
    caption_height,
    frame_layout,
    render_frame,
)
from director.tools.image.scene import read_camera, read_environment, read_scene, read_subject

WARM = ["#1c1410", "#4a3020", "#8c5a32", "#d09a5a", "#f4e0b8"]
COLD = ["#0c1a1e", "#1e3f48", "#3f7480", "#8fb8b8", "#e4f0ec"]
SIZES = ["extreme-wide", "wide", "full", "medium", "medium-close-up", "close-up"]
CAMERA_EN = {
    "extreme-wide": "extreme wide shot",
    "wide": "wide shot",
    "full": "full shot",
    "medium": "medium shot",
    "medium-close-up": "medium close-up",
    "close-up": "close-up",
    "insert": "insert shot",
}


def make_request(
    subject="an old woman in a grey coat",
    action="stands still",
    environment="a farm field",
    camera="wide shot, eye level, static camera",
    *,
    size="wide",
    angle="eye-level",
    seed=7,
    width=320,
    height=180,
    palette=WARM,
    grain=0.25,
    shot_id="S01",
) -> ImageRequest:
    bible = StyleBible(
        name="test",
        suffix="storyboard",
        negative="",
        palette=palette,
        aspect_ratio="16:9",
        width=width,
        height=height,
        grain=grain,
    )
    prompt = ShotPrompt(
        subject=subject, action=action, environment=environment, camera=camera, style=bible.suffix
    )
    shot = Shot(
        id=shot_id,
        beat_id="B1",
        index=1,
        role="wide",
        size=size,
        angle=angle,
        move="static",
        duration_s=4.0,
        prompt=prompt,
    )
    return ImageRequest(
        shot=shot, bible=bible, seed=seed, width=width, height=height, prompt=prompt.render()
    )


def scene_pixels(request: ImageRequest) -> np.ndarray:
    """The drawn scene without the caption band, as float RGB."""
    frame = render_frame(request)
    band = caption_height(request.height)
    return np.asarray(frame.image, dtype=np.float32)[: request.height - band]


def thumb(pixels: np.ndarray) -> np.ndarray:
    img = Image.fromarray(pixels.astype(np.uint8)).resize((32, 18), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32)


# --- determinism, jobs, files ------------------------------------------------------------------


def test_same_request_gives_identical_png_bytes_and_another_seed_does_not(tmp_path):
    request = make_request(width=640, height=360)
    PrevizImage().generate(request, tmp_path / "a.png")
    PrevizImage().generate(request, tmp_path / "b.png")
    PrevizImage().generate(request.model_copy(update={"seed": 8}), tmp_path / "c.png")
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.png", "b.png", "c.png"))
    assert a == b
    assert a != c
    assert a.startswith(b"\x89PNG")


def test_job_is_deterministic_and_records_its_parameters():
    backend = PrevizImage()
    job = backend.submit(make_request(seed=11, width=400, height=224))
    again = backend.submit(make_request(seed=11, width=400, height=224))
    other = backend.submit(make_request(seed=12, width=400, height=224))
    assert job.id == again.id != other.id
    assert (job.backend, job.model, job.kind) == ("previz", "storyboard-v1", "image")
    assert job.params["width"] == 400 and job.params["height"] == 224
    assert job.params["seed"] == 11 and job.params["renderer"]


def test_a_job_submitted_elsewhere_is_collected_by_a_fresh_backend(tmp_path):
    request = make_request(width=480, height=270, environment="a city street at night")
    wire = PrevizImage().submit(request).model_dump_json()
    job = Job.model_validate_json(wire)
    PrevizImage().collect(job, tmp_path / "out" / "frame.png")
    PrevizImage().generate(request, tmp_path / "direct.png")
    assert (tmp_path / "out" / "frame.png").read_bytes() == (tmp_path / "direct.png").read_bytes()


def test_write_leaves_no_temporary_files_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    backend = PrevizImage()
    job = backend.submit(make_request())
    backend.collect(job, tmp_path / "k.png")
    assert [p.name for p in tmp_path.iterdir()] == ["k.png"]

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        backend.collect(job, tmp_path / "broken.png")
    assert [p.name for p in tmp_path.iterdir()] == ["k.png"]


def test_a_job_of_another_backend_is_refused(tmp_path):
    job = PrevizImage().submit(make_request()).model_copy(update={"backend": "dashscope"})
    with pytest.raises(Exception, match="dashscope"):
        PrevizImage().collect(job, tmp_path / "x.png")


@pytest.mark.parametrize("size", [(256, 144), (1920, 1080), (720, 1280), (333, 777)])
def test_any_reasonable_size_renders_at_exactly_that_size(size):
    frame = render_frame(make_request(width=size[0], height=size[1], camera="medium shot"))
    assert frame.image.size == size
    assert frame.image.mode == "RGB"
    assert frame.subject_mask.shape == (size[1], size[0])
    assert frame.subject_mask.any()


def test_impossible_sizes_are_refused_with_the_fix():
    with pytest.raises(InputError, match="between 64 and 8192"):
        PrevizImage().submit(make_request(width=32, height=18))
    with pytest.raises(InputError):
        PrevizImage(model="sdxl")


# --- what the slots draw -------------------------------------------------------------------


def test_every_environment_kind_looks_different():
    kinds = {
        "city": "a city street",
        "desert": "desert dunes",
        "ocean": "the ocean",
        "forest": "a pine forest",
        "garden": "a vegetable garden",
        "interior": "inside a kitchen",
        "space": "outer space",
        "ruins": "the ruins of a town",
        "mountain": "a mountain valley",
        "snow": "a snow field",
        "field": "a farm field",
    }
    thumbs = {}
    for kind, text in kinds.items():
        assert read_environment(text)[0] == kind
        thumbs[kind] = thumb(scene_pixels(make_request(environment=text, subject="")))
    for a, b in itertools.combinations(kinds, 2):
        assert np.abs(thumbs[a] - thumbs[b]).mean() > 6, (a, b)
    luma = {k: (t @ np.array([0.299, 0.587, 0.114])) for k, t in thumbs.items()}
    sky = {k: y[:4].mean() for k, y in luma.items()}
    assert sky["space"] < 0.5 * min(v for k, v in sky.items() if k != "space")
    assert luma["snow"].mean() > luma["forest"].mean() + 40
    blue = {k: (t[..., 2] - t[..., 0]).mean() for k, t in thumbs.items()}
    assert blue["ocean"] > blue["desert"]


def test_every_modifier_changes_the_frame_in_its_own_way():
    texts = {
        "": "a city street",
        "night": "a city street at night",
        "dawn": "a city street at dawn",
        "dusk": "a city street at dusk",
        "rain": "a city street in the rain",
        "fog": "a city street in thick fog",
    }
    pixels = {}
    for modifier, text in texts.items():
        assert read_environment(text)[1] == ((modifier,) if modifier else ())
        pixels[modifier] = scene_pixels(make_request(environment=text, subject=""))
    for a, b in itertools.combinations(texts, 2):
        assert np.abs(thumb(pixels[a]) - thumb(pixels[b])).mean() > 3, (a, b)
    luma = {m: (p @ np.array([0.299, 0.587, 0.114])) for m, p in pixels.items()}
    assert luma["night"].mean() < 0.6 * luma[""].mean()
    assert luma["fog"].std() < luma[""].std()
    warmth = {m: (p[..., 0] - p[..., 2]).mean() for m, p in pixels.items()}
    assert warmth["dusk"] > warmth[""]


def test_the_camera_text_sets_the_subject_scale_whatever_the_shot_record_says():
    areas = []
    for size in SIZES:
        request = make_request(camera=f"{CAMERA_EN[size]}, eye level", size="wide", seed=3)
        frame = render_frame(request)
        assert frame.scene.size == size
        areas.append(frame.subject_mask.mean())
    assert areas == sorted(areas) and len(set(areas)) == len(areas)
    assert areas[0] < 0.01 and areas[-1] > 0.2


def test_chinese_camera_phrases_and_the_fallback_to_the_shot_record():
    assert read_camera("大远景，仰拍，固定机位", "close-up", "eye-level") == (
        "extreme-wide",
        "low-angle",
    )
    assert read_camera("近景，过肩", "wide", "eye-level") == (
        "medium-close-up",
        "over-the-shoulder",
    )
    assert read_camera("medium close-up, Dutch tilt", "wide", "eye-level") == (
        "medium-close-up",
        "dutch",
    )
    assert read_camera("slow push in", "full", "high-angle") == ("full", "high-angle")


def test_angles_move_the_horizon_and_tilt_or_overlay_the_frame():
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    scenes = {
        a: read_scene(make_request(camera=f"wide shot, {a}").shot)
        for a in ("eye level", "low angle", "high angle", "Dutch tilt")
    }
    level = frame_layout(scenes["eye level"], rng(), 640, 360)
    assert frame_layout(scenes["low angle"], rng(), 640, 360).horizon > level.horizon + 50
    assert frame_layout(scenes["high angle"], rng(), 640, 360).horizon < level.horizon - 50
    assert level.tilt == 0 and abs(frame_layout(scenes["Dutch tilt"], rng(), 640, 360).tilt) >= 8

    plain = make_request(camera="medium shot, eye level", environment="a snow field")
    ots = make_request(camera="medium shot, over-the-shoulder", environment="a snow field")
    frame = render_frame(ots)
    x = frame.subject_mask.nonzero()[1].mean() / ots.width
    corner = slice(0, ots.width // 5) if x > 0.5 else slice(-ots.width // 5, None)
    band = caption_height(ots.height)
    rows = slice(ots.height - band - 20, ots.height - band)
    dark = scene_pixels(ots)[rows][:, corner].mean()
    assert dark < 0.5 * scene_pixels(plain)[rows][:, corner].mean()


def test_birds_eye_has_no_sky_and_a_small_figure_from_above():
    request = make_request(camera="wide shot, bird's-eye view", environment="a city street")
    frame = render_frame(request)
    assert frame.scene.angle == "birds-eye"
    assert 0 < frame.subject_mask.mean() < 0.05
    level = scene_pixels(make_request(camera="wide shot", environment="a city street"))
    above = scene_pixels(request)
    assert above[:20].mean() != pytest.approx(level[:20].mean(), abs=5)


def test_subjects_poses_and_props_are_read_from_the_words():
    assert read_subject("一个古老的机器人", "")[0] == ("robot",)
    assert read_subject("a bulldozer", "")[0] == ("machine",)
    # a drone is a machine, though 无人机 holds 人 (a person)
    assert read_subject("城市的监控无人机", "")[0] == ("machine",)
    assert read_subject("a surveillance drone", "")[0] == ("machine",)
    assert read_subject("two children", "")[0] == ("human", "human")
    assert read_subject("an old woman and her robot", "kneels")[0] == ("human", "robot")
    assert read_subject("Lin", "walks") == (("human",), None)
    assert read_subject("林奶奶", "伸手触摸幼苗") == (("human",), "plant")
    scene = read_scene(make_request(action="kneels beside a bulldozer").shot)
    assert scene.pose == "kneel" and scene.background == ("machine",)


def test_poses_change_the_figure():
    masks = [
        render_frame(make_request(action=a, camera="full shot", seed=4)).subject_mask
        for a in ("stands", "kneels in the dirt", "runs away", "raises both arms")
    ]
    heights = [np.ptp(m.nonzero()[0]) for m in masks]
    assert heights[1] < 0.85 * heights[0]  # kneeling is shorter
    for a, b in itertools.combinations(range(len(masks)), 2):
        assert (masks[a] != masks[b]).mean() > 0.005


def test_an_insert_fills_the_frame_with_the_key_object():
    plant = render_frame(make_request(subject="a seedling", camera="insert shot"))
    hand = render_frame(make_request(subject="her hand", action="holds", camera="insert shot"))
    assert plant.scene.prop == "plant" and plant.subject_mask.mean() > 0.08
    assert hand.subject_mask.mean() > 0.08
    assert (plant.subject_mask != hand.subject_mask).mean() > 0.05


def test_rerolls_move_the_composition_but_keep_the_shot():
    frames = [render_frame(make_request(camera="full shot", seed=s)) for s in range(8)]
    xs = {round(f.subject_mask.nonzero()[1].mean() / 320, 1) for f in frames}
    assert len(xs) >= 2
    sizes = [np.ptp(f.subject_mask.nonzero()[0]) for f in frames]
    assert max(sizes) < 1.3 * min(sizes)
    assert len({f.image.tobytes() for f in frames}) == len(frames)


def test_the_bible_palette_grades_the_frame_and_grain_adds_noise():
    warm = scene_pixels(make_request(palette=WARM, grain=0.0))
    cold = scene_pixels(make_request(palette=COLD, grain=0.0))
    assert (warm[..., 0] - warm[..., 2]).mean() > (cold[..., 0] - cold[..., 2]).mean() + 10
    grainy = scene_pixels(make_request(palette=WARM, grain=0.8))
    sky = (slice(5, 25), slice(5, 60))
    assert grainy[sky].std() > warm[sky].std() + 3


# --- the caption band ------------------------------------------------------------------------


def test_chinese_slots_render_as_glyphs_in_the_caption():
    a = make_request(
        subject="林奶奶",
        action="站在田野里",
        environment="乡村田野，清晨",
        camera="远景，平视",
        width=640,
        height=360,
    )
    b = make_request(
        subject="林奶奶",
        action="站在田野里等着",
        environment="乡村田野，清晨",
        camera="远景，平视",
        width=640,
        height=360,
    )
    fa, fb = render_frame(a).image, render_frame(b).image
    band = caption_height(360)
    pa, pb = np.asarray(fa), np.asarray(fb)
    assert np.array_equal(pa[: 360 - band], pb[: 360 - band])
    assert (pa[360 - band :] != pb[360 - band :]).any(axis=2).sum() > 50


def test_the_caption_band_is_dark_and_long_text_is_cut_with_an_ellipsis():
    request = make_request(width=1280, height=720, action="walks " * 80)
    pixels = np.asarray(render_frame(request).image, dtype=np.float32)
    band = caption_height(720)
    assert band == pytest.approx(0.14 * 720, abs=1)
    assert pixels[-band:].mean() < 60
    font = pil_font(16)
    lines = wrap("walks " * 80, font, 300, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(font.getlength(line) <= 300 for line in lines)
    assert wrap("短句", font, 300, 2) == ["短句"]
    assert fit("一" * 100, font, 120).endswith("…")


# --- the contact sheet -----------------------------------------------------------------------


def test_contact_sheet_lays_out_thumbnails_with_labels(tmp_path):
    items = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        PrevizImage().generate(make_request(seed=i, shot_id=f"S0{i}"), path)
        items.append((path, f"S0{i} 镜头"))
    items.append((tmp_path / "missing.png", "S99"))
    dest = contact_sheet(
        items, tmp_path / "sheet" / "contact_sheet.png", columns=2, thumb_width=160
    )
    sheet = Image.open(dest)
    assert sheet.width < 2 * 160 + 40 and sheet.height > 3 * 90
    assert sorted(p.name for p in dest.parent.iterdir()) == ["contact_sheet.png"]
    other = contact_sheet([(items[0][0], "another label")], tmp_path / "one.png", thumb_width=160)
    first = np.asarray(Image.open(other))
    again = contact_sheet([(items[0][0], "S00 镜头")], tmp_path / "two.png", thumb_width=160)
    assert first.shape == np.asarray(Image.open(again)).shape
    assert not np.array_equal(first, np.asarray(Image.open(again)))
    with pytest.raises(InputError):
        contact_sheet([], tmp_path / "none.png")
