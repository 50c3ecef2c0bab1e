"""Keyframes from a ComfyUI server, through the creator's own workflow or a built-in one.

``--image comfyui:WORKFLOW``: WORKFLOW is ``sdxl`` (the default) or ``flux``, or a workflow
file (API format, or the UI format converted with the server's node list). The prompt, the
negative prompt, the seed, the size and the batch size are set where the graph takes them
(``director.tools.comfyui.graph``); the style LoRA (``--lora``, else the style bible's) is put
in as a LoRA loader at its strength. A LoRA named by a file on this machine must already be on
the server (ComfyUI's API cannot take a model file): its name is looked up in the server's LoRA
list before the run, and the attempts record the file's hash. The ladder's edit rung runs the edit workflow (``inpaint`` unless
another is named), with the keyframe to edit and the region as a mask uploaded to the server;
a workflow with reference-image loaders gets the reference rung as well. Best-of-k is one
prompt with the graph's batch size set to k when the graph has one, else k prompts. Every
attempt keeps the exact graph it sent, its key parameters and the server's versions.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from director.errors import GenerationFailed, InputError
from director.files import atomic_file
from director.tools import style_lora
from director.tools.base import ImageBackend, ImageRequest, Job
from director.tools.comfyui import graph as graphs
from director.tools.comfyui.client import DEFAULT_URL, ComfyUI, check_url
from director.tools.comfyui.session import Session, suffix_of
from director.tools.comfyui.workflow import DEFAULTS, Workflow, load, server_loras

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MULTIPLE = 8  # latent sizes are whole multiples of this


class ComfyUIImage(ImageBackend):
    name: ClassVar[str] = "comfyui"
    family: ClassVar[str] = (
        "ComfyUI workflows: built-in sdxl or flux (edits: inpaint), or your own workflow file "
        "exported with Workflow > Export (API)"
    )
    known_models: ClassVar[tuple[str, ...]] = ("sdxl", "flux")
    renders_faces: ClassVar[bool] = True
    takes_lora: ClassVar[bool] = True

    def __init__(
        self,
        model: str = DEFAULTS["image"],
        *,
        url: str = DEFAULT_URL,
        edit_workflow: str | None = DEFAULTS["edit"],
        lora: str | None = None,
        timeout: float = 3600.0,
        server: ComfyUI | None = None,
        max_in_flight: int = 4,
    ) -> None:
        self.server = server or ComfyUI(url=check_url(url, "--comfyui-url"), timeout=timeout)
        self.session = Session(self.server)
        self.workflow = load(model, "image", self.server.object_info)
        self.model = self.workflow.name
        self.edit_workflow = (
            load(edit_workflow, "edit", self.server.object_info) if edit_workflow else None
        )
        self._loras: dict[str, tuple[str, float]] = {}  # as given -> as the server has it
        self._files: dict[str, style_lora.LoraFile] = {}  # the server's name -> the local file
        self.lora = self._server_lora(lora) if lora else None
        self.edits = self.edit_workflow is not None
        self.accepts_references = self.workflow.roles.has("reference")
        self.max_in_flight = max_in_flight
        self.session.check([self._styled(wf, self.lora) for wf in self._workflows()])
        self._held: dict[str, Any] = {}

    def _workflows(self) -> list[Workflow]:
        return [wf for wf in (self.workflow, self.edit_workflow) if wf is not None]

    # --- submitting -----------------------------------------------------------------------

    def submit(self, request: ImageRequest) -> Job:
        workflow = self._workflow_for(request)
        graph = self._graph(workflow, request, batch=1)
        pid = self.session.send(graph)
        params = {**self.session.record(workflow, graph, pid), "output_index": 0}
        params.update(self._lora_file(request))
        params["outputs"] = workflow.roles.outputs
        return Job.of(self, request, pid, model=workflow.name, params=params)

    def submit_many(self, requests: Sequence[ImageRequest]) -> list[Job]:
        """Candidates that differ only by seed are one prompt with the graph's batch size set
        to k (the graph's seed is the first candidate's; each job keeps its index)."""
        if not self._batchable(requests):
            return [self.submit(request) for request in requests]
        graph = self._graph(self.workflow, requests[0], batch=len(requests))
        pid = self.session.send(graph)
        record = self.session.record(self.workflow, graph, pid)
        return [
            Job.of(
                self,
                request,
                f"{pid}#{index}",
                model=self.workflow.name,
                params={
                    **record,
                    **self._lora_file(request),
                    "output_index": index,
                    "batch_size": len(requests),
                    "outputs": self.workflow.roles.outputs,
                },
            )
            for index, request in enumerate(requests)
        ]

    def _batchable(self, requests: Sequence[ImageRequest]) -> bool:
        first = requests[0]
        same = all(
            (r.prompt, r.negative_prompt, r.width, r.height, r.bible.lora)
            == (first.prompt, first.negative_prompt, first.width, first.height, first.bible.lora)
            and not r.edit_source
            and not r.references
            for r in requests
        )
        return len(requests) > 1 and same and self.workflow.roles.batch is not None

    def _workflow_for(self, request: ImageRequest) -> Workflow:
        if request.edit_source and self.edit_workflow is not None:
            return self.edit_workflow
        return self.workflow

    def _graph(self, workflow: Workflow, request: ImageRequest, *, batch: int) -> graphs.Graph:
        roles = workflow.roles
        values: dict[graphs.Slot, Any] = {slot: request.prompt for slot in roles.positive}
        values.update({slot: request.negative_prompt for slot in roles.negative})
        values.update({slot: request.seed for slot in roles.seed})
        if roles.size:
            width, height = _snapped(request.width, request.height)
            values[graphs.Slot(roles.size, "width")] = width
            values[graphs.Slot(roles.size, "height")] = height
        if roles.batch:
            values[roles.batch] = batch
        values.update(self._images(workflow, request))
        lora = self._server_lora(request.bible.lora) if request.bible.lora else self.lora
        filled = graphs.filled(workflow.graph, values)
        return graphs.with_lora(filled, roles, *lora) if lora else filled

    def _styled(self, workflow: Workflow, lora: tuple[str, float] | None) -> Workflow:
        """The workflow as the server will get it, LoRA included, for the pre-run check."""
        if lora is None or workflow is self.edit_workflow:
            return workflow
        graph = graphs.with_lora(workflow.graph, workflow.roles, *lora)
        return Workflow(workflow.name, workflow.source, graph, workflow.roles)

    def _server_lora(self, text: str) -> tuple[str, float]:
        """``NAME[:STRENGTH]`` or ``PATH[:STRENGTH]`` as the server's LoRA loader takes it: a
        file on this machine by the name the server lists it under."""
        if text not in self._loras:
            spec = style_lora.parse(text)
            given = Path(spec.name).expanduser()
            name = spec.name
            if given.exists():
                info = style_lora.read(style_lora.lora_file(given))
                if self.workflow.name in style_lora.ARCHITECTURES:
                    where = f"the built-in {self.workflow.name} workflow"
                    style_lora.check_architecture(info, self.workflow.name, where)
                name = self._listed(info.path)
                self._files[name] = info
            self._loras[text] = (name, spec.strength)
        return self._loras[text]

    def _listed(self, path: Path) -> str:
        """The name the server lists the LoRA file ``path`` under (in models/loras or a
        subfolder of it)."""
        for entry in server_loras(self.server.object_info()):
            if entry.replace("\\", "/").rsplit("/", 1)[-1] == path.name:
                return entry
        raise InputError(
            f"The LoRA {path} is a file on this machine, and ComfyUI at {self.server.url} has "
            f"no LoRA named {path.name} (ComfyUI's API cannot take a model file).",
            f"Copy {path} into ComfyUI/models/loras/ on that server, refresh ComfyUI's model "
            "lists (press R, or restart it), and run again.",
        )

    def _lora_file(self, request: ImageRequest) -> dict[str, Any]:
        """What an attempt records of a LoRA that came from a file here: the file and its hash
        (the graph names the server's copy)."""
        lora = self._server_lora(request.bible.lora) if request.bible.lora else self.lora
        info = self._files.get(lora[0]) if lora else None
        if info is None:
            return {}
        return {
            "lora_file": str(info.path),
            "lora_name": info.path.name,
            "lora_sha256": info.sha256,
            "lora_strength": lora[1],
        }

    def _images(self, workflow: Workflow, request: ImageRequest) -> dict[graphs.Slot, str]:
        """Upload the pictures the graph loads, and point its LoadImage nodes at them."""
        roles, found = workflow.roles, {}
        if request.edit_source and roles.has("source"):
            source = self.server.upload(request.edit_source)
            found.update({graphs.Slot(n, "image"): source for n in roles.images["source"]})
            if roles.has("mask"):
                mask = self.server.upload("mask.png", data=_mask(request))
                found.update({graphs.Slot(n, "image"): mask for n in roles.images["mask"]})
        loaders = roles.images.get("reference", [])
        for index, node in enumerate(loaders):
            if request.references:
                picture = request.references[index % len(request.references)]
                found[graphs.Slot(node, "image")] = self.server.upload(picture)
        return found

    # --- collecting -----------------------------------------------------------------------

    def collect(self, job: Job, dest: Path) -> None:
        pid = job.id.split("#")[0]
        files = self.session.files(
            pid,
            job.params.get("outputs", []),
            self.session.reporter(self.progress, job, "keyframe"),
            job.params.get("graph"),
        )
        pictures = [f for f in files if suffix_of(f) in IMAGE_SUFFIXES]
        index = int(job.params.get("output_index", 0))
        if index >= len(pictures):
            raise GenerationFailed(
                f"The ComfyUI prompt {pid} saved {len(pictures)} image(s); candidate "
                f"{index + 1} is missing.",
                "Check that the workflow saves every image of its batch.",
                code="no_outputs",
                task_id=pid,
            )
        raw = dest.with_name(dest.name + ".download")
        try:
            self.session.fetch(pictures[index], raw)
            size = (job.request["width"], job.request["height"])
            self._held[job.id] = _store(raw, dest, size, pid, job.params)
        finally:
            raw.unlink(missing_ok=True)

    def held(self, job: Job) -> Any | None:
        return self._held.pop(job.id, None)

    def abort(self) -> None:
        self.session.abort()


def _snapped(width: int, height: int) -> tuple[int, int]:
    return tuple(max(MULTIPLE, round(side / MULTIPLE) * MULTIPLE) for side in (width, height))


def _mask(request: ImageRequest) -> bytes:
    """The region to repaint as a mask picture: white inside, black outside (all white for a
    whole-image edit)."""
    from PIL import Image, ImageDraw

    size = (request.width, request.height)
    mask = Image.new("RGB", size, "white" if not request.edit_region else "black")
    if request.edit_region:
        ImageDraw.Draw(mask).rectangle(list(request.edit_region), fill="white")
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def _store(raw: Path, dest: Path, size: tuple[int, int], pid: str, params: dict) -> Any:
    """The downloaded picture as an RGB PNG of ``size``; scaled and cropped when the server
    made another size, which the params then say."""
    from PIL import Image, ImageOps

    from director.tools.critics.imaging import open_rgb

    picture = open_rgb(raw)
    if picture is None:
        raise GenerationFailed(
            f"The ComfyUI prompt {pid} saved a file that is not an image.",
            code="BadResult",
            task_id=pid,
        )
    if picture.size != size:
        params["delivered_size"] = f"{picture.size[0]}x{picture.size[1]}"
        picture = ImageOps.fit(picture, size, Image.Resampling.LANCZOS)
    with atomic_file(dest) as fh:
        picture.save(fh, format="PNG", compress_level=1)
    return picture
