"""The offline clip backend: animates a keyframe with the shot's planned camera move.

One ffmpeg command per clip: the keyframe is scaled once, repeated for the clip's frames, and
moved by the ``perspective`` filter, whose corners are evaluated per frame with sub-pixel
precision (zoompan and crop snap to whole pixels, which shows as jitter on slow moves). Clips
are intermediates that the assembler re-encodes, so they are encoded for speed, not size.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import get_args

import ffmpeg

from director import prompts
from director.errors import BackendError
from director.records import CameraMove, Shot
from director.tools.assemble.ffmpeg_bin import (
    RunningFfmpeg,
    StepRecord,
    run_ffmpeg,
    start_ffmpeg,
)
from director.tools.base import ClipRequest, Job, VideoBackend


@dataclass(frozen=True)
class MovePath:
    """Where the camera window starts and ends: zoom factor, and x/y as fractions of the slack
    between the window and the frame (0 = left/top, 0.5 = centred, 1 = right/bottom)."""

    zoom: tuple[float, float]
    x: tuple[float, float] = (0.5, 0.5)
    y: tuple[float, float] = (0.5, 0.5)


# A 15% window leaves room for a pan of about an eighth of the frame over a shot: visible,
# never dizzying. Tracking adds a slow push to the lateral move so it reads as travel.
MOVES: dict[str, MovePath | None] = {
    "static": None,
    "push-in": MovePath(zoom=(1.0, 1.15)),
    "pull-out": MovePath(zoom=(1.15, 1.0)),
    "pan-left": MovePath(zoom=(1.15, 1.15), x=(1.0, 0.0)),
    "pan-right": MovePath(zoom=(1.15, 1.15), x=(0.0, 1.0)),
    "tilt-up": MovePath(zoom=(1.15, 1.15), y=(1.0, 0.0)),
    "tilt-down": MovePath(zoom=(1.15, 1.15), y=(0.0, 1.0)),
    "tracking": MovePath(zoom=(1.12, 1.18), x=(0.0, 1.0)),
}


class PrevizVideo(VideoBackend):
    """Deterministic camera-move clips from keyframes, with ffmpeg filters only."""

    name = "previz"
    model = "camera-move-v1"

    def __init__(
        self,
        *,
        preset: str = "ultrafast",
        crf: int = 18,
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> None:
        self.preset = preset
        self.crf = crf
        self.on_step = on_step
        # Each clip's ffmpeg mostly uses one core, so one job per core keeps the machine busy.
        self.max_in_flight = max(1, os.cpu_count() or 1)
        self._running: dict[str, tuple[RunningFfmpeg, Path]] = {}
        self._spool: Path | None = None

    def submit(self, request: ClipRequest) -> Job:
        _check_size(request.width, request.height)
        payload = request.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
        params = {
            "fps": request.fps,
            "duration_s": request.duration_s,
            "frames": frame_count(request.duration_s, request.fps),
            "move": camera_move(request.shot),
            "held_bottom_rows": _held_rows(request.hold_bottom_px, request.height),
            "codec": "libx264",
            "preset": self.preset,
            "crf": self.crf,
        }
        job = Job.of(self, request, f"previz-{digest[:16]}", payload=payload, params=params)
        self._start(job, request)
        return job

    def _start(self, job: Job, request: ClipRequest) -> None:
        """Begin rendering in the background; collect() waits for it."""
        if job.id in self._running:
            return
        keyframe = _keyframe(request)
        if self._spool is None:
            self._spool = Path(tempfile.mkdtemp(prefix="director-clips-"))
        temp = self._spool / f"{job.id}.mp4"
        stream = clip_stream(request, keyframe, temp, preset=self.preset, crf=self.crf)
        running = start_ffmpeg(stream, step=f"clip {request.shot.id}", output=temp)
        self._running[job.id] = (running, temp)

    def collect(self, job: Job, dest: Path) -> None:
        dest = Path(dest).absolute()
        dest.parent.mkdir(parents=True, exist_ok=True)
        started = self._running.pop(job.id, None)
        if started is None:  # submitted by another process: render it here
            self._render(job, dest)
            return
        running, temp = started
        try:
            running.wait(self.on_step)
            part = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:8]}.part.mp4")
            shutil.move(temp, part)
            os.replace(part, dest)
        finally:
            temp.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop clips still rendering and remove their temporary files."""
        for running, temp in self._running.values():
            running.kill()
            temp.unlink(missing_ok=True)
        self._running.clear()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None

    def _render(self, job: Job, dest: Path) -> None:
        request = ClipRequest.model_validate(job.request)
        _check_size(request.width, request.height)
        keyframe = _keyframe(request)
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:8]}.part.mp4")
        try:
            stream = clip_stream(request, keyframe, temp, preset=self.preset, crf=self.crf)
            run_ffmpeg(stream, step=f"clip {request.shot.id}", output=dest, on_step=self.on_step)
            os.replace(temp, dest)
        finally:
            temp.unlink(missing_ok=True)


def _keyframe(request: ClipRequest) -> Path:
    keyframe = Path(request.keyframe)
    if not keyframe.is_file():
        raise BackendError(
            f"Keyframe {keyframe} for shot {request.shot.id} does not exist.",
            "Render the shot's keyframe again, then collect the clip.",
        )
    return keyframe


def frame_count(duration_s: float, fps: int) -> int:
    return max(1, round(duration_s * fps))


def clip_stream(request: ClipRequest, keyframe: Path, out: Path, *, preset: str, crf: int):
    """The ffmpeg-python graph that renders ``request`` to ``out``."""
    frames = frame_count(request.duration_s, request.fps)
    w, h = request.width, request.height
    video = (
        ffmpeg.input(str(keyframe.absolute()))
        .filter("scale", w=w, h=h, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", w=w, h=h)
        .filter("setsar", "1")
        .filter("format", pix_fmts="yuv420p")
        .filter("loop", loop=frames - 1, size=1, start=0)
        .filter("setpts", f"N/({request.fps}*TB)")
    )
    path = MOVES[camera_move(request.shot)]
    if path is not None:
        video = _move(video, path, frames, w, h, _held_rows(request.hold_bottom_px, h))
    return ffmpeg.output(
        video,
        str(out),
        vcodec="libx264",
        preset=preset,
        crf=crf,
        pix_fmt="yuv420p",
        r=request.fps,
        an=None,
        **{"frames:v": frames},
    )


def _move(video, path: MovePath, frames: int, w: int, h: int, held: int):
    """Apply the move to the picture; ``held`` rows at the bottom (a caption) stay still."""
    if not held:
        return _perspective(video, path, frames)
    split = video.split()
    picture, caption = split[0], split[1]
    moving = _perspective(picture.filter("crop", w=w, h=h - held, x=0, y=0), path, frames)
    still = caption.filter("crop", w=w, h=held, x=0, y=h - held)
    return ffmpeg.filter([moving, still], "vstack")


def _perspective(video, path: MovePath, frames: int):
    return video.filter(
        "perspective", interpolation="linear", eval="frame", **move_corners(path, frames)
    )


def _held_rows(rows: int, height: int) -> int:
    """Even (for yuv420p) and leaving most of the frame to move; 0 when nothing is held."""
    rows -= rows % 2
    return rows if 0 < rows <= height // 2 else 0


def move_corners(path: MovePath, frames: int) -> dict[str, str]:
    """Per-frame expressions for the four source corners of ``perspective``.

    Progress eases in and out (smoothstep) so moves start and settle like a real head.
    """
    p = f"(in/{max(frames - 1, 1)})"
    ease = f"({p}*{p}*(3-2*{p}))"
    zoom = _lerp(path.zoom, ease)
    left = f"{_lerp(path.x, ease)}*(W-W/{zoom})"
    top = f"{_lerp(path.y, ease)}*(H-H/{zoom})"
    right, bottom = f"{left}+W/{zoom}", f"{top}+H/{zoom}"
    return {
        "x0": left, "y0": top, "x1": right, "y1": top,
        "x2": left, "y2": bottom, "x3": right, "y3": bottom,
    }  # fmt: skip


def _lerp(span: tuple[float, float], ease: str) -> str:
    start, end = span
    return f"({start:g}{end - start:+g}*{ease})" if end != start else f"({start:g})"


def _check_size(width: int, height: int) -> None:
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise BackendError(
            f"Clip size {width}x{height} cannot be encoded as H.264 yuv420p.",
            "Use an even width and height (for example 1280x720).",
        )


# --- reading the move from the camera slot ---------------------------------------------------


def camera_move(shot: Shot) -> CameraMove:
    """The move the camera slot names (people edit slots by hand), else the shot's own move."""
    text = _normalise(shot.prompt.camera)
    hits = [
        (match.start(), -len(phrase), move)
        for phrase, move in _move_phrases()
        if (match := re.search(_pattern(phrase), text))
    ]
    return min(hits)[2] if hits else shot.move


@lru_cache(maxsize=1)
def _move_phrases() -> tuple[tuple[str, str], ...]:
    """(phrase, move) from camera.json, plus the forms people type: without "slow", or the key."""
    moves = prompts.read_json("vocab", "camera.json")["move"]
    phrases = set()
    for move, words in moves.items():
        if move not in get_args(CameraMove):
            continue
        for word in (*words.values(), move):
            phrase = _normalise(word)
            phrases |= {(phrase, move), (re.sub(r"^(slow |缓慢)", "", phrase), move)}
    return tuple(sorted(phrases))


def _normalise(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").replace("_", " ").split())


def _pattern(phrase: str) -> str:
    # Latin phrases match whole words ("pan left" not inside "span lefty"); Chinese has no spaces.
    if phrase.isascii():
        return rf"\b{re.escape(phrase)}\b"
    return re.escape(phrase)
