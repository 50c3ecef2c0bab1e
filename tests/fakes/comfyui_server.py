"""A fake ComfyUI on 127.0.0.1, written from the published server protocol: the HTTP routes
(also under ``/api``) and the ``/ws`` WebSocket on one port, a queue worked one prompt at a
time, and node types that run over symbolic values and write real files (PNG frames showing the
prompt text and seed, H.264 MP4s made with the ffmpeg that ships with imageio-ffmpeg).

``POST /prompt`` is held against the fake's own ``/object_info``: an unknown node type, a
missing required input, a literal of the wrong type or outside its range, a combo value not in
its list (a checkpoint or LoRA the server does not have), a link to a missing node or output, an
output type that does not match the input, an input name the node does not have (stricter than
ComfyUI, which ignores those: a misspelt input is a client bug) or a graph without an output
node answers 400 with ComfyUI's error bodies. A client-chosen ``prompt_id`` must be a canonical
lowercase UUID the server does not know yet (queued, running or in history).

Knobs (attributes, set before or during a test): ``exec_seconds`` (time a prompt takes, spread
over its sampler steps), ``websocket`` (False: ``/ws`` answers 404, so a client must poll),
``models`` (files per model folder: remove one to get ``value_not_in_list``),
``fail_classes`` / ``fail_marker`` / ``fail_message`` / ``fail_exception_type`` (execution
errors), ``history_delay`` (seconds between ``execution_success`` and the history entry),
``strict_inputs``, and ``fail_next()`` / ``hang_next()`` (500s or stalls for the next requests).
Counters: ``submissions``, ``duplicate_submissions``, ``refusals``, ``uploads``,
``upload_writes``, ``upload_bytes_written``, ``interrupts``, ``runs`` / ``busy_seconds`` /
``idle_gaps()``, ``executed``, ``ws_connections``, ``requests``. Helpers: ``wait_idle()``,
``add_input()``, ``history_of()``, ``ws_clients()``.

    with FakeComfyUI(exec_seconds=0.05) as fake:
        fake.models["loras"].remove("film_grain.safetensors")  # a LoRA the server lacks
        fake.fail_marker = "OOM"  # a prompt whose text holds it runs out of memory
        ...  # the client under test talks to fake.url (websocket: fake.ws_url)
        assert fake.duplicate_submissions == 0
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import mimetypes
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageOps

COMFYUI_VERSION = "0.3.66"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_RESOLUTION = 16384
SEED_MAX = 0xFFFFFFFFFFFFFFFF
FOLDERS = ("checkpoints", "loras", "diffusion_models", "text_encoders", "vae")
DEFAULT_MODELS: dict[str, list[str]] = {
    "checkpoints": [
        "sd_xl_base_1.0.safetensors",
        "flux1-dev-fp8.safetensors",
        "v1-5-pruned-emaonly.safetensors",
    ],
    "loras": ["film_grain.safetensors", "storyboard_sketch_xl.safetensors"],
    "diffusion_models": [
        "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
        "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
        "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
        "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
    ],
    "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "clip_l.safetensors"],
    "vae": ["wan_2.1_vae.safetensors", "ae.safetensors", "sdxl_vae.safetensors"],
}
SAMPLERS = tuple(
    [
        "euler",
        "euler_cfg_pp",
        "euler_ancestral",
        "heun",
        "dpm_2",
        "dpm_2_ancestral",
        "lms",
        "dpmpp_2s_ancestral",
        "dpmpp_sde",
        "dpmpp_2m",
        "dpmpp_2m_sde",
        "dpmpp_3m_sde",
        "ddpm",
        "lcm",
        "uni_pc",
        "uni_pc_bh2",
        "res_multistep",
        "ddim",
    ]
)
SCHEDULERS = tuple(
    [
        "simple",
        "sgm_uniform",
        "karras",
        "exponential",
        "ddim_uniform",
        "beta",
        "normal",
        "linear_quadratic",
        "kl_optimal",
    ]
)
CLIP_TYPES = ("stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv")
CLIP_TYPES += ("pixart", "cosmos", "lumina2", "wan", "hidream", "chroma", "ace", "qwen_image")
WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")
UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
PRIMITIVES = ("INT", "FLOAT", "STRING", "BOOLEAN")
# The events a history entry keeps in status.messages (progress and executing are not kept).
HISTORY_EVENTS = (
    "execution_start",
    "execution_cached",
    "execution_success",
    "execution_error",
    "execution_interrupted",
)


# --- symbolic values passed between nodes ----------------------------------------------


@dataclass(frozen=True)
class Latent:
    """What a sampler works on: the picture's size, how many, the video length, and what the
    samplers put in (seed, positive text) or the pictures it started from."""

    width: int
    height: int
    batch: int = 1
    frames: int | None = None  # a video latent's decoded frame count
    seed: int | None = None
    text: str = ""
    source: tuple[Image.Image, ...] = ()  # pictures the latent was encoded from
    mask: Image.Image | None = None  # where an inpainting sampler repaints


@dataclass(frozen=True)
class Video:
    frames: tuple[Image.Image, ...]
    fps: float


class Interrupted(Exception):
    """POST /interrupt reached the running prompt."""


class NodeFailure(Exception):
    """A failure knob fired: the node raises as a real one would (out of memory, ...)."""

    def __init__(self, message: str, exception_type: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type


# --- node schemas ------------------------------------------------------------------------


@dataclass(frozen=True)
class Folder:
    """A combo whose values are the files the server has: a model folder, or the input folder."""

    name: str


def INT(default: int, low: int, high: int, **extra: Any) -> list:
    return ["INT", {"default": default, "min": low, "max": high, "step": 1, **extra}]


def FLOAT(default: float, low: float, high: float, step: float = 0.01, **extra: Any) -> list:
    return ["FLOAT", {"default": default, "min": low, "max": high, "step": step, **extra}]


def STRING(default: str = "", **extra: Any) -> list:
    return ["STRING", {"default": default, **extra}]


def BOOLEAN(default: bool) -> list:
    return ["BOOLEAN", {"default": default}]


def COMBO(values: Iterable[str] | Folder, **extra: Any) -> list:
    choices = values if isinstance(values, Folder) else list(values)
    return [choices, extra]


def LINK(kind: str) -> list:
    return [kind]


def SIZE(default: int, step: int = 8) -> list:
    return INT(default, 16, MAX_RESOLUTION, step=step)


SEED = INT(0, 0, SEED_MAX, control_after_generate=True)
STEPS = INT(20, 1, 10000)
CFG = FLOAT(8.0, 0.0, 100.0, step=0.1, round=0.01)
BATCH = INT(1, 1, 4096)


@dataclass(frozen=True)
class NodeType:
    """One node class as /object_info describes it, and the function that runs it."""

    run: Callable[..., Any]  # (ctx, **inputs) -> tuple of outputs, or a dict: the node's UI
    required: Mapping[str, list]
    outputs: tuple[tuple[str, str], ...] = ()
    optional: Mapping[str, list] = field(default_factory=dict)
    category: str = ""
    display: str = ""
    output_node: bool = False
    hidden: Mapping[str, str] | None = None

    def schema(self, name: str, fake: FakeComfyUI) -> dict[str, Any]:
        """The node's entry in /object_info, combos filled from the server's files."""
        inputs: dict[str, Any] = {
            "required": {k: fake.resolve_spec(v) for k, v in self.required.items()}
        }
        if self.optional:
            inputs["optional"] = {k: fake.resolve_spec(v) for k, v in self.optional.items()}
        if self.hidden:
            inputs["hidden"] = dict(self.hidden)
        return {
            "input": inputs,
            "input_order": {
                key: list(inputs[key]) for key in ("required", "optional") if key in inputs
            },
            "output": [kind for kind, _ in self.outputs],
            "output_is_list": [False for _ in self.outputs],
            "output_name": [label for _, label in self.outputs],
            "name": name,
            "display_name": self.display or name,
            "description": "",
            "python_module": "nodes",
            "category": self.category,
            "output_node": self.output_node,
        }

    def spec(self, input_name: str) -> list | None:
        return self.required.get(input_name) or self.optional.get(input_name)


# --- pictures --------------------------------------------------------------------------


def _colour(*parts: object) -> tuple[int, int, int]:
    """A mid-tone colour that changes with the seed, the text and the batch index."""
    digest = hashlib.sha256("\n".join(map(str, parts)).encode()).digest()
    red, green, blue = (40 + byte * 176 // 256 for byte in digest[:3])
    return red, green, blue


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    return (0, 0, 0) if sum(background) > 380 else (255, 255, 255)


def _caption(image: Image.Image, latent: Latent, index: int) -> None:
    """Write the seed and the positive prompt on the picture, so a test can read back what was
    asked for (and a person looking at a contact sheet can too)."""
    draw = ImageDraw.Draw(image)
    background = image.getpixel((0, 0))
    ink = _ink(background[:3] if isinstance(background, tuple) else (background,) * 3)
    width = max(8, image.width // 7)
    lines = [f"seed {latent.seed} #{index}", *textwrap.wrap(latent.text, width)[:12]]
    draw.multiline_text((4, 4), "\n".join(lines), fill=ink)


def _base_picture(latent: Latent, index: int) -> Image.Image:
    """Picture ``index`` of a decoded latent before its caption: the source picture it was
    encoded from (resized), with the masked part repainted, or a colour field."""
    size = (latent.width, latent.height)
    fill = _colour(latent.seed, latent.text, index)
    if not latent.source:
        return Image.new("RGB", size, fill)
    picture = latent.source[min(index, len(latent.source) - 1)].convert("RGB").resize(size)
    if latent.mask is not None:
        repaint = Image.new("RGB", size, fill)
        picture = Image.composite(repaint, picture, latent.mask.convert("L").resize(size))
    return picture


def decode(latent: Latent) -> list[Image.Image]:
    """The pictures a latent decodes to: one per batch item, or ``frames`` per batch item for a
    video latent, each video frame with a marker that moves across it."""
    pictures = []
    for item in range(latent.batch):
        still = _base_picture(latent, item)
        _caption(still, latent, item)
        if latent.frames is None:
            pictures.append(still)
            continue
        pictures.extend(
            _moving_marker(still, frame, latent.frames) for frame in range(latent.frames)
        )
    return pictures


def _moving_marker(still: Image.Image, frame: int, frames: int) -> Image.Image:
    picture = still.copy()
    side = max(2, min(picture.size) // 8)
    x = (picture.width - side) * frame // max(1, frames - 1)
    y = picture.height - side - 1
    ImageDraw.Draw(picture).rectangle((x, y, x + side, y + side), fill=(255, 32, 32))
    return picture


def wan_frames(length: int) -> int:
    """Frames a Wan latent of ``length`` decodes to: its VAE packs four frames into one latent
    frame after the first, so a length that is not 4k+1 comes back rounded down to one."""
    return (length - 1) // 4 * 4 + 1


def write_mp4(frames: tuple[Image.Image, ...], fps: float, path: Path) -> None:
    """H.264 in yuv420p, which needs even sides: odd ones lose their last row or column."""
    width, height = frames[0].width // 2 * 2 or 2, frames[0].height // 2 * 2 or 2
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo"]
    command += ["-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    raw = b"".join(f.convert("RGB").crop((0, 0, width, height)).tobytes() for f in frames)
    done = subprocess.run(command, input=raw, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path.name}: {done.stderr.decode()[-400:]}")


# --- what each node does -----------------------------------------------------------------


@dataclass
class Ctx:
    """What a running node may ask of the server: report sampler progress, read an input
    file, write an output file."""

    fake: FakeComfyUI
    job: Job
    node_id: str
    step_seconds: float

    def progress(self, steps: int) -> None:
        for value in range(1, steps + 1):
            self.fake.pause(self.job, self.step_seconds)
            data = {"value": value, "max": steps, "prompt_id": self.job.prompt_id}
            self.fake.emit(self.job, "progress", {**data, "node": self.node_id})

    def load(self, name: str) -> Image.Image:
        path = self.fake.input_dir / name
        with Image.open(path) as picture:
            picture.load()
            return picture

    def save(self, prefix: str, kind: str, ext: str) -> tuple[Path, dict[str, str]]:
        """A fresh ``<prefix>_<counter>_.<ext>`` under the output (or temp) folder, counting on
        from the highest counter already there, and the record a node output lists for it."""
        base = self.fake.output_dir if kind == "output" else self.fake.temp_dir
        subfolder, _, stem = prefix.rpartition("/")
        folder = (base / subfolder).resolve()
        if not folder.is_relative_to(base.resolve()):
            raise RuntimeError("Saving image outside the output folder is not allowed.")
        folder.mkdir(parents=True, exist_ok=True)
        with self.fake.lock:
            counter = _next_counter(folder, stem)
            path = folder / f"{stem}_{counter:05}_.{ext}"
            path.touch()
        return path, {"filename": path.name, "subfolder": subfolder, "type": kind}


def _next_counter(folder: Path, stem: str) -> int:
    pattern = re.compile(re.escape(stem) + r"_(\d{5,})_\.")
    found = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return max(found, default=0) + 1


def _checkpoint(ctx: Ctx, ckpt_name: str) -> tuple:
    return {"model": ckpt_name, "loras": ()}, {"clip": ckpt_name, "loras": ()}, {"vae": ckpt_name}


def _unet(ctx: Ctx, unet_name: str, weight_dtype: str) -> tuple:
    return ({"model": unet_name, "loras": (), "dtype": weight_dtype},)


def _clip(ctx: Ctx, clip_name: str, type: str, device: str = "default") -> tuple:
    return ({"clip": clip_name, "type": type, "loras": ()},)


def _vae(ctx: Ctx, vae_name: str) -> tuple:
    return ({"vae": vae_name},)


def _lora(ctx: Ctx, model: dict, clip: dict, lora_name: str, **strengths: float) -> tuple:
    added = ((lora_name, strengths["strength_model"]),)
    return {**model, "loras": model["loras"] + added}, {**clip, "loras": clip["loras"] + added}


def _lora_model(ctx: Ctx, model: dict, lora_name: str, strength_model: float) -> tuple:
    return ({**model, "loras": model["loras"] + ((lora_name, strength_model),)},)


def _shift(ctx: Ctx, model: dict, shift: float) -> tuple:
    return ({**model, "shift": shift},)


def _encode_text(ctx: Ctx, text: str, clip: dict) -> tuple:
    return ({"text": text, "clip": clip["clip"]},)


def _guidance(ctx: Ctx, conditioning: dict, guidance: float) -> tuple:
    return ({**conditioning, "guidance": guidance},)


def _combine(ctx: Ctx, conditioning_1: dict, conditioning_2: dict) -> tuple:
    """Both conditionings at once: the picture shows both texts."""
    return ({**conditioning_2, "text": f"{conditioning_1['text']}, {conditioning_2['text']}"},)


def _empty_latent(ctx: Ctx, width: int, height: int, batch_size: int) -> tuple:
    return (Latent(width, height, batch_size),)


def _empty_video(ctx: Ctx, width: int, height: int, length: int, batch_size: int) -> tuple:
    return (Latent(width, height, batch_size, frames=wan_frames(length)),)


def _wan_i2v(ctx: Ctx, positive: dict, negative: dict, vae: dict, **size: Any) -> tuple:
    start = size.get("start_image") or []
    latent = Latent(size["width"], size["height"], size["batch_size"], wan_frames(size["length"]))
    return positive, negative, replace(latent, source=tuple(start[:1]))


def _ksampler(
    ctx: Ctx, model: dict, positive: dict, negative: dict, latent_image: Latent, **kw: Any
) -> tuple:
    ctx.progress(kw["steps"])
    return (replace(latent_image, seed=kw["seed"], text=positive["text"]),)


def _ksampler_advanced(
    ctx: Ctx, model: dict, positive: dict, negative: dict, latent_image: Latent, **kw: Any
) -> tuple:
    ctx.progress(advanced_steps(kw))
    fresh = kw["add_noise"] == "enable" or latent_image.seed is None
    seed = kw["noise_seed"] if fresh else latent_image.seed
    return (replace(latent_image, seed=seed, text=positive["text"]),)


def advanced_steps(inputs: Mapping[str, Any]) -> int:
    """The steps KSamplerAdvanced runs: from start_at_step to end_at_step, within steps."""
    return max(0, min(inputs["end_at_step"], inputs["steps"]) - inputs["start_at_step"])


def _vae_decode(ctx: Ctx, samples: Latent, vae: dict) -> tuple:
    return (decode(samples),)


def _vae_encode(ctx: Ctx, pixels: list[Image.Image], vae: dict) -> tuple:
    width, height = pixels[0].size
    return (Latent(width, height, len(pixels), source=tuple(pixels)),)


def _noise_mask(ctx: Ctx, samples: Latent, mask: Image.Image) -> tuple:
    return (replace(samples, mask=mask),)


def _load_image(ctx: Ctx, image: str) -> tuple:
    picture = ctx.load(image)
    if "A" in picture.getbands():
        mask = ImageOps.invert(picture.getchannel("A"))  # transparent: to be painted
    else:
        mask = Image.new("L", (64, 64), 0)
    return [picture.convert("RGB")], mask


def _load_mask(ctx: Ctx, image: str, channel: str) -> tuple:
    picture = ctx.load(image).convert("RGBA")
    band = picture.getchannel(channel[0].upper())
    return (ImageOps.invert(band) if channel == "alpha" else band,)


def _invert(ctx: Ctx, image: list[Image.Image]) -> tuple:
    return ([ImageOps.invert(p.convert("RGB")) for p in image],)


def _scale(
    ctx: Ctx, image: list[Image.Image], upscale_method: str, width: int, height: int, crop: str
) -> tuple:
    def size(p: Image.Image) -> tuple[int, int]:
        w = width or max(1, round(p.width * height / p.height))
        return w, height or max(1, round(p.height * w / p.width))

    if crop == "center":
        return ([ImageOps.fit(p, size(p)) for p in image],)
    return ([p.resize(size(p)) for p in image],)


def _empty_image(ctx: Ctx, width: int, height: int, batch_size: int, color: int) -> tuple:
    rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
    return ([Image.new("RGB", (width, height), rgb) for _ in range(batch_size)],)


def _batch(ctx: Ctx, image1: list[Image.Image], image2: list[Image.Image]) -> tuple:
    size = image1[0].size
    return (image1 + [p.resize(size) for p in image2],)


def _save_images(ctx: Ctx, images: list[Image.Image], filename_prefix: str = "ComfyUI") -> dict:
    records = []
    for picture in images:
        path, record = ctx.save(filename_prefix, "output", "png")
        picture.save(path, format="PNG", compress_level=4)
        records.append(record)
    return {"images": records}


def _preview(ctx: Ctx, images: list[Image.Image]) -> dict:
    records = []
    for picture in images:
        path, record = ctx.save(f"ComfyUI_temp_{ctx.job.prompt_id[:5]}", "temp", "png")
        picture.save(path, format="PNG", compress_level=1)
        records.append(record)
    return {"images": records}


def _save_webp(
    ctx: Ctx, images: list[Image.Image], filename_prefix: str, fps: float, **kw: Any
) -> dict:
    path, record = ctx.save(filename_prefix, "output", "webp")
    first, *rest = images
    options = {"lossless": kw["lossless"], "quality": kw["quality"]}
    first.save(
        path, format="WEBP", save_all=True, append_images=rest, duration=int(1000 / fps), **options
    )
    return {"images": [record], "animated": [bool(rest)]}


def _create_video(ctx: Ctx, images: list[Image.Image], fps: float, audio: Any = None) -> tuple:
    return (Video(tuple(images), fps),)


def _save_video(ctx: Ctx, video: Video, filename_prefix: str, format: str, codec: str) -> dict:
    path, record = ctx.save(filename_prefix, "output", "mp4")
    write_mp4(video.frames, video.fps, path)
    return {"images": [record], "animated": [True]}


SAMPLER_INPUTS = {
    "model": LINK("MODEL"),
    "positive": LINK("CONDITIONING"),
    "negative": LINK("CONDITIONING"),
    "latent_image": LINK("LATENT"),
}
ENABLE = COMBO(["enable", "disable"])
NODES: dict[str, NodeType] = {
    "CheckpointLoaderSimple": NodeType(
        _checkpoint,
        {"ckpt_name": COMBO(Folder("checkpoints"))},
        (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")),
        category="loaders",
        display="Load Checkpoint",
    ),
    "UNETLoader": NodeType(
        _unet,
        {"unet_name": COMBO(Folder("diffusion_models")), "weight_dtype": COMBO(WEIGHT_DTYPES)},
        (("MODEL", "MODEL"),),
        category="advanced/loaders",
        display="Load Diffusion Model",
    ),
    "CLIPLoader": NodeType(
        _clip,
        {"clip_name": COMBO(Folder("text_encoders")), "type": COMBO(CLIP_TYPES)},
        (("CLIP", "CLIP"),),
        optional={"device": COMBO(["default", "cpu"], advanced=True)},
        category="advanced/loaders",
        display="Load CLIP",
    ),
    "VAELoader": NodeType(
        _vae, {"vae_name": COMBO(Folder("vae"))}, (("VAE", "VAE"),), category="loaders"
    ),
    "LoraLoader": NodeType(
        _lora,
        {
            "model": LINK("MODEL"),
            "clip": LINK("CLIP"),
            "lora_name": COMBO(Folder("loras")),
            "strength_model": FLOAT(1.0, -100.0, 100.0),
            "strength_clip": FLOAT(1.0, -100.0, 100.0),
        },
        (("MODEL", "MODEL"), ("CLIP", "CLIP")),
        category="loaders",
        display="Load LoRA",
    ),
    "LoraLoaderModelOnly": NodeType(
        _lora_model,
        {
            "model": LINK("MODEL"),
            "lora_name": COMBO(Folder("loras")),
            "strength_model": FLOAT(1.0, -100.0, 100.0),
        },
        (("MODEL", "MODEL"),),
        category="loaders",
    ),
    "ModelSamplingSD3": NodeType(
        _shift,
        {"model": LINK("MODEL"), "shift": FLOAT(3.0, 0.0, 100.0)},
        (("MODEL", "MODEL"),),
        category="advanced/model",
    ),
    "CLIPTextEncode": NodeType(
        _encode_text,
        {"text": STRING(multiline=True, dynamicPrompts=True), "clip": LINK("CLIP")},
        (("CONDITIONING", "CONDITIONING"),),
        category="conditioning",
        display="CLIP Text Encode (Prompt)",
    ),
    "FluxGuidance": NodeType(
        _guidance,
        {"conditioning": LINK("CONDITIONING"), "guidance": FLOAT(3.5, 0.0, 100.0, step=0.1)},
        (("CONDITIONING", "CONDITIONING"),),
        category="advanced/conditioning/flux",
    ),
    "ConditioningCombine": NodeType(
        _combine,
        {"conditioning_1": LINK("CONDITIONING"), "conditioning_2": LINK("CONDITIONING")},
        (("CONDITIONING", "CONDITIONING"),),
        category="conditioning",
        display="Conditioning (Combine)",
    ),
    "EmptyLatentImage": NodeType(
        _empty_latent,
        {"width": SIZE(512), "height": SIZE(512), "batch_size": BATCH},
        (("LATENT", "LATENT"),),
        category="latent",
        display="Empty Latent Image",
    ),
    "EmptySD3LatentImage": NodeType(
        _empty_latent,
        {"width": SIZE(1024, 16), "height": SIZE(1024, 16), "batch_size": BATCH},
        (("LATENT", "LATENT"),),
        category="latent/sd3",
    ),
    "EmptyHunyuanLatentVideo": NodeType(
        _empty_video,
        {
            "width": SIZE(848, 16),
            "height": SIZE(480, 16),
            "length": INT(25, 1, MAX_RESOLUTION, step=4),
            "batch_size": BATCH,
        },
        (("LATENT", "LATENT"),),
        category="latent/video",
    ),
    "WanImageToVideo": NodeType(
        _wan_i2v,
        {
            "positive": LINK("CONDITIONING"),
            "negative": LINK("CONDITIONING"),
            "vae": LINK("VAE"),
            "width": SIZE(832, 16),
            "height": SIZE(480, 16),
            "length": INT(81, 1, MAX_RESOLUTION, step=4),
            "batch_size": BATCH,
        },
        (("CONDITIONING", "positive"), ("CONDITIONING", "negative"), ("LATENT", "latent")),
        optional={
            "clip_vision_output": LINK("CLIP_VISION_OUTPUT"),
            "start_image": LINK("IMAGE"),
        },
        category="conditioning/video_models",
    ),
    "KSampler": NodeType(
        _ksampler,
        {
            "model": LINK("MODEL"),
            "seed": SEED,
            "steps": STEPS,
            "cfg": CFG,
            "sampler_name": COMBO(SAMPLERS),
            "scheduler": COMBO(SCHEDULERS),
            **{k: v for k, v in SAMPLER_INPUTS.items() if k != "model"},
            "denoise": FLOAT(1.0, 0.0, 1.0),
        },
        (("LATENT", "LATENT"),),
        category="sampling",
    ),
    "KSamplerAdvanced": NodeType(
        _ksampler_advanced,
        {
            "model": LINK("MODEL"),
            "add_noise": ENABLE,
            "noise_seed": SEED,
            "steps": STEPS,
            "cfg": CFG,
            "sampler_name": COMBO(SAMPLERS),
            "scheduler": COMBO(SCHEDULERS),
            **{k: v for k, v in SAMPLER_INPUTS.items() if k != "model"},
            "start_at_step": INT(0, 0, 10000),
            "end_at_step": INT(10000, 0, 10000),
            "return_with_leftover_noise": COMBO(["disable", "enable"]),
        },
        (("LATENT", "LATENT"),),
        category="sampling",
        display="KSampler (Advanced)",
    ),
    "VAEDecode": NodeType(
        _vae_decode,
        {"samples": LINK("LATENT"), "vae": LINK("VAE")},
        (("IMAGE", "IMAGE"),),
        category="latent",
        display="VAE Decode",
    ),
    "VAEEncode": NodeType(
        _vae_encode,
        {"pixels": LINK("IMAGE"), "vae": LINK("VAE")},
        (("LATENT", "LATENT"),),
        category="latent",
        display="VAE Encode",
    ),
    "SetLatentNoiseMask": NodeType(
        _noise_mask,
        {"samples": LINK("LATENT"), "mask": LINK("MASK")},
        (("LATENT", "LATENT"),),
        category="latent/inpaint",
    ),
    "LoadImage": NodeType(
        _load_image,
        {"image": COMBO(Folder("input"), image_upload=True)},
        (("IMAGE", "IMAGE"), ("MASK", "MASK")),
        category="image",
        display="Load Image",
    ),
    "LoadImageMask": NodeType(
        _load_mask,
        {
            "image": COMBO(Folder("input"), image_upload=True),
            "channel": COMBO(["alpha", "red", "green", "blue"]),
        },
        (("MASK", "MASK"),),
        category="mask",
        display="Load Image (as Mask)",
    ),
    "ImageInvert": NodeType(
        _invert, {"image": LINK("IMAGE")}, (("IMAGE", "IMAGE"),), category="image"
    ),
    "ImageScale": NodeType(
        _scale,
        {
            "image": LINK("IMAGE"),
            "upscale_method": COMBO(UPSCALE_METHODS),
            "width": INT(512, 0, MAX_RESOLUTION),
            "height": INT(512, 0, MAX_RESOLUTION),
            "crop": COMBO(["disabled", "center"]),
        },
        (("IMAGE", "IMAGE"),),
        category="image/upscaling",
        display="Upscale Image",
    ),
    "EmptyImage": NodeType(
        _empty_image,
        {
            "width": INT(512, 1, MAX_RESOLUTION),
            "height": INT(512, 1, MAX_RESOLUTION),
            "batch_size": BATCH,
            "color": INT(0, 0, 0xFFFFFF, display="color"),
        },
        (("IMAGE", "IMAGE"),),
        category="image",
    ),
    "ImageBatch": NodeType(
        _batch,
        {"image1": LINK("IMAGE"), "image2": LINK("IMAGE")},
        (("IMAGE", "IMAGE"),),
        category="image",
        display="Batch Images",
    ),
    "SaveImage": NodeType(
        _save_images,
        {"images": LINK("IMAGE"), "filename_prefix": STRING("ComfyUI")},
        category="image",
        display="Save Image",
        output_node=True,
        hidden={"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
    ),
    "PreviewImage": NodeType(
        _preview,
        {"images": LINK("IMAGE")},
        category="image",
        display="Preview Image",
        output_node=True,
        hidden={"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
    ),
    "SaveAnimatedWEBP": NodeType(
        _save_webp,
        {
            "images": LINK("IMAGE"),
            "filename_prefix": STRING("ComfyUI"),
            "fps": FLOAT(6.0, 0.01, 1000.0),
            "lossless": BOOLEAN(True),
            "quality": INT(80, 0, 100),
            "method": COMBO(["default", "fastest", "slowest"]),
        },
        category="image/animation",
        output_node=True,
    ),
    "CreateVideo": NodeType(
        _create_video,
        {"images": LINK("IMAGE"), "fps": FLOAT(30.0, 1.0, 120.0, step=1.0)},
        (("VIDEO", "VIDEO"),),
        optional={"audio": LINK("AUDIO")},
        category="image/video",
        display="Create Video",
    ),
    "SaveVideo": NodeType(
        _save_video,
        {
            "video": LINK("VIDEO"),
            "filename_prefix": STRING("video/ComfyUI"),
            "format": COMBO(["auto", "mp4"]),
            "codec": COMBO(["auto", "h264"]),
        },
        category="image/video",
        display="Save Video",
        output_node=True,
    ),
}
SAMPLER_NODES = ("KSampler", "KSamplerAdvanced")


# --- POST /prompt validation ---------------------------------------------------------------


class Refused(Exception):
    """An HTTP error answer with its JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(json.dumps(body)[:300])
        self.status, self.body = status, body


def prompt_error(
    kind: str, message: str, details: str = "", node_errors: dict | None = None
) -> Refused:
    error = {"type": kind, "message": message, "details": details, "extra_info": {}}
    return Refused(400, {"error": error, "node_errors": node_errors or {}})


def node_error(kind: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


class Validator:
    """Checks a submitted API graph against the server's /object_info, as ComfyUI does before
    queueing: every node's class first, then each output node's tree of inputs."""

    def __init__(self, fake: FakeComfyUI, graph: dict[str, Any]) -> None:
        self.fake, self.graph = fake, graph
        self.errors: dict[str, list[dict]] = {}  # node id -> its own input errors
        self.failing: dict[str, set[str]] = {}  # node id -> failing nodes in its tree

    def run(self) -> tuple[list[str], dict[str, Any]]:
        """The output nodes to execute and the errors of those that cannot run."""
        self._check_classes()
        outputs = [i for i, n in self.graph.items() if NODES[n["class_type"]].output_node]
        if not outputs:
            raise prompt_error("prompt_no_outputs", "Prompt has no outputs")
        good, node_errors = [], {}
        for output in outputs:
            failing = self._tree(output, set())
            if not failing:
                good.append(output)
            for node_id in sorted(failing):
                entry = node_errors.setdefault(node_id, self._entry(node_id))
                entry["dependent_outputs"].append(output)
        if not good:
            details = "\n".join(
                f"{e['message']}: {e['details']}" for n in node_errors.values() for e in n["errors"]
            )
            raise prompt_error(
                "prompt_outputs_failed_validation",
                "Prompt outputs failed validation",
                details,
                node_errors,
            )
        return good, node_errors

    def _entry(self, node_id: str) -> dict[str, Any]:
        class_type = self.graph[node_id]["class_type"]
        return {"errors": self.errors[node_id], "dependent_outputs": [], "class_type": class_type}

    def _check_classes(self) -> None:
        for node_id, node in self.graph.items():
            where = f"Node ID '#{node_id}'"
            if not isinstance(node, dict) or "class_type" not in node:
                message = "Cannot execute because a node is missing the class_type property."
                raise prompt_error("invalid_prompt", message, where)
            if node["class_type"] not in NODES:
                message = f"Cannot execute because node {node['class_type']} does not exist."
                raise prompt_error("invalid_prompt", message, where)
            if not isinstance(node.get("inputs"), dict):
                message = f"Cannot execute because node #{node_id} has no 'inputs' object."
                raise prompt_error("invalid_prompt", message, where)

    def _tree(self, node_id: str, visiting: set[str]) -> set[str]:
        """The nodes with errors in the tree that feeds ``node_id``, itself included."""
        if node_id in self.failing:
            return self.failing[node_id]
        visiting = visiting | {node_id}
        errors, failing = self._inputs(node_id), set()
        for source in self._sources(node_id):
            if source in visiting:
                errors.append(node_error("dependency_cycle", "Dependency cycle detected", source))
            else:
                failing |= self._tree(source, visiting)
        self.errors[node_id] = errors
        self.failing[node_id] = failing | ({node_id} if errors else set())
        return self.failing[node_id]

    def _sources(self, node_id: str) -> list[str]:
        inputs = self.graph[node_id]["inputs"]
        return [v[0] for v in inputs.values() if _is_link(v) and v[0] in self.graph]

    def _inputs(self, node_id: str) -> list[dict]:
        node = self.graph[node_id]
        kind = NODES[node["class_type"]]
        inputs = node["inputs"]
        errors = [
            node_error("required_input_missing", "Required input is missing", name, input_name=name)
            for name in kind.required
            if name not in inputs
        ]
        for name, value in inputs.items():
            spec = kind.spec(name)
            if spec is None:
                if self.fake.strict_inputs:
                    errors.append(self._unknown(name, kind))
                continue
            problem = self._value(name, self.fake.resolve_spec(spec), value)
            if problem:
                errors.append(problem)
        return errors

    def _unknown(self, name: str, kind: NodeType) -> dict:
        known = ", ".join([*kind.required, *kind.optional])
        message = "Input is not one of the node's inputs (ComfyUI would ignore it)"
        return node_error("unknown_input", message, f"{name} (known: {known})", input_name=name)

    def _value(self, name: str, spec: list, value: Any) -> dict | None:
        if isinstance(value, list):
            return self._link(name, spec, value)
        kind = spec[0]
        extra = {"input_name": name, "input_config": spec, "received_value": value}
        if isinstance(kind, list):
            return _combo_error(name, kind, value, extra)
        if kind not in PRIMITIVES:
            message = f"Input must be linked to a node that outputs {kind}"
            return node_error("invalid_input_type", message, f"{name}, {value!r}", **extra)
        return _literal_error(name, kind, spec[1] if len(spec) > 1 else {}, value, extra)

    def _link(self, name: str, spec: list, value: list) -> dict | None:
        extra = {"input_name": name, "input_config": spec, "received_value": value}
        if not _is_link(value):
            message = "Bad linked input, must be a length-2 list of [string, int]"
            return node_error("bad_linked_input", message, f"{name}, {value!r}", **extra)
        source, index = value
        if source not in self.graph:
            message = f"Linked node #{source} does not exist in the prompt"
            return node_error("bad_linked_input", message, f"{name}, {value!r}", **extra)
        outputs = NODES[self.graph[source]["class_type"]].outputs
        if index >= len(outputs) or index < 0:
            message = f"Linked node #{source} has no output {index} (it has {len(outputs)})"
            return node_error("bad_linked_input", message, f"{name}, {value!r}", **extra)
        received, wanted = outputs[index][0], spec[0] if isinstance(spec[0], str) else "COMBO"
        if received != wanted:
            details = f"{name}, received_type({received}) mismatch input_type({wanted})"
            message = "Return type mismatch between linked nodes"
            return node_error(
                "return_type_mismatch",
                message,
                details,
                **extra,
                received_type=received,
                linked_node=value,
            )
        return None


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _combo_error(name: str, choices: list, value: Any, extra: dict) -> dict | None:
    if value in choices and isinstance(value, str):
        return None
    if extra["input_config"][1].get("image_upload"):
        # LoadImage checks its file itself, so a missing upload reads as a custom failure.
        details = f"{name} - Invalid image file: {value}"
        return node_error(
            "custom_validation_failed", "Custom validation failed for node", details, **extra
        )
    details = f"{name}: '{value}' not in {choices}"
    return node_error("value_not_in_list", "Value not in list", details, **extra)


TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "INT": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "FLOAT": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "STRING": lambda v: isinstance(v, str),
    "BOOLEAN": lambda v: isinstance(v, bool),
}


def _literal_error(name: str, kind: str, options: dict, value: Any, extra: dict) -> dict | None:
    if not TYPE_CHECKS[kind](value):
        message = f"Failed to convert an input value to a {kind} value"
        return node_error("invalid_input_type", message, f"{name}, {value!r}", **extra)
    if "min" in options and value < options["min"]:
        message = f"Value {value} smaller than min of {options['min']}"
        return node_error("value_smaller_than_min", message, name, **extra)
    if "max" in options and value > options["max"]:
        message = f"Value {value} bigger than max of {options['max']}"
        return node_error("value_bigger_than_max", message, name, **extra)
    return None


# --- the queue and its worker ----------------------------------------------------------------


@dataclass
class Job:
    number: int
    prompt_id: str
    graph: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    client_id: str | None
    interrupt: threading.Event = field(default_factory=threading.Event)
    messages: list[list[Any]] = field(default_factory=list)

    def item(self) -> list[Any]:
        """The job as /queue and /history list it."""
        return [self.number, self.prompt_id, self.graph, self.extra_data, self.outputs]


@dataclass(frozen=True)
class Run:
    """One prompt's time on the (single) worker, in time.monotonic() seconds."""

    prompt_id: str
    start: float
    end: float
    status: str  # "success", "error" or "interrupted"


def execution_order(graph: dict[str, Any], outputs: list[str]) -> list[str]:
    """Every node the outputs need, each after the nodes it reads from."""
    order: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in order:
            return
        for value in graph[node_id]["inputs"].values():
            if _is_link(value):
                visit(value[0])
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


def _literal_steps(inputs: dict[str, Any]) -> bool:
    return all(isinstance(inputs.get(k), int) for k in ("steps", "start_at_step", "end_at_step"))


def _now_ms() -> int:
    return int(time.time() * 1000)


class Execution:
    """Runs one job's nodes in order, telling the job's websocket client as it goes."""

    def __init__(self, fake: FakeComfyUI, job: Job) -> None:
        self.fake, self.job = fake, job
        self.order = execution_order(job.graph, job.outputs)
        self.values: dict[str, tuple] = {}
        self.outputs: dict[str, dict] = {}
        self.executed: list[str] = []
        self.failing_node = self._failing_node()

    def run(self) -> str:
        """Execute; the job's status: "success", "error" or "interrupted"."""
        pid = self.job.prompt_id
        self.fake.emit(self.job, "execution_start", {"prompt_id": pid, "timestamp": _now_ms()})
        cached = {"nodes": [], "prompt_id": pid, "timestamp": _now_ms()}
        self.fake.emit(self.job, "execution_cached", cached)
        try:
            steps = self._total_steps()
            if not steps:
                self.fake.pause(self.job, self.fake.exec_seconds)
            for node_id in self.order:
                self._node(node_id, self.fake.exec_seconds / steps if steps else 0.0)
        except Interrupted:
            self._tell("execution_interrupted", self._where(self.current))
            return "interrupted"
        except Exception as failure:  # a node's failure, as ComfyUI reports any exception
            self._tell("execution_error", self._failure(failure))
            return "error"
        self._tell("execution_success", {"prompt_id": pid, "timestamp": _now_ms()})
        return "success"

    def _tell(self, event: str, data: dict) -> None:
        self.fake.emit(self.job, event, data)

    def _node(self, node_id: str, step_seconds: float) -> None:
        self.current = node_id
        self.fake.check_interrupt(self.job)
        data = {"node": node_id, "display_node": node_id, "prompt_id": self.job.prompt_id}
        self._tell("executing", data)
        node = self.job.graph[node_id]
        if node_id == self.failing_node:
            raise NodeFailure(self.fake.fail_message, self.fake.fail_exception_type)
        ctx = Ctx(self.fake, self.job, node_id, step_seconds)
        result = NODES[node["class_type"]].run(ctx, **self._inputs(node))
        with self.fake.lock:
            self.fake.executed[node["class_type"]] += 1
        self.executed.append(node_id)
        if isinstance(result, dict):
            self.outputs[node_id] = result
            self._tell("executed", {**data, "output": result})
        else:
            self.values[node_id] = result

    def _inputs(self, node: dict) -> dict[str, Any]:
        return {
            name: self.values[value[0]][value[1]] if _is_link(value) else value
            for name, value in node["inputs"].items()
            if NODES[node["class_type"]].spec(name) is not None
        }

    def _total_steps(self) -> int:
        """Sampler steps in the prompt, over which ``exec_seconds`` is spread."""
        total = 0
        for node_id in self.order:
            node = self.job.graph[node_id]
            inputs = node["inputs"]
            if node["class_type"] == "KSampler" and isinstance(inputs.get("steps"), int):
                total += inputs["steps"]
            elif node["class_type"] == "KSamplerAdvanced" and _literal_steps(inputs):
                total += advanced_steps(inputs)
        return total

    def _failing_node(self) -> str | None:
        """The node a failure knob makes fail: one of ``fail_classes``, or with
        ``fail_marker`` in a text input the first sampler (where memory runs out)."""
        graph, fake = self.job.graph, self.fake
        for node_id in self.order:
            if graph[node_id]["class_type"] in fake.fail_classes:
                return node_id
        texts = [v for n in graph.values() for v in n["inputs"].values() if isinstance(v, str)]
        if not fake.fail_marker or not any(fake.fail_marker in t for t in texts):
            return None
        samplers = [i for i in self.order if graph[i]["class_type"] in SAMPLER_NODES]
        return (samplers or self.order)[0]

    def _where(self, node_id: str) -> dict[str, Any]:
        return {
            "prompt_id": self.job.prompt_id,
            "node_id": node_id,
            "node_type": self.job.graph[node_id]["class_type"],
            "executed": list(self.executed),
            "timestamp": _now_ms(),
        }

    def _failure(self, failure: Exception) -> dict[str, Any]:
        kind = getattr(failure, "exception_type", type(failure).__qualname__)
        node = self.job.graph[self.current]
        literals = {k: v for k, v in node["inputs"].items() if not _is_link(v)}
        return {
            **self._where(self.current),
            "exception_message": str(failure),
            "exception_type": kind,
            "traceback": [
                '  File "execution.py", line 1, in execute\n',
                f"{kind}: {failure}\n",
            ],
            "current_inputs": literals,
            "current_outputs": list(self.outputs),
        }


# --- the server ------------------------------------------------------------------------------


@dataclass
class Fault:
    """The next ``count`` requests whose path contains ``path`` answer ``status`` (500s) or,
    with ``hang`` seconds, stall that long before being served."""

    count: int
    path: str = ""
    status: int = 500
    hang: float = 0.0


class FakeComfyUI:
    def __init__(
        self,
        *,
        models: Mapping[str, Iterable[str]] | None = None,
        exec_seconds: float = 0.0,
        websocket: bool = True,
        root: Path | None = None,
    ) -> None:
        source = DEFAULT_MODELS if models is None else models
        self.models: dict[str, list[str]] = {k: list(v) for k, v in source.items()}
        self.exec_seconds = exec_seconds  # per prompt, spread over its sampler steps
        self.websocket = websocket  # False: /ws answers 404 and clients must poll /history
        self.strict_inputs = True  # refuse input names a node does not have
        self.fail_classes: set[str] = set()  # node types whose execution fails
        self.fail_marker: str | None = None  # in any text input: the first sampler fails
        self.fail_message = "CUDA out of memory. Tried to allocate 2.50 GiB."
        self.fail_exception_type = "torch.OutOfMemoryError"
        self.history_delay = 0.0  # seconds between execution_success and the history entry
        self.faults: list[Fault] = []
        # Counters and logs.
        self.submissions: Counter[str] = Counter()  # accepted POST /prompt per prompt_id
        self.duplicate_submissions = 0
        self.refusals: list[dict[str, Any]] = []  # every 400 body answered to POST /prompt
        self.uploads: list[str] = []  # the names answered to each upload
        self.upload_writes = 0  # uploads that wrote a file (not the identical re-uploads)
        self.upload_bytes_written = 0
        self.interrupts = 0  # POST /interrupt requests
        self.runs: list[Run] = []
        self.executed: Counter[str] = Counter()  # node executions per class type
        self.ws_connections = 0  # websockets ever opened
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.lock = threading.RLock()
        self._wake = threading.Condition(self.lock)
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._history: dict[str, dict[str, Any]] = {}
        self._number = 0
        self._sockets: list[WebSocket] = []
        self._stopping = threading.Event()
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fake-comfyui-")) if root is None else root
        for folder in ("input", "output", "temp"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeComfyUI:
        handler = type("Handler", (Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        worker = threading.Thread(target=self._work, name="fake-comfyui-worker", daemon=True)
        self._threads = [serve, worker]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Close the websockets, stop the worker (interrupting its prompt) and the server."""
        self._stopping.set()
        with self.lock:
            if self._running is not None:
                self._running.interrupt.set()
            self._wake.notify_all()
            sockets = list(self._sockets)
        for ws in sockets:
            ws.close(1001)
        for ws in sockets:
            ws.join(2.0)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(5.0)

    def __enter__(self) -> FakeComfyUI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def temp_dir(self) -> Path:
        return self.root / "temp"

    # --- helpers for tests ----------------------------------------------------------------

    @property
    def busy_seconds(self) -> float:
        """Time the worker spent executing prompts."""
        return sum(run.end - run.start for run in self.runs)

    def idle_gaps(self) -> list[float]:
        """Seconds the worker sat idle between one prompt and the next: near zero when the
        client keeps the queue fed."""
        runs = sorted(self.runs, key=lambda r: r.start)
        return [b.start - a.end for a, b in zip(runs, runs[1:], strict=False)]

    def add_input(self, name: str, data: bytes) -> Path:
        """Put a file in the input folder, as if uploaded earlier."""
        path = self.input_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def fail_next(self, count: int = 1, status: int = 500, path: str = "") -> None:
        """The next ``count`` requests (whose path contains ``path``) answer ``status``."""
        with self.lock:
            self.faults.append(Fault(count, path, status))

    def hang_next(self, count: int = 1, seconds: float = 5.0, path: str = "") -> None:
        """The next ``count`` requests (whose path contains ``path``) stall ``seconds``."""
        with self.lock:
            self.faults.append(Fault(count, path, hang=seconds))

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once the queue is empty and nothing runs."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._pending or self._running is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the fake ComfyUI is still busy after {timeout} s")
                self._wake.wait(left)

    def history_of(self, prompt_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self._history.get(prompt_id)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.path in path:
                    fault.count -= 1
                    return fault
        return None

    # --- schemas ----------------------------------------------------------------------------

    def resolve_spec(self, spec: list) -> list:
        """An input spec with a folder combo replaced by the files the server has now."""
        if not isinstance(spec[0], Folder):
            return spec
        name = spec[0].name
        files = self.input_files() if name == "input" else list(self.models.get(name, []))
        return [files, *spec[1:]]

    def input_files(self) -> list[str]:
        root = self.input_dir
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def object_info(self, name: str | None = None) -> dict[str, Any]:
        names = list(NODES) if name is None else [name] if name in NODES else []
        return {n: NODES[n].schema(n, self) for n in names}

    # --- submission -------------------------------------------------------------------------

    def submit(self, body: Any) -> dict[str, Any]:
        try:
            return self._submit(body)
        except Refused as refused:
            with self.lock:
                self.refusals.append(refused.body)
            raise

    def _submit(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise prompt_error("invalid_prompt", "The request body must be a JSON object")
        if "prompt" not in body:
            raise prompt_error("no_prompt", "No prompt provided", "No prompt provided")
        graph = body["prompt"]
        if not isinstance(graph, dict):
            raise prompt_error("invalid_prompt", "'prompt' must be an object of nodes by id")
        prompt_id = self._new_prompt_id(body.get("prompt_id"))
        extra, client_id = body.get("extra_data") or {}, body.get("client_id")
        if not isinstance(extra, dict) or not isinstance(client_id, str | None):
            raise prompt_error("invalid_prompt", "extra_data must be an object, client_id a string")
        outputs, node_errors = Validator(self, graph).run()
        extra = dict(extra)
        if client_id is not None:
            extra["client_id"] = client_id
        with self.lock:
            self._claim(prompt_id)
            job = Job(self._number, prompt_id, graph, extra, outputs, client_id)
            self._number += 1
            (self._pending.appendleft if body.get("front") else self._pending.append)(job)
            self.submissions[prompt_id] += 1
            self._wake.notify_all()
        self.broadcast_status()
        return {"prompt_id": prompt_id, "number": job.number, "node_errors": node_errors}

    def _new_prompt_id(self, given: Any) -> str:
        if given is None:
            return str(uuid.uuid4())
        if not isinstance(given, str) or not UUID_RE.match(given):
            message = f"prompt_id {given!r} is not a canonical lowercase UUID"
            raise prompt_error("invalid_prompt", message, "Send str(uuid.uuid4()) or leave it out.")
        with self.lock:
            self._claim(given)
        return given

    def _claim(self, prompt_id: str) -> None:
        """Refuse a prompt id the server knows (queued, running or in history)."""
        running = self._running is not None and self._running.prompt_id == prompt_id
        queued = any(job.prompt_id == prompt_id for job in self._pending)
        if running or queued or prompt_id in self._history:
            self.duplicate_submissions += 1
            message = f"prompt_id {prompt_id} is already queued, running or in the history"
            raise prompt_error(
                "invalid_prompt", message, "Ask /history/{prompt_id} for its result."
            )

    # --- the worker ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self._pending and not self._stopping.is_set():
                    self._wake.wait()
                if self._stopping.is_set():
                    return
                job = self._running = self._pending.popleft()
            self.broadcast_status()
            self._execute(job)

    def _execute(self, job: Job) -> None:
        start = time.monotonic()
        execution = Execution(self, job)
        status = execution.run()
        end = time.monotonic()
        if status == "success" and self.history_delay:
            self._stopping.wait(self.history_delay)
        entry = {
            "prompt": job.item(),
            "outputs": execution.outputs,
            "status": {
                "status_str": "success" if status == "success" else "error",
                "completed": status == "success",
                "messages": job.messages,
            },
            "meta": {n: _meta(n) for n in execution.outputs},
        }
        with self.lock:
            self._history[job.prompt_id] = entry
            self.runs.append(Run(job.prompt_id, start, end, status))
            self._running = None
            self._wake.notify_all()
        # As ComfyUI does: the history entry exists before "executing" with node null.
        self.emit(job, "executing", {"node": None, "prompt_id": job.prompt_id})
        self.broadcast_status()

    def pause(self, job: Job, seconds: float) -> None:
        """Spend execution time; an interrupt cuts it short."""
        if seconds > 0:
            job.interrupt.wait(seconds)
        self.check_interrupt(job)

    def check_interrupt(self, job: Job) -> None:
        if job.interrupt.is_set():
            raise Interrupted(job.prompt_id)

    # --- queue, history, interrupt ------------------------------------------------------------

    def queue(self) -> dict[str, list]:
        with self.lock:
            running = [self._running.item()] if self._running else []
            return {"queue_running": running, "queue_pending": [j.item() for j in self._pending]}

    def edit_queue(self, body: dict[str, Any]) -> None:
        with self.lock:
            if body.get("clear"):
                self._pending.clear()
            gone = set(body.get("delete") or [])
            self._pending = deque(j for j in self._pending if j.prompt_id not in gone)
            self._wake.notify_all()
        self.broadcast_status()

    def history(self, prompt_id: str | None = None, max_items: int | None = None) -> dict:
        with self.lock:
            if prompt_id is not None:
                entry = self._history.get(prompt_id)
                return {prompt_id: entry} if entry else {}
            items = list(self._history.items())
        return dict(items[-max_items:] if max_items else items)

    def edit_history(self, body: dict[str, Any]) -> None:
        with self.lock:
            if body.get("clear"):
                self._history.clear()
            for prompt_id in body.get("delete") or []:
                self._history.pop(prompt_id, None)

    def interrupt(self, body: Any) -> None:
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        with self.lock:
            self.interrupts += 1
            job = self._running
            if job is not None and wanted in (None, job.prompt_id):
                job.interrupt.set()

    # --- websockets ---------------------------------------------------------------------------

    def queue_remaining(self) -> int:
        with self.lock:
            return len(self._pending) + (self._running is not None)

    def status_message(self, sid: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": {"exec_info": {"queue_remaining": self.queue_remaining()}}
        }
        if sid is not None:
            data["sid"] = sid
        return {"type": "status", "data": data}

    def broadcast_status(self) -> None:
        message = json.dumps(self.status_message())
        with self.lock:
            sockets = list(self._sockets)
        for ws in sockets:
            ws.send_text(message)

    def emit(self, job: Job, event: str, data: dict[str, Any]) -> None:
        """Tell the job's client (if it listens now: nothing is replayed later)."""
        if event in HISTORY_EVENTS:
            job.messages.append([event, data])
        if job.client_id is None:
            return
        message = json.dumps({"type": event, "data": data})
        with self.lock:
            sockets = [ws for ws in self._sockets if ws.sid == job.client_id]
        for ws in sockets:
            ws.send_text(message)

    def attach(self, ws: WebSocket) -> None:
        with self.lock:
            self._sockets.append(ws)
            self.ws_connections += 1

    def detach(self, ws: WebSocket) -> None:
        with self.lock:
            if ws in self._sockets:
                self._sockets.remove(ws)

    def ws_clients(self) -> list[str]:
        """The client ids listening now."""
        with self.lock:
            return [ws.sid for ws in self._sockets]

    # --- files -------------------------------------------------------------------------------

    def folder(self, kind: str) -> Path:
        if kind not in ("input", "output", "temp"):
            raise Refused(400, {"error": f"type must be input, output or temp, not {kind!r}"})
        return self.root / kind

    def view(self, query: dict[str, str]) -> Path:
        filename = query.get("filename", "")
        if not filename or filename.startswith("/") or ".." in filename:
            raise Refused(400, {"error": f"bad filename {filename!r}"})
        base = self.folder(query.get("type") or "output").resolve()
        path = (base / query.get("subfolder", "") / filename).resolve()
        if not path.is_relative_to(base):
            raise Refused(403, {"error": "the file is outside the folder"})
        if not path.is_file():
            raise Refused(404, {"error": f"no file {filename!r}"})
        return path

    def upload(self, fields: dict[str, tuple[str | None, bytes]]) -> dict[str, str]:
        if "image" not in fields or not fields["image"][0]:
            raise Refused(400, {"error": "the 'image' field must be a file with a filename"})
        name, data = fields["image"]
        text = {k: v.decode() for k, (f, v) in fields.items() if f is None}
        subfolder, kind = text.get("subfolder", ""), text.get("type") or "input"
        base = self.folder(kind).resolve()
        folder = (base / subfolder).resolve()
        if (
            "/" in name
            or "\\" in name
            or name in ("", ".", "..")
            or not folder.is_relative_to(base)
        ):
            raise Refused(400, {"error": f"bad upload name {subfolder!r}/{name!r}"})
        overwrite = text.get("overwrite", "").lower() in ("true", "1")
        with self.lock:
            stored = self._store(folder, name, data, overwrite)
            self.uploads.append(stored)
        return {"name": stored, "subfolder": subfolder, "type": kind}

    def _store(self, folder: Path, name: str, data: bytes, overwrite: bool) -> str:
        """Write an upload; a different file of the same name keeps its name and the upload
        gets ``stem (i).ext``, an identical one is not written again."""
        folder.mkdir(parents=True, exist_ok=True)
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        candidate, i = name, 1
        while not overwrite and (folder / candidate).exists():
            if (folder / candidate).read_bytes() == data:
                return candidate
            candidate, i = f"{stem} ({i}){dot}{ext}", i + 1
        (folder / candidate).write_bytes(data)
        self.upload_writes += 1
        self.upload_bytes_written += len(data)
        return candidate

    def system_stats(self) -> dict[str, Any]:
        gib = 1024**3
        return {
            "system": {
                "os": sys.platform,
                "python_version": sys.version,
                "embedded_python": False,
                "comfyui_version": COMFYUI_VERSION,
                "pytorch_version": "2.8.0+cu128",
                "argv": ["main.py", "--listen", "127.0.0.1"],
                "ram_total": 128 * gib,
                "ram_free": 96 * gib,
            },
            "devices": [
                {
                    "name": "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync",
                    "type": "cuda",
                    "index": 0,
                    "vram_total": 80 * gib,
                    "vram_free": 72 * gib,
                    "torch_vram_total": 2 * gib,
                    "torch_vram_free": gib,
                }
            ],
        }


def _meta(node_id: str) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "display_node": node_id,
        "parent_node": None,
        "real_node_id": node_id,
    }


# --- WebSocket (RFC 6455) ------------------------------------------------------------------


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept: base64 of SHA-1 over the client's key and the protocol GUID."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (a server never masks)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
    return head + payload


class WebSocket:
    """A connection taken over from the HTTP handler: frames out under a lock (the worker and
    the status broadcasts share it), frames in read on the handler's thread."""

    OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA

    def __init__(self, sock: socket.socket, rfile: Any, sid: str) -> None:
        self.sock, self.rfile, self.sid = sock, rfile, sid
        self.thread = threading.current_thread()
        self._send_lock = threading.Lock()
        self.open = True

    def send_text(self, text: str) -> None:
        self._send(frame(self.OP_TEXT, text.encode()))

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            if not self.open:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.open = False

    def close(self, code: int) -> None:
        """Say goodbye and shut the socket, which ends the reading loop."""
        self._send(frame(self.OP_CLOSE, code.to_bytes(2, "big")))
        with self._send_lock:
            self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def serve(self) -> None:
        """Read the client's frames until it closes or goes: answer pings and the close
        handshake, ignore data (ComfyUI takes nothing from clients on this socket)."""
        while self.open:
            got = self._read_frame()
            if got is None:
                return
            opcode, payload = got
            if opcode == self.OP_CLOSE:
                self._send(frame(self.OP_CLOSE, payload[:2]))
                return
            if opcode == self.OP_PING:
                self._send(frame(self.OP_PONG, payload))

    def _read_frame(self) -> tuple[int, bytes] | None:
        try:
            head = self._read(2)
            size = head[1] & 0x7F
            if size >= 126:
                size = int.from_bytes(self._read(2 if size == 126 else 8), "big")
            if not head[1] & 0x80:  # RFC 6455 5.1: client frames must be masked
                self._send(frame(self.OP_CLOSE, (1002).to_bytes(2, "big")))
                return None
            mask = self._read(4)
            data = self._read(size)
        except (OSError, EOFError, ValueError):
            return None
        return head[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def _read(self, count: int) -> bytes:
        data = self.rfile.read(count) if count else b""
        if len(data) < count:
            raise EOFError
        return data


# --- HTTP ------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    fake: FakeComfyUI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        self.close_connection = True  # one request per connection: stop() leaves none open
        with self.fake.lock:
            self.fake.requests.append((method, self.path))
        parts = urlsplit(self.path)
        path = parts.path.removeprefix("/api") if parts.path.startswith("/api/") else parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self._fault(path):
            return
        try:
            self._route(method, path, query)
        except Refused as refused:
            self._json(refused.status, refused.body)
        except Exception as error:  # a bug in the fake, or a body it cannot read: say so
            self._json(500, {"error": f"{type(error).__name__}: {error}"})

    def _fault(self, path: str) -> bool:
        fault = self.fake.take_fault(path)
        if fault is None:
            return False
        if fault.hang:
            self.fake._stopping.wait(fault.hang)
            return False
        self._json(fault.status, {"error": "fault injected by the test"})
        return True

    def _route(self, method: str, path: str, query: dict[str, str]) -> None:
        if method == "GET":
            self._get(path, query)
        elif path == "/upload/image":
            self._json(200, self.fake.upload(self._multipart()))
        else:
            self._post(path)

    def _get(self, path: str, query: dict[str, str]) -> None:
        fake = self.fake
        if path == "/ws":
            return self._websocket(query)
        if path == "/view":
            return self._file(fake.view(query))
        answers: dict[str, Callable[[], Any]] = {
            "/queue": fake.queue,
            "/system_stats": fake.system_stats,
            "/object_info": fake.object_info,
            "/models": lambda: list(FOLDERS),
            "/history": lambda: fake.history(max_items=_int_or_none(query.get("max_items"))),
            "/embeddings": list,
            "/extensions": list,
        }
        if path in answers:
            return self._json(200, answers[path]())
        head, _, rest = path[1:].partition("/")
        if head == "history" and rest:
            return self._json(200, fake.history(rest))
        if head == "object_info" and rest:
            return self._json(200, fake.object_info(rest))
        if head == "models" and rest in fake.models:
            return self._json(200, list(fake.models[rest]))
        self._json(404, {"error": f"no route GET {path}"})

    def _post(self, path: str) -> None:
        body = self._body()
        fake = self.fake
        if path == "/prompt":
            return self._json(200, fake.submit(body))
        if path == "/interrupt":
            fake.interrupt(body)
            return self._json(200, {})
        if path in ("/queue", "/history"):
            if not isinstance(body, dict):
                raise Refused(400, {"error": "the body must be a JSON object"})
            (fake.edit_queue if path == "/queue" else fake.edit_history)(body)
            return self._json(200, {})
        self._json(404, {"error": f"no route POST {path}"})

    # --- pieces -------------------------------------------------------------------------

    def _raw(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _body(self) -> Any:
        raw = self._raw()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as error:
            raise prompt_error("invalid_prompt", f"The body is not JSON: {error}") from error

    def _multipart(self) -> dict[str, tuple[str | None, bytes]]:
        content_type = self.headers.get("Content-Type", "")
        found = re.search(r'boundary="?([^";]+)"?', content_type)
        if not content_type.startswith("multipart/form-data") or not found:
            raise Refused(400, {"error": "POST /upload/image takes multipart/form-data"})
        return parse_multipart(self._raw(), found.group(1).encode())

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _file(self, path: Path) -> None:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(200, path.read_bytes(), kind)

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client went away

    def _websocket(self, query: dict[str, str]) -> None:
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
        upgrade &= "upgrade" in self.headers.get("Connection", "").lower()
        if not self.fake.websocket:
            return self._json(404, {"error": "no websocket on this server"})
        if not upgrade or not key or self.headers.get("Sec-WebSocket-Version") != "13":
            return self._json(400, {"error": "a websocket upgrade (version 13) is expected"})
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key))
        self.end_headers()
        sid = query.get("clientId") or uuid.uuid4().hex
        ws = WebSocket(self.connection, self.rfile, sid)
        ws.send_text(json.dumps(self.fake.status_message(sid)))
        self.fake.attach(ws)
        try:
            ws.serve()
        finally:
            self.fake.detach(ws)
            ws.close(1000)


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def parse_multipart(body: bytes, boundary: bytes) -> dict[str, tuple[str | None, bytes]]:
    """multipart/form-data fields by name: (filename or None, the bytes)."""
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            (
                h
                for h in head.decode("utf-8", "replace").split("\r\n")
                if h.lower().startswith("content-disposition")
            ),
            "",
        )
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name:
            fields[name.group(1)] = (
                filename.group(1) if filename else None,
                data.removesuffix(b"\r\n"),
            )
    return fields
