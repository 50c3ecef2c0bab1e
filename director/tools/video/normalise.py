"""A delivered clip made into the clip a run uses: re-encoded to the request's size and frame
rate as H.264 in MP4, whatever container, codec, size or rate the generator delivered."""

from __future__ import annotations

import os
from pathlib import Path

from director.errors import GenerationFailed
from director.tools.base import ClipRequest


def normalise(
    raw: Path, dest: Path, request: ClipRequest, *, crf: int, what: str, task_id: str
) -> dict:
    """``raw`` re-encoded to the request's size and rate at ``dest``; what ``raw`` was.
    ``what`` names the work in messages ("DashScope task ID")."""
    from director.errors import AssemblyError
    from director.tools.assemble.ffmpeg_bin import run_ffmpeg
    from director.tools.assemble.probe import probe

    try:
        info = probe(raw)
    except AssemblyError as exc:
        raise _not_a_clip(what, task_id) from exc
    if not info.video_codec or not info.width:
        raise _not_a_clip(what, task_id)
    w, h, fps = request.width, request.height, request.fps
    delivered = {
        "delivered": {
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "duration_s": round(info.duration_s, 3),
            "audio": info.audio_codec,
        },
    }
    part = dest.with_name(f".{dest.stem}.part.mp4")
    vf = (
        f"scale={w}:{h}:force_original_aspect_ratio=increase:flags=lanczos,"
        f"crop={w}:{h},setsar=1,fps={fps},format=yuv420p"
    )
    argv = ["-i", str(raw), "-map", "0:v:0", "-map", "0:a?", "-vf", vf, "-c:v", "libx264"]
    argv += ["-preset", "veryfast", "-crf", str(crf), "-c:a", "aac", "-movflags", "+faststart"]
    try:
        run_ffmpeg([*argv, str(part)], step=f"normalise clip {request.shot.id}", output=dest)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    delivered["normalised_to"] = {"width": w, "height": h, "fps": fps}
    return delivered


def _not_a_clip(what: str, task_id: str) -> GenerationFailed:
    return GenerationFailed(
        f"{what} returned a file that is not a video.",
        code="BadResult",
        task_id=task_id,
    )
