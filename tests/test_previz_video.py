"""The previz clip backend: exact frames, the planned camera move, smooth motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from director.errors import AssemblyError, BackendError
from director.records import Shot, ShotPrompt
from director.tools.assemble.probe import probe
from director.tools.base import ClipRequest
from director.tools.video.previz import MOVES, PrevizVideo, camera_move
from tests.conftest import plain_shot

W, H = 320, 180
MARK = (200, 40)  # a white square away from the centre, tracked to measure the move


def _shot(move: str = "push-in", camera: str = "medium shot, eye level") -> Shot:
    prompt = ShotPrompt(
        subject="Mara", action="waits", environment="a garden", camera=camera, style="storyboard"
    )
    return plain_shot(0, 2.0, move=move, prompt=prompt)


@pytest.fixture(scope="module")
def keyframe(tmp_path_factory) -> Path:
    image = Image.new("RGB", (W, H), (20, 20, 20))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, W // 3, H), fill=(40, 90, 140))
    draw.ellipse((120, 60, 220, 140), fill=(200, 180, 60))
    draw.rectangle((MARK[0] - 4, MARK[1] - 4, MARK[0] + 4, MARK[1] + 4), fill=(255, 255, 255))
    path = tmp_path_factory.mktemp("keyframes") / "kf.png"
    image.save(path)
    return path


def _request(keyframe: Path, move: str = "push-in", seconds: float = 1.0, **kw) -> ClipRequest:
    base = dict(
        shot=_shot(move), keyframe=str(keyframe), seed=7, duration_s=seconds, width=W, height=H
    )
    return ClipRequest(**{**base, **kw})


def _frames(path: Path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


def _mark_centre(frame: np.ndarray, floor: int = 200, box=(0, 0, W, H)) -> tuple[float, float]:
    """Centroid of the white mark: of near-white pixels, or of everything above the dark
    background inside ``box``, which keeps the centroid linear in sub-pixel shifts."""
    x0, y0, x1, y1 = box
    weight = np.zeros(frame.shape[:2])
    weight[y0:y1, x0:x1] = np.clip(frame[y0:y1, x0:x1].min(axis=2).astype(float) - floor, 0, None)
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    return float((weight * xs).sum() / weight.sum()), float((weight * ys).sum() / weight.sum())


# --- jobs -----------------------------------------------------------------------------------


def test_submit_is_deterministic_and_records_parameters(keyframe):
    backend = PrevizVideo()
    job = backend.submit(_request(keyframe, seconds=2.5))
    assert job.id == backend.submit(_request(keyframe, seconds=2.5)).id
    assert job.id != backend.submit(_request(keyframe, seconds=2.5, seed=8)).id
    assert (job.backend, job.model, job.kind) == ("previz", "camera-move-v1", "clip")
    assert job.params["fps"] == 24 and job.params["frames"] == 60
    assert job.params["move"] == "push-in" and job.params["preset"] == "ultrafast"
    assert ClipRequest.model_validate(job.request) == _request(keyframe, seconds=2.5)


def test_odd_frame_size_is_refused(keyframe):
    with pytest.raises(BackendError, match="even"):
        PrevizVideo().submit(_request(keyframe, width=321))


# --- clips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("move", sorted(MOVES))
def test_clip_has_exact_frames_rate_size_and_codec(keyframe, tmp_path, move):
    dest = tmp_path / "clips" / f"{move}.mp4"
    PrevizVideo().generate(_request(keyframe, move, seconds=1.3), dest)
    info = probe(dest, count_frames=True)
    assert info.frames == round(1.3 * 24)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", W, H)
    assert info.fps == 24.0
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp file left behind


@pytest.mark.parametrize(
    ("move", "direction"),
    [
        ("push-in", "out"),  # a point off-centre moves away from the centre
        ("pull-out", "in"),
        ("pan-left", (1, 0)),  # the camera turns left, so the picture slides right
        ("pan-right", (-1, 0)),
        ("tilt-up", (0, 1)),
        ("tilt-down", (0, -1)),
        ("tracking", (-1, 0)),
    ],
)
def test_each_move_moves_the_picture_the_right_way(keyframe, tmp_path, move, direction):
    dest = tmp_path / "clip.mp4"
    PrevizVideo().generate(_request(keyframe, move), dest)
    frames = _frames(dest)
    (x0, y0), (x1, y1) = _mark_centre(frames[0]), _mark_centre(frames[-1])
    if isinstance(direction, str):
        r0, r1 = np.hypot(x0 - W / 2, y0 - H / 2), np.hypot(x1 - W / 2, y1 - H / 2)
        assert (r1 - r0 if direction == "out" else r0 - r1) > 5
    else:
        dx, dy = x1 - x0, y1 - y0
        assert dx * direction[0] + dy * direction[1] > 5
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 2


def test_static_shot_holds_still(keyframe, tmp_path):
    dest = tmp_path / "static.mp4"
    PrevizVideo().generate(_request(keyframe, "static"), dest)
    frames = _frames(dest)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() < 1.0


def test_push_in_is_smooth_without_jitter(keyframe, tmp_path):
    dest = tmp_path / "smooth.mp4"
    PrevizVideo().generate(_request(keyframe, "push-in", seconds=2.0), dest)
    # The mark drifts from (200, 40) to about (206, 33); the box keeps the ellipse out.
    path = np.array([_mark_centre(f, floor=24, box=(185, 20, 225, 52)) for f in _frames(dest)])
    step = np.hypot(*np.diff(path, axis=0).T)
    accel = np.diff(path, n=2, axis=0)
    # Whole-pixel snapping shows as runs of still frames and jumps; a smooth ease has neither.
    middle = step[len(step) // 4 : -len(step) // 4]
    assert middle.min() > 0.05
    assert np.abs(accel).max() < 0.2


def test_clip_renders_at_1280x720(keyframe, tmp_path):
    dest = tmp_path / "hd.mp4"
    PrevizVideo().generate(_request(keyframe, "pan-right", width=1280, height=720), dest)
    info = probe(dest, count_frames=True)
    assert (info.width, info.height, info.frames) == (1280, 720, 24)


def test_missing_keyframe_fails_and_writes_nothing(keyframe, tmp_path):
    backend = PrevizVideo()
    request = _request(keyframe).model_copy(update={"keyframe": str(tmp_path / "x")})
    with pytest.raises(BackendError, match="s001"):
        backend.submit(request)
    job = PrevizVideo().submit(_request(keyframe))
    job.request["keyframe"] = str(tmp_path / "x")  # a record from elsewhere, keyframe gone
    with pytest.raises(BackendError, match="s001"):
        PrevizVideo().collect(job, tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == []


def test_submitted_clips_render_in_the_background_and_collect_in_any_order(keyframe, tmp_path):
    backend = PrevizVideo()
    jobs = [backend.submit(_request(keyframe, move)) for move in ("pan-left", "push-in")]
    assert len(backend._running) == 2
    backend.collect(jobs[1], tmp_path / "b.mp4")
    backend.collect(jobs[0], tmp_path / "a.mp4")
    assert backend._running == {}
    assert probe(tmp_path / "a.mp4", count_frames=True).frames == 24
    assert probe(tmp_path / "b.mp4", count_frames=True).frames == 24
    spool = backend._spool
    backend.close()
    assert spool is not None and not spool.exists()


def test_a_background_render_that_fails_raises_at_collect_and_writes_nothing(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    backend = PrevizVideo()
    job = backend.submit(_request(broken))
    with pytest.raises(AssemblyError, match="ffmpeg failed"):
        backend.collect(job, tmp_path / "out" / "c.mp4")
    assert list((tmp_path / "out").iterdir()) == []
    backend.close()


def test_close_stops_clips_still_rendering(keyframe, tmp_path):
    backend = PrevizVideo()
    backend.submit(_request(keyframe, "tracking"))
    spool = backend._spool
    backend.close()
    assert backend._running == {} and not spool.exists()


def test_collect_redoes_a_job_from_its_record(keyframe, tmp_path):
    job = PrevizVideo().submit(_request(keyframe, "tilt-up"))
    PrevizVideo().collect(job.model_validate(job.model_dump(mode="json")), tmp_path / "c.mp4")
    assert probe(tmp_path / "c.mp4", count_frames=True).frames == 24


def test_steps_are_reported(keyframe, tmp_path):
    steps = []
    PrevizVideo(on_step=steps.append).generate(_request(keyframe, "static"), tmp_path / "d.mp4")
    assert len(steps) == 1 and steps[0].step == "clip s001"
    assert "libx264" in steps[0].command


# --- reading the move -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("camera", "planned", "expected"),
    [
        ("medium shot, eye level, slow push in", "static", "push-in"),
        ("wide shot, pan left across the ruins", "push-in", "pan-left"),
        ("Close-up, PUSH-IN", "static", "push-in"),
        ("中景，平视，缓慢推镜", "static", "push-in"),
        ("远景，向上摇镜", "static", "tilt-up"),
        ("特写，拉镜", "static", "pull-out"),
        ("tracking shot beside her", "static", "tracking"),
        ("static camera", "pan-right", "static"),
        ("medium shot, eye level", "tilt-down", "tilt-down"),
        ("a span leftward", "pull-out", "pull-out"),
        ("pan right, then push in", "static", "pan-right"),
    ],
)
def test_camera_slot_names_the_move(camera, planned, expected):
    assert camera_move(_shot(planned, camera)) == expected


@pytest.mark.parametrize("held, still", [(40, True), (0, False)])
def test_a_caption_band_is_held_still_while_the_picture_moves(tmp_path, held, still):
    image = Image.new("RGB", (W, H), (30, 60, 90))
    draw = ImageDraw.Draw(image)
    for x in range(0, W, 24):  # stripes everywhere, so any move shows in every region
        draw.rectangle((x, 0, x + 11, H), fill=(230, 230, 230))
    path = tmp_path / "captioned.png"
    image.save(path)
    out = tmp_path / "c.mp4"
    PrevizVideo().generate(_request(path, "push-in", hold_bottom_px=held), out)
    frames = _frames(out)
    first, last = frames[0].astype(int), frames[-1].astype(int)
    assert np.abs(first[: H - 60] - last[: H - 60]).mean() > 10  # the picture moved
    band = np.abs(first[H - 36 :] - last[H - 36 :]).mean()
    assert bool(band < 3) is still
