"""Clips from a local Wan pipeline with diffusers: image-to-video from the accepted keyframe, or
text-to-video when the folder holds a text-to-video model.

The model is a pipeline folder (``diffusers:/models/wan2.1-i2v``); nothing is read from a hub.
The pipeline is loaded on first use and kept for the backend's life. Wan makes 4k+1 frames at
sizes that are multiples of 16, so a clip is generated at the nearest such size with at least
the frames the request needs, then resized, trimmed and encoded at the request's size and frame
rate with the project's ffmpeg.

Device, precision, offload, steps, guidance, the attention kernel, compilation and VAE decoding
are settings (``director.tools.diffusers_local``): constructor arguments, else the run's
resolved settings (``settings=``: flags, ``DIRECTOR_DIFFUSERS_*`` variables, the config file's
``[diffusers]`` table), else the variables alone; without them
Wan runs 50 steps at guidance 5.0. Frames become bytes on the device: only uint8 pixels cross
to the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from director.errors import BackendError, InputError
from director.tools import diffusers_local as local
from director.tools.assemble.ffmpeg_bin import StepRecord, run_ffmpeg
from director.tools.base import ClipRequest, Job, VideoBackend
from director.tools.video.previz import frame_count

PIPELINES = {"WanImageToVideoPipeline": "image-to-video", "WanPipeline": "text-to-video"}
SIZE_MULTIPLE = 16  # the VAE's 8x spatial compression times the transformer's 2x2 patches
TEMPORAL = 4  # the VAE compresses time 4x: clips are 4k+1 frames
MIN_SIDE, MAX_SIDE = 16, 4096
DEFAULT_STEPS, DEFAULT_GUIDANCE = 50, 5.0
# Clips of larger frames than 832x480 are VAE-decoded in tiles by default. Wan's VAE decoding
# whole frames takes 8.6 GB beyond the weights at 832x480 and 19.8 GB at 1280x720 (2.2 GB in
# tiles, at 1.8x the time; one H200, docs/benchmarks-history.md): more than most GPUs have beside the model.
TILE_ABOVE = 832 * 480


class DiffusersVideo(VideoBackend):
    """Wan image-to-video or text-to-video clips from local weights."""

    name = "diffusers"

    def __init__(
        self,
        model: str = "",
        *,
        device: str | None = None,
        dtype: str | None = None,
        offload: bool | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        attention: str | None = None,
        compile: str | bool | None = None,
        vae_decode: str | None = None,
        settings: Mapping[str, Any] | None = None,
        preset: str = "ultrafast",
        crf: int = 18,
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> None:
        local.require_diffusers()
        found = local.backend_settings(
            settings,
            {
                "device": device,
                "dtype": dtype,
                "offload": offload,
                "steps": steps,
                "guidance": guidance,
                "attention": attention,
                "compile": compile,
                "vae_decode": vae_decode,
            },
        )
        self.path = local.local_model(model, "video")
        if not self.path.is_dir():
            raise InputError(
                f"{self.path} is a file; the diffusers video backend loads pipeline folders.",
                "Pass the Wan pipeline folder (the one that holds model_index.json).",
            )
        self.model = str(self.path)
        self.class_name = _supported(local.pipeline_class(self.path), self.path)
        self.mode = PIPELINES[self.class_name]
        self.placement = local.placement(found["device"], found["dtype"], found["offload"])
        self.speed = local.tuning(found, self.placement)
        self.steps: int = found["steps"] or DEFAULT_STEPS
        guidance = found["guidance"]
        self.guidance: float = DEFAULT_GUIDANCE if guidance is None else guidance
        self.preset, self.crf, self.on_step = preset, crf, on_step
        self.max_in_flight = 1  # one GPU, one clip at a time
        self._pipe: Any = None

    def submit(self, request: ClipRequest) -> Job:
        _check_size(request.width, request.height)
        frames = frame_count(request.duration_s, request.fps)
        width = local.nearest_multiple(request.width, SIZE_MULTIPLE)
        height = local.nearest_multiple(request.height, SIZE_MULTIPLE)
        params = {
            "pipeline": self.class_name,
            "mode": self.mode,
            "seed": request.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "fps": request.fps,
            "frames": frames,
            "frames_generated": generated_frames(frames),
            "render_width": width,
            "render_height": height,
            "width": request.width,
            "height": request.height,
            "held_bottom_rows": min(request.hold_bottom_px, request.height),
            "device": self.placement.device,
            "dtype": self.placement.dtype,
            "cpu_offload": self.placement.offload,
            "attention": self.speed.attention,
            "compile": self.speed.compile,
            "vae_decode": local.decode_mode(self.speed.vae_decode, width, height, TILE_ABOVE),
            "codec": "libx264",
            "preset": self.preset,
            "crf": self.crf,
        }
        payload = request.model_dump(mode="json")
        digest = hashlib.sha256(
            json.dumps([self.model, params, payload], sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        return Job.of(self, request, f"diffusers-{digest[:20]}", payload=payload, params=params)

    def collect(self, job: Job, dest: Path) -> None:
        if job.backend != self.name or job.model != self.model:
            raise BackendError(
                f"Job {job.id} was made by {job.backend}:{job.model}, not by this backend.",
                f"Collect it with --video {job.backend}:{job.model}.",
            )
        request = ClipRequest.model_validate(job.request)
        frames = self._generate(request, job.params)
        frames = _fit(frames, request, job.params)
        _encode(frames, request, Path(dest).absolute(), job.params, self.on_step)

    def _generate(self, request: ClipRequest, params: dict[str, Any]) -> Any:
        """The clip's frames as uint8 (frames, height, width, 3), trimmed to the request."""
        pipe = self.pipeline
        kwargs: dict[str, Any] = {}
        if self.mode == "image-to-video":
            kwargs["image"] = _keyframe(request, params)
        decode = params.get("vae_decode") or local.decode_mode(
            self.speed.vae_decode, params["render_width"], params["render_height"], TILE_ABOVE
        )
        try:
            with local.running(pipe, self.speed, decode):
                out = pipe(
                    prompt=request.prompt or request.shot.prompt.render(),
                    negative_prompt=request.shot.prompt.render_negative() or None,
                    height=params["render_height"],
                    width=params["render_width"],
                    num_frames=params["frames_generated"],
                    num_inference_steps=params["steps"],
                    guidance_scale=params["guidance"],
                    generator=local.generators([request.seed])[0],
                    output_type="pt",
                    **kwargs,
                ).frames[0]
            # (frames, channels, height, width) on the device, to (frames, height, width, 3).
            return local.to_uint8(out[: params["frames"]].permute(0, 2, 3, 1), half_up=True)
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise BackendError(
                    f"The Wan pipeline ran out of GPU memory on shot {request.shot.id}.",
                    f"Keep the parts not in use in RAM ({local.how_to_set('offload', True)}), "
                    f"or decode in tiles ({local.how_to_set('vae_decode', 'tiled')}).",
                ) from exc
            what = f"The Wan pipeline on shot {request.shot.id}"
            raise local.run_error(exc, what, self.speed) from exc

    @property
    def pipeline(self) -> Any:
        """The diffusers pipeline, loaded on first use and kept for the backend's life."""
        if self._pipe is None:
            self._pipe = local.load_pipeline(
                self.class_name,
                self.path,
                self.placement,
                speed=self.speed,
                **_float32_vae(self.path),
            )
        return self._pipe


def generated_frames(frames: int) -> int:
    """The fewest 4k+1 frames that cover ``frames``."""
    return frames + (-(frames - 1)) % TEMPORAL


def _float32_vae(path: Path) -> dict[str, Any]:
    """Wan's VAE decodes badly in half precision; it is loaded in float32 beside the rest."""
    local.offline()
    import torch
    from diffusers import AutoencoderKLWan

    with local.load_errors(path):
        vae = AutoencoderKLWan.from_pretrained(
            str(path), subfolder="vae", dtype=torch.float32, local_files_only=True
        )
    return {"vae": vae}


def _keyframe(request: ClipRequest, params: dict[str, Any]) -> Any:
    from PIL import Image

    keyframe = Path(request.keyframe)
    if not keyframe.is_file():
        raise BackendError(
            f"Keyframe {keyframe} for shot {request.shot.id} does not exist.",
            "Render the shot's keyframe again, then collect the clip.",
        )
    with Image.open(keyframe) as image:
        size = (params["render_width"], params["render_height"])
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _fit(frames: Any, request: ClipRequest, params: dict[str, Any]) -> Any:
    """Resize to the request and hold the keyframe's bottom rows (a caption) still."""
    import numpy as np
    from PIL import Image

    size = (request.width, request.height)
    if frames.shape[2] != request.width or frames.shape[1] != request.height:
        frames = np.stack(
            [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.LANCZOS)) for f in frames]
        )
    rows = params["held_bottom_rows"]
    if rows and Path(request.keyframe).is_file():
        with Image.open(request.keyframe) as image:
            still = np.asarray(image.convert("RGB").resize(size, Image.Resampling.LANCZOS))
        frames[:, -rows:] = still[-rows:]
    return frames


def _encode(
    frames: Any,
    request: ClipRequest,
    dest: Path,
    params: dict[str, Any],
    on_step: Callable[[StepRecord], None] | None,
) -> None:
    """Raw RGB frames to an H.264 MP4 at the request's frame rate, written atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    raw = dest.with_name(f".{dest.stem}.{tag}.rgb")
    part = dest.with_name(f".{dest.stem}.{tag}.part.mp4")
    try:
        raw.write_bytes(frames.tobytes())
        argv = [
            "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{request.width}x{request.height}", "-r", str(request.fps), "-i", str(raw),
            "-frames:v", str(len(frames)), "-c:v", "libx264", "-preset", params["preset"],
            "-crf", str(params["crf"]), "-pix_fmt", "yuv420p", str(part),
        ]  # fmt: skip
        run_ffmpeg(argv, step=f"clip {request.shot.id}", output=part, on_step=on_step)
        os.replace(part, dest)
    finally:
        raw.unlink(missing_ok=True)
        part.unlink(missing_ok=True)


def _supported(class_name: str, path: Path) -> str:
    if class_name not in PIPELINES:
        raise InputError(
            f"{path} holds a {class_name}, which the diffusers video backend does not run.",
            f"Use a Wan pipeline folder: {', '.join(PIPELINES)}.",
        )
    return class_name


def _check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InputError(
            f"Cannot render a {width}x{height} clip with diffusers.",
            f"Ask for a width and height between {MIN_SIDE} and {MAX_SIDE} pixels.",
        )
