"""Keyframes from a local SDXL or FLUX pipeline with diffusers, on the user's own GPU.

The model is a pipeline folder (``diffusers:/models/sdxl``) or a single checkpoint file
(``diffusers:/models/sdxl.safetensors``) whose diffusers config folder (model_index.json and
each component's config and tokenizer, no weights needed) lies beside it or is named by the
``config`` setting. Nothing is read from a hub.

Device, precision, offload, steps, guidance, batch size, config folder, a default LoRA, the
attention kernel, compilation and VAE decoding are settings (``director.tools.diffusers_local``):
constructor arguments, else the run's resolved settings (``settings=``: flags,
``DIRECTOR_DIFFUSERS_*`` variables, the config file's ``[diffusers]`` table), else the
variables alone.

The pipeline is loaded on first use and kept for the backend's life, so a run pays for loading
once. Best-of-k candidates of one prompt are one batch: one denoising pass makes all k images,
each from its own seeded generator, so any candidate can be remade alone from its Job. Prompt
embeddings are kept across rerolls of the same prompt. An SDXL prompt longer than the text
encoders' 77-token window is encoded in windows of 75 tokens, split at commas, and the windows'
embeddings are joined, so the camera and style slots at the end of a long prompt still reach the
model (the pooled embedding is the first window's). Decoded images become bytes on the device:
only uint8 pixels cross to the host, and a batch's PNG files are compressed on all the CPU's
cores at once. The style LoRA (``--lora``, which the run puts in the requests' bible, or the
bible's own; the ``lora`` setting for requests whose bible names none) is loaded once per
distinct file and switched on, at its strength, only for the requests that name it; a LoRA
made for another architecture than the pipeline's is refused before anything is made.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from director.errors import BackendError, InputError, ToolMissing
from director.files import write_bytes_atomic
from director.tools import diffusers_local as local
from director.tools import sdxl_text, style_lora
from director.tools.base import ImageBackend, ImageRequest, Job

MIN_SIDE, MAX_SIDE = 16, 4096
# Prompts whose embeddings stay on the device; a run rarely rerolls more shots than this at once.
EMBEDDING_CACHE = 32
MAX_BATCH = 4
# Keyframes of more pixels than this are VAE-decoded in tiles by default. SDXL's VAE decoding a
# whole 2048x2048 frame takes 9.5 GB beyond the weights (2.4 GB in tiles, at 1.8x the time; one
# H200, docs/benchmarks-history.md), so larger frames would not fit beside the model on most GPUs.
TILE_ABOVE = 2048 * 2048
# PNG compression of a keyframe: fast, as previz.write_png writes them.
PNG_LEVEL = 1


class Family(ABC):
    """How one pipeline family encodes prompts and is called for a batch of k images."""

    label: ClassVar[str]

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    @abstractmethod
    def defaults(self) -> tuple[int, float]:
        """Inference steps and guidance scale the model was made for."""

    @abstractmethod
    def multiple(self) -> int:
        """Width and height must be multiples of this."""

    @abstractmethod
    def encode(self, prompt: str, negative: str, guidance: float) -> dict[str, Any]:
        """Embeddings of one prompt, for one image."""

    @abstractmethod
    def batch(self, embeds: dict[str, Any], k: int) -> dict[str, Any]:
        """Pipeline arguments that make k images from ``embeds``."""

    def prompt_params(self, prompt: str) -> dict[str, Any]:
        """What a job records about how its prompt is encoded, where that is not the usual."""
        return {}


class Sdxl(Family):
    label = "sdxl"

    def defaults(self) -> tuple[int, float]:
        return 30, 5.0

    def multiple(self) -> int:
        return max(8, self.pipe.vae_scale_factor)  # the pipeline checks for multiples of 8

    def encode(self, prompt: str, negative: str, guidance: float) -> dict[str, Any]:
        # No negative prompt: SDXL's own choice, zero embeddings (force_zeros_for_empty_prompt).
        return sdxl_text.encode(self.pipe, prompt, negative, guidance)

    def prompt_params(self, prompt: str) -> dict[str, Any]:
        windows = len(sdxl_text.windows(self.pipe, prompt))
        return {"prompt_windows": windows} if windows > 1 else {}

    def batch(self, embeds: dict[str, Any], k: int) -> dict[str, Any]:
        return {**embeds, "num_images_per_prompt": k}


class Flux(Family):
    label = "flux"

    @property
    def distilled_guidance(self) -> bool:
        """FLUX.1-dev takes a guidance value; FLUX.1-schnell is step-distilled and takes none."""
        return bool(self.pipe.transformer.config.guidance_embeds)

    def defaults(self) -> tuple[int, float]:
        return (28, 3.5) if self.distilled_guidance else (4, 0.0)

    def multiple(self) -> int:
        return self.pipe.vae_scale_factor * 2  # latents are packed in 2x2 patches

    def encode(self, prompt: str, negative: str, guidance: float) -> dict[str, Any]:
        # FLUX is guidance-distilled: the negative prompt has no effect, so it is not encoded.
        embeds, pooled, _ids = self.pipe.encode_prompt(
            prompt=prompt,
            prompt_2=None,
            device=self.pipe._execution_device,
            num_images_per_prompt=1,
            max_sequence_length=self.max_sequence_length,
        )
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}

    @property
    def max_sequence_length(self) -> int:
        return 512 if self.distilled_guidance else 256

    def batch(self, embeds: dict[str, Any], k: int) -> dict[str, Any]:
        # FluxPipeline does not repeat embeddings passed in, so the batch of k is built here.
        return {
            "prompt_embeds": embeds["prompt_embeds"].repeat(k, 1, 1),
            "pooled_prompt_embeds": embeds["pooled_prompt_embeds"].repeat(k, 1),
        }


FAMILIES: dict[str, type[Family]] = {"StableDiffusionXLPipeline": Sdxl, "FluxPipeline": Flux}


class DiffusersImage(ImageBackend):
    """SDXL or FLUX keyframes from local weights; best-of-k as one batch."""

    name = "diffusers"
    renders_faces = True
    takes_lora = True

    def __init__(
        self,
        model: str = "",
        *,
        device: str | None = None,
        dtype: str | None = None,
        offload: bool | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        max_batch: int | None = None,
        config: str | None = None,
        lora: str | None = None,
        attention: str | None = None,
        compile: str | bool | None = None,
        vae_decode: str | None = None,
        settings: Mapping[str, Any] | None = None,
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
                "max_batch": max_batch,
                "config": config,
                "lora": lora,
                "attention": attention,
                "compile": compile,
                "vae_decode": vae_decode,
            },
        )
        self.path = local.local_model(model, "image")
        self.model = str(self.path)
        self.config = _config_folder(self.path, found["config"])
        self.class_name = _supported(local.pipeline_class(self.config or self.path), self.path)
        self.placement = local.placement(found["device"], found["dtype"], found["offload"])
        self.speed = local.tuning(found, self.placement)
        self.steps: int | None = found["steps"]
        self.guidance: float | None = found["guidance"]
        self.max_batch: int = found["max_batch"] or MAX_BATCH
        self.lora = self._checked_lora(found["lora"], "The diffusers LoRA")
        self._pipe: Any = None
        self._family: Family | None = None
        self._embeddings: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
        self._adapters: dict[str, str] = {}
        self._pending: dict[str, list[Job]] = {}
        self._results: dict[str, Any] = {}
        self._held: dict[str, Any] = {}  # the latest batch's pictures, until the gate takes them

    # --- jobs ------------------------------------------------------------------------------

    def submit(self, request: ImageRequest) -> Job:
        return self.submit_many([request])[0]

    def submit_many(self, requests: Sequence[ImageRequest]) -> list[Job]:
        """One Job per request; requests that share a prompt are rendered as one batch when
        the first of them is collected."""
        jobs = [self._job(request) for request in requests]
        for group in self._batches(jobs):
            for job in group:
                job.params["batch_size"] = len(group)
                self._pending[job.id] = group
        return jobs

    def collect(self, job: Job, dest: Path) -> None:
        self._check_job(job)
        png = self._results.pop(job.id, None)
        if png is None:
            self._render(self._pending.pop(job.id, [job]))
            png = self._results.pop(job.id)
        _write(png, Path(dest))

    def _job(self, request: ImageRequest) -> Job:
        _check_size(request.width, request.height)
        params = self._params(request)
        payload = request.model_dump(mode="json")
        digest = hashlib.sha256(
            json.dumps([self.model, params, payload], sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        return Job.of(self, request, f"diffusers-{digest[:20]}", payload=payload, params=params)

    def _params(self, request: ImageRequest) -> dict[str, Any]:
        family = self._loaded()
        steps, guidance = family.defaults()
        multiple = family.multiple()
        width = local.nearest_multiple(request.width, multiple)
        height = local.nearest_multiple(request.height, multiple)
        return {
            "pipeline": self.class_name,
            "seed": request.seed,
            "steps": self.steps or steps,
            "guidance": self.guidance if self.guidance is not None else guidance,
            # Generated at the nearest size the model accepts, then resized to the request.
            "render_width": width,
            "render_height": height,
            "width": request.width,
            "height": request.height,
            "negative_prompt_used": bool(request.negative_prompt) and family.label != "flux",
            **family.prompt_params(request.prompt),
            **self._lora_params(request),
            "device": self.placement.device,
            "dtype": self.placement.dtype,
            "cpu_offload": self.placement.offload,
            "attention": self.speed.attention,
            "compile": self.speed.compile,
            "vae_decode": local.decode_mode(self.speed.vae_decode, width, height, TILE_ABOVE),
        }

    def _batches(self, jobs: list[Job]) -> list[list[Job]]:
        """Jobs that can share one denoising pass: same prompt, size, settings and LoRA."""
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            shared = {k: v for k, v in job.params.items() if k != "seed"}
            key = json.dumps([job.request["prompt"], job.request["negative_prompt"], shared])
            group = groups.setdefault(key, [])
            if all(j.id != job.id for j in group):
                group.append(job)
        return [
            g[i : i + self.max_batch]
            for g in groups.values()
            for i in range(0, len(g), self.max_batch)
        ]

    def _check_job(self, job: Job) -> None:
        if job.backend != self.name or job.model != self.model:
            raise BackendError(
                f"Job {job.id} was made by {job.backend}:{job.model}, not by this backend "
                f"({self.name}:{self.model}).",
                f"Collect it with --image {job.backend}:{job.model}.",
            )

    # --- rendering -------------------------------------------------------------------------

    def _render(self, jobs: list[Job]) -> None:
        """Run one batch and keep each image, resized to its request, under its job id."""
        from PIL import Image

        requests = [ImageRequest.model_validate(job.request) for job in jobs]
        params, first = jobs[0].params, requests[0]
        family = self._loaded()
        lora = params["lora"]
        strength = float(params.get("lora_strength", 1.0))
        self._use_lora(lora, strength)
        embeds = self._embed(
            first.prompt, first.negative_prompt, lora and f"{lora}:{strength}", params
        )
        decode = params.get("vae_decode") or local.decode_mode(
            self.speed.vae_decode, params["render_width"], params["render_height"], TILE_ABOVE
        )
        try:
            with local.running(self._pipe, self.speed, decode):
                images = self._pipe(
                    **family.batch(embeds, len(jobs)),
                    generator=local.generators([r.seed for r in requests]),
                    height=params["render_height"],
                    width=params["render_width"],
                    num_inference_steps=params["steps"],
                    guidance_scale=params["guidance"],
                    output_type="pt",
                ).images
            pixels = local.to_uint8(images.permute(0, 2, 3, 1))
        except RuntimeError as exc:
            raise _run_error(exc, len(jobs), self.speed) from exc
        images = []
        for request, array in zip(requests, pixels, strict=True):
            image = Image.fromarray(array)
            if image.size != (request.width, request.height):
                image = image.resize((request.width, request.height), Image.Resampling.LANCZOS)
            images.append(image.convert("RGB"))
        self._held = {job.id: image for job, image in zip(jobs, images, strict=True)}
        for job, png in zip(jobs, _pngs(images), strict=True):
            self._results[job.id] = png
            self._pending.pop(job.id, None)

    def held(self, job: Job) -> Any | None:
        return self._held.pop(job.id, None)

    def _embed(
        self, prompt: str, negative: str, lora: str | None, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Encode a prompt once; rerolls of it reuse the embeddings (a LoRA may touch the text
        encoders, so it is part of the key)."""
        import torch

        key = (prompt, negative, lora or "")
        if key in self._embeddings:
            self._embeddings.move_to_end(key)
            return self._embeddings[key]
        with torch.no_grad():
            embeds = self._family.encode(prompt, negative, params["guidance"])
        self._embeddings[key] = embeds
        if len(self._embeddings) > EMBEDDING_CACHE:
            self._embeddings.popitem(last=False)
        return embeds

    # --- the pipeline and its LoRAs ----------------------------------------------------------

    @property
    def pipeline(self) -> Any:
        """The diffusers pipeline, loaded on first use and kept for the backend's life."""
        self._loaded()
        return self._pipe

    def _loaded(self) -> Family:
        """The pipeline's family, loading the pipeline on first use."""
        if self._family is None:
            self._pipe = local.load_pipeline(
                self.class_name, self.path, self.placement, config=self.config, speed=self.speed
            )
            self._family = FAMILIES[self.class_name](self._pipe)
        return self._family

    def _checked_lora(self, text: str | None, what: str) -> style_lora.LoraSpec | None:
        """``PATH[:STRENGTH]`` with the file's path, refused when it is missing, no LoRA, or
        made for another architecture than the pipeline's."""
        if not text:
            return None
        spec = style_lora.resolve(text, local_only=True, what=what)
        info = style_lora.read(Path(spec.name))
        style_lora.check_architecture(info, FAMILIES[self.class_name].label, self.model)
        return spec

    def _lora_params(self, request: ImageRequest) -> dict[str, Any]:
        """The LoRA a request is made with, as its params record it: the file, its name and
        hash, and the strength."""
        lora = self._checked_lora(request.bible.lora, "The style bible's LoRA") or self.lora
        if lora is None:
            return {"lora": None}
        info = style_lora.read(Path(lora.name))
        return {
            "lora": lora.name,
            "lora_name": info.path.name,
            "lora_sha256": info.sha256,
            "lora_strength": lora.strength,
        }

    def _use_lora(self, lora: str | None, strength: float) -> None:
        if not lora:
            if self._adapters:
                self._pipe.disable_lora()
            return
        name = self._adapters.get(lora) or self._load_lora(lora)
        self._pipe.enable_lora()
        self._pipe.set_adapters([name], adapter_weights=[strength])

    def _load_lora(self, lora: str) -> str:
        path = Path(lora).expanduser()
        if not path.exists():
            raise InputError(
                f"The LoRA {lora} does not exist any more.",
                "Put it back where it was, and resume the run.",
            )
        if importlib.util.find_spec("peft") is None:
            raise ToolMissing(
                "Loading a LoRA needs peft, which is not installed.", local.INSTALL_HINT
            )
        name = f"style{len(self._adapters)}"
        folder, weight = (path.parent, path.name) if path.is_file() else (path, None)
        try:
            with _quiet_diffusers():  # "no LoRA keys for the text encoder" of a UNet-only LoRA
                self._pipe.load_lora_weights(
                    str(folder), weight_name=weight, adapter_name=name, local_files_only=True
                )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise InputError(
                f"Cannot load the LoRA {lora} into {self.class_name}: {exc}",
                "Use a LoRA trained for this base model, saved in diffusers or kohya format.",
            ) from exc
        self._adapters[lora] = name
        return name


@contextmanager
def _quiet_diffusers() -> Iterator[None]:
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _supported(class_name: str, path: Path) -> str:
    if class_name not in FAMILIES:
        raise InputError(
            f"{path} holds a {class_name}, which the diffusers image backend does not run.",
            f"Use a text-to-image pipeline of these kinds: {', '.join(FAMILIES)}.",
        )
    return class_name


def _config_folder(path: Path, config: str | None) -> Path | None:
    """For a single checkpoint file, the local folder of diffusers configs to build it with."""
    if path.is_dir():
        return None
    if path.suffix.lower() not in local.SINGLE_FILE_SUFFIXES:
        raise InputError(
            f"{path} is neither a pipeline folder nor a checkpoint file.",
            "Pass a diffusers folder, or a .safetensors / .ckpt checkpoint.",
        )
    folder = Path(config).expanduser() if config else path.parent
    if not (folder / "model_index.json").is_file():
        raise InputError(
            f"The checkpoint {path.name} needs a diffusers config folder, and {folder} has no "
            "model_index.json.",
            "Put the base model's config folder (model_index.json, component configs and "
            "tokenizers; no weights) beside the file, or name it: "
            f"{local.how_to_set('config', '/path/to/config')}.",
        )
    return folder.resolve()


def _check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InputError(
            f"Cannot render a {width}x{height} keyframe with diffusers.",
            f"Ask for a width and height between {MIN_SIDE} and {MAX_SIDE} pixels.",
        )


def _pngs(images: list[Any]) -> list[bytes]:
    """The images as PNG files, compressed side by side: zlib lets go of the interpreter lock,
    so best-of-k costs about one image's compression, not k."""
    if len(images) == 1:
        return [_png(images[0])]
    return list(_pool().map(_png, images))


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(MAX_BATCH * 4, os.cpu_count() or 1))


def _write(data: bytes, dest: Path) -> None:
    """Write atomically: a reader never sees half a file, and a failed write leaves nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(dest, data)


def _run_error(exc: RuntimeError, k: int, speed: local.Tuning) -> BackendError:
    if "out of memory" in str(exc).lower():
        return BackendError(
            f"A batch of {k} images does not fit in the GPU's memory.",
            f"Make fewer images per pass ({local.how_to_set('max_batch', max(1, k // 2))}), "
            f"or keep the parts not in use in RAM ({local.how_to_set('offload', True)}).",
        )
    return local.run_error(exc, "The diffusers pipeline", speed)
