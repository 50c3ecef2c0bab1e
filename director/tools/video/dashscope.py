"""Wan clips on Alibaba DashScope: image-to-video, first-and-last-frame, text-to-video and
reference-to-video.

The accepted keyframe goes up as a ``data:`` URI (scaled into the 360-2000 px a side the
service takes, PNG without alpha, or JPEG above the 10 MB limit), with the shot's motion prompt,
the run's seed, a resolution tier from the requested height ("480P", "720P", "1080P") and the
service's prompt rewriting off. The model decides the request's shape:

- Wan 2.1-2.6 take named fields: ``img_url`` (image-to-video), ``first_frame_url`` and
  ``last_frame_url`` (first-and-last-frame, ``kf2v``), or a ``W*H`` size and the whole shot
  prompt (text-to-video).
- Wan 2.7 takes a list ``input.media`` of ``{"type", "url"}`` items: ``first_frame`` (and
  ``last_frame``) for ``wan2.7-i2v``; ``reference_image`` items and the keyframe as
  ``first_frame`` for ``wan2.7-r2v``, whose prompt names who each reference shows ("Image 1 is
  Mara"); none for ``wan2.7-t2v``, which takes a resolution and an aspect ``ratio``.

A clip asked for with reference photos (a cast member in frame on a reference-to-video model,
or the ladder's reference rung on any model) goes to the reference model, ``wan2.7-r2v`` unless
another is named; a clip without them, on a reference-to-video model, goes to ``wan2.7-i2v``.
The job's params record the mode, the model and each reference sent (by path, never the
pixels). Models with a fixed length make 5 s; assembly trims (or holds the last frame), and
the job's params record what was delivered. The delivered clip is re-encoded to the requested
size and frame rate, so every clip the graph sees has the same shape whatever the model made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from director.errors import InputError
from director.tools import hosted
from director.tools.base import ClipRequest, Job, VideoBackend
from director.tools.dashscope_tasks import (
    DashScope,
    SizeRule,
    bill,
    dashscope_seed,
    inline_image,
)
from director.tools.pricing import PriceTable
from director.tools.providers import ProviderSettings
from director.tools.video.normalise import normalise

DEFAULT_MODEL = "wan2.2-i2v-flash"
REFERENCE_MODEL = "wan2.7-r2v"  # clips conditioned on the characters' reference photos
PLAIN_MODEL = "wan2.7-i2v"  # a reference-to-video model's clips with no one to reference
MAX_REFERENCES = 4  # wan2.7-r2v takes up to five media references; the keyframe is one
MAX_RESULT_BYTES = 300 * 1024 * 1024
TIERS = ("480P", "720P", "1080P")
# Keyframes sent to the video models: 360-2000 px a side. Reference photos are only looked at.
FRAME_INPUT = SizeRule(min_side=360, max_side=2000, step=2)
REFERENCE_INPUT = SizeRule(min_side=384, max_side=1280, step=2)
# Wan 2.7's aspect ratios (text-to-video and reference-to-video take one, not a pixel size).
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
# Text-to-video sizes per tier (DashScope's text-to-video reference).
T2V_SIZES = {
    "480P": ((832, 480), (480, 832), (624, 624)),
    "720P": ((1280, 720), (720, 1280), (960, 960), (1088, 832), (832, 1088)),
    "1080P": ((1920, 1080), (1080, 1920), (1440, 1440), (1632, 1248), (1248, 1632)),
}


@dataclass(frozen=True)
class VideoModel:
    # "i2v" (first frame), "kf2v" (first and last frame), "t2v" (text only) or "r2v"
    # (reference photos, and the keyframe to start on)
    mode: str
    tiers: tuple[str, ...]
    durations: tuple[int, ...]  # the lengths the model makes; one means it is fixed
    media: bool = False  # Wan 2.7's request shape: inputs as an input.media list

    def tier(self, width: int, height: int) -> str:
        """The smallest tier the model offers that is at least the request's short side."""
        short = min(width, height)
        wanted = "480P" if short <= 480 else "720P" if short <= 720 else "1080P"
        above = [t for t in self.tiers if TIERS.index(t) >= TIERS.index(wanted)]
        return above[0] if above else self.tiers[-1]

    def duration(self, seconds: float) -> int:
        """The shortest length the model makes that covers ``seconds``, else its longest."""
        covering = [d for d in self.durations if d >= math.ceil(seconds - 1e-6)]
        return covering[0] if covering else self.durations[-1]


# Resolutions and lengths per model, from Alibaba's model pages; the fixed 5 s models are not
# sent a duration (one of them refuses the parameter outright).
MODELS: dict[str, VideoModel] = {
    "wan2.2-i2v-flash": VideoModel("i2v", ("480P", "720P", "1080P"), (5,)),
    "wan2.2-i2v-plus": VideoModel("i2v", ("480P", "1080P"), (5,)),
    "wan2.5-i2v-preview": VideoModel("i2v", ("480P", "720P", "1080P"), (5, 10)),
    "wanx2.1-i2v-turbo": VideoModel("i2v", ("480P", "720P"), (3, 4, 5)),
    "wanx2.1-i2v-plus": VideoModel("i2v", ("720P",), (5,)),
    "wan2.2-kf2v-flash": VideoModel("kf2v", ("480P", "720P", "1080P"), (5,)),
    "wanx2.1-kf2v-plus": VideoModel("kf2v", ("720P",), (5,)),
    "wan2.2-t2v-plus": VideoModel("t2v", ("480P", "1080P"), (5,)),
    "wan2.5-t2v-preview": VideoModel("t2v", ("480P", "720P", "1080P"), (5, 10)),
    "wanx2.1-t2v-turbo": VideoModel("t2v", ("480P", "720P"), (5,)),
    "wanx2.1-t2v-plus": VideoModel("t2v", ("720P",), (5,)),
    # Wan 2.7 (Alibaba's image-to-video, text-to-video and reference-to-video references):
    # 720P or 1080P, whole seconds; reference-to-video 2-10 s (with a reference video; director
    # sends photos, and stays in the shorter range), the others 2-15 s.
    "wan2.7-i2v": VideoModel("i2v", ("720P", "1080P"), tuple(range(2, 16)), media=True),
    "wan2.7-t2v": VideoModel("t2v", ("720P", "1080P"), tuple(range(2, 16)), media=True),
    "wan2.7-r2v": VideoModel("r2v", ("720P", "1080P"), tuple(range(2, 11)), media=True),
}


class DashScopeVideo(VideoBackend):
    """Clips from DashScope's Wan video models, one asynchronous task per clip."""

    name: ClassVar[str] = "dashscope"
    family: ClassVar[str] = (
        "Wan video models: image-to-video, first-and-last-frame (kf2v), text-to-video, and "
        "Wan 2.7 reference-to-video (r2v)"
    )
    known_models: ClassVar[tuple[str, ...]] = tuple(MODELS)
    accepts_references = True  # through the reference model, whatever model is chosen

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        reference_model: str = REFERENCE_MODEL,
        plain_model: str = PLAIN_MODEL,
        max_in_flight: int = 4,
        retries: hosted.Retries | None = None,
        polling: hosted.Polling | None = None,
        request_timeout: float = 60.0,
        download_timeout: float = 600.0,
        max_result_bytes: int = MAX_RESULT_BYTES,
        provider_settings: ProviderSettings | None = None,
        prices: PriceTable | None = None,
        crf: int = 18,
    ) -> None:
        for name in (model, reference_model, plain_model):
            _known(name)
        if MODELS[reference_model].mode != "r2v" or MODELS[plain_model].mode == "r2v":
            raise InputError(
                f"{reference_model} cannot be the reference model, or {plain_model} the plain one.",
                f"Use a reference-to-video model ({REFERENCE_MODEL}) for references and an "
                f"image-to-video one ({PLAIN_MODEL}) for clips without them.",
            )
        if max_in_flight < 1:
            raise InputError("max_in_flight must be at least 1.", "Allow one clip or more.")
        self.model = model
        self.spec = MODELS[model]
        self.reference_model = reference_model
        self.plain_model = plain_model
        # A reference-to-video model is chosen for identity: every clip with a cast member in
        # frame is conditioned on their photos, not only the ladder's reference rung.
        self.references_always = self.spec.mode == "r2v"
        self.max_in_flight = max_in_flight
        self.max_result_bytes = max_result_bytes
        self.crf = crf
        self.service = DashScope(
            setting="--video dashscope:MODEL",
            provider=provider_settings,
            prices=prices,
            retries=retries or hosted.Retries(),
            polling=polling or hosted.Polling(first=2.0, factor=1.1, most=15.0, timeout=1800.0),
            request_timeout=request_timeout,
            download_timeout=download_timeout,
        )

    # --- submit -------------------------------------------------------------------------

    def route(self, request: ClipRequest) -> str:
        """The model a clip goes to: the reference model when it carries reference photos, the
        plain one when a reference-to-video model has no one to reference, else the chosen."""
        if request.references and self.spec.mode != "r2v":
            return self.reference_model
        if not request.references and self.spec.mode == "r2v":
            return self.plain_model
        return self.model

    def estimate(self, request: ClipRequest) -> float | None:
        from director.tools.pricing import estimate

        model = self.route(request)
        spec = MODELS[model]
        seconds = spec.duration(request.duration_s)
        tier = spec.tier(request.width, request.height)
        return estimate(
            self.name, model, "clip", seconds=seconds, resolution=tier, table=self.service.prices
        )

    def submit(self, request: ClipRequest) -> Job:
        model = self.route(request)
        call, params = _arguments(model, request)
        from dashscope import VideoSynthesis

        faults: list[dict] = []
        task_id = self.service.submit(
            VideoSynthesis.async_call, model=model, what="video task", faults=faults, **call
        )
        if faults:
            params["faults"] = faults
        return Job(
            id=task_id,
            backend=self.name,
            model=model,
            kind="clip",
            request=request.model_dump(mode="json"),
            params=params,
        )

    # --- collect ------------------------------------------------------------------------

    def collect(self, job: Job, dest: Path) -> None:
        """Wait for the task, download the clip and normalise it to the requested size and
        frame rate; what was delivered is added to ``job.params``."""
        self.service.collect(job, Path(dest), self._fetch, backend=self.name, kind="video")

    def _fetch(self, job: Job, dest: Path, faults: list[dict]) -> None:
        from dashscope import VideoSynthesis

        rsp = self.service.wait(
            VideoSynthesis.fetch, job.id, model=job.model, what="video task", faults=faults
        )
        url = rsp.output.get("video_url") or ""
        if not url:
            raise self.service.task_failure("EmptyResult", "the task returned no video", job.id)
        request = ClipRequest.model_validate(job.request)
        dest.parent.mkdir(parents=True, exist_ok=True)
        raw = dest.with_name(f".{dest.stem}.download.mp4")
        try:
            self.service.download(
                url, raw, max_bytes=self.max_result_bytes, what="clip", faults=faults
            )
            delivered = normalise(
                raw, dest, request, crf=self.crf, what=f"DashScope task {job.id}", task_id=job.id
            )
        finally:
            raw.unlink(missing_ok=True)
        usage = dict(rsp.usage or {})
        if usage:
            delivered["usage"] = usage
        job.params.update(delivered)
        # Billed by the tier asked for; t2v models report their size as video_ratio.
        bill(job, {"resolution": job.params.get("resolution"), **usage}, self.service.prices)


def _known(model: str) -> None:
    if model not in MODELS:
        raise InputError(
            f"The dashscope video backend has no model {model!r}.",
            f"Use one of: {', '.join(MODELS)}.",
        )


def _arguments(model: str, request: ClipRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The SDK call's arguments for ``model``, and the params that record them."""
    spec = MODELS[model]
    tier = spec.tier(request.width, request.height)
    seconds = spec.duration(request.duration_s)
    prompt = _prompt(request, spec.mode)
    negative = request.shot.prompt.render_negative()
    call: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": negative or None,
        "seed": dashscope_seed(request.seed),
        "prompt_extend": False,
        "extend_prompt": False,  # the SDK's older input field, sent unless turned off
        "watermark": False,
    }
    params: dict[str, Any] = {
        "mode": spec.mode,
        "prompt": prompt,
        "negative_prompt": negative,
        "seed": call["seed"],
        "prompt_extend": False,
        "watermark": False,
        "requested_duration_s": request.duration_s,
        "duration_s": seconds,
    }
    if len(spec.durations) > 1:
        call["duration"] = seconds
    else:
        params["duration_note"] = f"{model} makes {seconds} s clips; assembly fits them"
    if spec.media:
        call.update(_media_inputs(spec, tier, request, params))
    elif spec.mode == "t2v":
        size = _t2v_size(tier, request.width, request.height)
        call["size"] = params["size"] = size
    else:
        call["resolution"] = params["resolution"] = tier
        call.update(_frames(spec.mode, request, params))
    return call, params


def _frames(mode: str, request: ClipRequest, params: dict[str, Any]) -> dict[str, str]:
    """Wan 2.1-2.6's image fields: the keyframe, and for kf2v the frame to end on."""
    first, sent, _ = inline_image(request.keyframe, FRAME_INPUT)
    params["keyframe_sent"] = f"{sent[0]}*{sent[1]}"
    if mode == "i2v":
        return {"img_url": first}
    # Without a frame to end on, the clip returns to its keyframe: motion that loops.
    last_path = request.end_frame or request.keyframe
    last = first if last_path == request.keyframe else inline_image(last_path, FRAME_INPUT)[0]
    params["end_frame"] = request.end_frame or "the keyframe (no end frame given)"
    return {"first_frame_url": first, "last_frame_url": last}


def _media_inputs(
    spec: VideoModel, tier: str, request: ClipRequest, params: dict[str, Any]
) -> dict[str, Any]:
    """Wan 2.7's inputs: a resolution, a ratio where the model takes one, and ``media``."""
    call: dict[str, Any] = {"resolution": tier}
    params["resolution"] = tier
    if spec.mode in ("t2v", "r2v"):
        call["ratio"] = params["ratio"] = _ratio(request.width, request.height)
    if spec.mode == "t2v":
        return call
    media, sent = [], []
    if spec.mode == "r2v":
        for path in request.references[:MAX_REFERENCES]:
            media.append({"type": "reference_image", "url": inline_image(path, REFERENCE_INPUT)[0]})
            sent.append({"type": "reference_image", "path": path})
        if request.reference_strength is not None:
            params["reference_strength"] = "not supported by the model; not sent"
    first, size, _ = inline_image(request.keyframe, FRAME_INPUT)
    media.append({"type": "first_frame", "url": first})
    sent.append({"type": "first_frame", "path": request.keyframe})
    params["keyframe_sent"] = f"{size[0]}*{size[1]}"
    if spec.mode == "i2v" and request.end_frame:
        media.append({"type": "last_frame", "url": inline_image(request.end_frame, FRAME_INPUT)[0]})
        sent.append({"type": "last_frame", "path": request.end_frame})
    call["media"] = media
    params["media"] = sent
    if spec.mode == "r2v":
        params["references"] = [m["path"] for m in sent if m["type"] == "reference_image"]
        params["reference_names"] = request.reference_names[: len(params["references"])]
    return call


def _ratio(width: int, height: int) -> str:
    """The Wan 2.7 aspect ratio nearest ``width`` x ``height``."""

    def error(ratio: str) -> float:
        w, h = (int(v) for v in ratio.split(":"))
        return abs(math.log((w / h) / (width / height)))

    return min(RATIOS, key=error)


def _prompt(request: ClipRequest, mode: str) -> str:
    if mode == "t2v":  # no picture to start from: the whole shot in words
        return request.shot.prompt.render()
    motion = request.prompt or f"{request.shot.prompt.action}; {request.shot.prompt.camera}"
    if mode != "r2v" or not request.references:
        return motion
    # Wan 2.7 reference-to-video prompts name references by order: "Image 1", "Image 2".
    names = request.reference_names or [""] * len(request.references)
    shown = [
        f"Image {i} is {name}" if name else f"Image {i} is the character"
        for i, name in enumerate(names[:MAX_REFERENCES], start=1)
    ]
    return f"{'; '.join(shown)}. The video starts on the first frame given. {motion}"


def _t2v_size(tier: str, width: int, height: int) -> str:
    aspect = width / height
    w, h = min(T2V_SIZES[tier], key=lambda s: abs(math.log((s[0] / s[1]) / aspect)))
    return f"{w}*{h}"
