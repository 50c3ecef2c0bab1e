"""Clips from a ComfyUI server, through the creator's own workflow or a built-in one.

``--video comfyui:WORKFLOW``: WORKFLOW is ``wan2.2-i2v`` (the default: Wan 2.2 image-to-video
from the accepted keyframe), ``wan2.2-t2v`` (text-to-video; the keyframe is not used), or a
workflow file. The keyframe is uploaded to the server and loaded as the first frame (a last
frame too, where the workflow takes one and the shot has one); the prompt, seed, size and
length are set where the graph takes them: the length in frames is the shot's duration at the
workflow's frame rate, rounded up to the 4n+1 frames Wan models make. The saved video (MP4,
WebM, an animated WebP or GIF) is re-encoded to the run's size and frame rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from director.errors import GenerationFailed
from director.tools.base import ClipRequest, Job, VideoBackend
from director.tools.comfyui import graph as graphs
from director.tools.comfyui.client import DEFAULT_URL, ComfyUI, check_url
from director.tools.comfyui.session import Session, suffix_of
from director.tools.comfyui.workflow import DEFAULTS, Workflow, load
from director.tools.video.normalise import normalise

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp")
MULTIPLE = 16  # Wan's latent is 1/8 of the picture, in 2x2 patches
DEFAULT_FPS = 16.0


class ComfyUIVideo(VideoBackend):
    name: ClassVar[str] = "comfyui"
    family: ClassVar[str] = (
        "ComfyUI workflows: built-in wan2.2-i2v (from the keyframe) or wan2.2-t2v, or your own "
        "workflow file exported with Workflow > Export (API)"
    )
    known_models: ClassVar[tuple[str, ...]] = ("wan2.2-i2v", "wan2.2-t2v")

    def __init__(
        self,
        model: str = DEFAULTS["video"],
        *,
        url: str = DEFAULT_URL,
        timeout: float = 3600.0,
        server: ComfyUI | None = None,
        max_in_flight: int = 2,
        crf: int = 18,
    ) -> None:
        self.server = server or ComfyUI(url=check_url(url, "--comfyui-url"), timeout=timeout)
        self.session = Session(self.server)
        self.workflow = load(model, "video", self.server.object_info)
        self.model = self.workflow.name
        self.max_in_flight = max_in_flight
        self.crf = crf
        self.accepts_references = self.workflow.roles.has("reference")
        self.session.check([self.workflow])

    def submit(self, request: ClipRequest) -> Job:
        graph, params = self._graph(self.workflow, request)
        pid = self.session.send(graph)
        params.update(self.session.record(self.workflow, graph, pid))
        params["outputs"] = self.workflow.roles.outputs
        return Job.of(self, request, pid, params=params)

    def _graph(self, workflow: Workflow, request: ClipRequest) -> tuple[graphs.Graph, dict]:
        roles, params = workflow.roles, {}
        values: dict[graphs.Slot, Any] = {slot: request.prompt for slot in roles.positive}
        values.update({slot: request.seed for slot in roles.seed})
        if roles.size:
            width, height = _snapped(request.width, request.height)
            values[graphs.Slot(roles.size, "width")] = width
            values[graphs.Slot(roles.size, "height")] = height
        if roles.frames:
            values[roles.frames] = frames_for(request.duration_s, _fps(workflow), roles, workflow)
        if roles.batch:
            values[roles.batch] = 1
        values.update(self._frames(workflow, request, params))
        return graphs.filled(workflow.graph, values), params

    def _frames(self, workflow: Workflow, request: ClipRequest, params: dict) -> dict:
        """Upload the keyframe (and the end frame) to the loaders that take them."""
        images, found = workflow.roles.images, {}
        if not images.get("first_frame"):
            params["keyframe_used"] = "no: the workflow makes the clip from text alone"
        pictures = {"first_frame": request.keyframe, "last_frame": request.end_frame}
        for role, picture in pictures.items():
            for node in images.get(role, []):
                if picture:
                    found[graphs.Slot(node, "image")] = self.server.upload(picture)
        references = request.references
        for index, node in enumerate(images.get("reference", [])):
            if references:
                found[graphs.Slot(node, "image")] = self.server.upload(
                    references[index % len(references)]
                )
        return found

    def collect(self, job: Job, dest: Path) -> None:
        files = self.session.files(
            job.id,
            job.params.get("outputs", []),
            self.session.reporter(self.progress, job, "clip"),
            job.params.get("graph"),
        )
        videos = [f for f in files if suffix_of(f) in VIDEO_SUFFIXES]
        if not videos:
            raise GenerationFailed(
                f"The ComfyUI prompt {job.id} saved no video (files: "
                f"{', '.join(f.get('filename', '') for f in files) or 'none'}).",
                "End the workflow in a video saver (SaveVideo, SaveWEBM, SaveAnimatedWEBP).",
                code="no_outputs",
                task_id=job.id,
            )
        raw = dest.with_name(f".{dest.stem}.download{suffix_of(videos[0])}")
        request = ClipRequest.model_validate(job.request)
        try:
            self.session.fetch(videos[0], raw)
            what = f"ComfyUI prompt {job.id}"
            job.params.update(
                normalise(raw, dest, request, crf=self.crf, what=what, task_id=job.id)
            )
        finally:
            raw.unlink(missing_ok=True)

    def abort(self) -> None:
        self.session.abort()


def frames_for(seconds: float, fps: float, roles: graphs.Roles, workflow: Workflow) -> int:
    """Frames for ``seconds`` at ``fps``; 4n+1 when the workflow's own length is (Wan's)."""
    frames = max(1, math.ceil(seconds * fps))
    own = workflow.graph[roles.frames.node]["inputs"][roles.frames.input] if roles.frames else 0
    if isinstance(own, int) and own % 4 == 1:
        frames = 4 * math.ceil((frames - 1) / 4) + 1
    return frames


def _fps(workflow: Workflow) -> float:
    slot = workflow.roles.fps
    value = workflow.graph[slot.node]["inputs"].get(slot.input) if slot else None
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_FPS


def _snapped(width: int, height: int) -> tuple[int, int]:
    return tuple(max(MULTIPLE, round(side / MULTIPLE) * MULTIPLE) for side in (width, height))
