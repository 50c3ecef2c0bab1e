"""director's local GPU path, measured on real-size models with random weights, in one command.

Builds SDXL, Wan 2.1 T2V 1.3B and FLUX.1-dev at their published sizes, CLIP ViT-L/14 and an
insightface pack of real size (bench/real_size.py), and drives them through director's own
backends and critics:

- ``sdxl``: best-of-4 in one batch against one image at 1024x1024 (``DiffusersImage``, its
  default 30 steps), split into text encoding, denoising per step, VAE decode and the host side;
  the VAE decoding modes (full, sliced, tiled) on their own.
- ``attention``: SDXL's denoising step with each of torch's attention kernels.
- ``clip``: the CLIP critic (``ClipCritic.check_batch``) on 1 and on 64 keyframes.
- ``identity``: the identity critic (insightface: detection, alignment, recognition).
- ``wan``: one clip through ``DiffusersVideo``, per step and per frame; attention kernels; VAE
  decoding modes.
- ``film``: director's real graph (``start_run``) on a short film with these backends and
  critics, best-of-4 keyframes; the run's time split into generators, critics, output writes
  and the orchestration around them, from timing wrappers and the event log.
- ``compile``: SDXL with the ``compile`` setting on, against the same steps uncompiled.
- ``flux``: best-of-4 against one image with FLUX.1-dev.

Each phase checks the time left (``--budget-s``) and is skipped, with a note, when it would not
fit. Figures go to DIR/gpu.json and a Markdown report to DIR/gpu.md after every phase.

    PYTHONPATH=. python bench/gpu.py --out DIR                  # one H100/H200; all phases
    PYTHONPATH=. python bench/gpu.py --out DIR --phases sdxl,compile
    PYTHONPATH=. python bench/gpu.py --tiny --out DIR           # the same code, tiny models, CPU

Needs the diffusers, clip and insightface extras and about 25 GB of disk; --tiny needs none of
the GPU and checks that every phase runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import real_size  # noqa: E402
from bench.diffusers_batch import Takes, batch, one, request  # noqa: E402
from director.tools import diffusers_local as local  # noqa: E402
from director.tools.base import ClipRequest, CriticContext  # noqa: E402
from director.tools.image.diffusers_image import DiffusersImage  # noqa: E402
from director.tools.video.diffusers_video import DEFAULT_STEPS as WAN_DEFAULT_STEPS  # noqa: E402
from director.tools.video.diffusers_video import DiffusersVideo, generated_frames  # noqa: E402
from tests.conftest import make_plan, plain_shot  # noqa: E402

PHASES = ("sdxl", "clip", "identity", "film", "wan", "attention", "compile", "flux")
# Seconds each phase takes on an H200, building what it needs included: a phase starts only
# if it fits in what is left of --budget-s.
COST = {
    "sdxl": 100,
    "attention": 30,
    "clip": 45,
    "identity": 30,
    "wan": 150,
    "film": 150,
    "compile": 200,
    "flux": 100,
}
KERNELS = ("auto", "_native_flash", "_native_cudnn", "_native_efficient")


@dataclasses.dataclass
class Sizes:
    """What each phase makes: real sizes on a GPU, toy sizes with --tiny."""

    keyframe: tuple[int, int] = (1024, 1024)
    k: int = 4
    repeats: int = 3
    steps_probe: int = 10  # attention and compile comparisons, per step
    big: tuple[int, int] = (2048, 2048)
    clip_batch: int = 64
    clip_side: int = 1024
    film_size: str = "832x480"
    fps: int = 16
    clip_s: float = 3.0  # a film shot: 48 frames at 16 fps, 49 generated
    wan_steps: int = 10
    wan_size: tuple[int, int] = (832, 480)
    wan_big: tuple[int, int] = (1280, 720)
    flux_steps: int = 8
    face_scale: float = 1.0
    kernels: tuple[str, ...] = KERNELS


TINY = Sizes(
    keyframe=(64, 64),
    repeats=2,
    steps_probe=2,
    big=(256, 256),
    clip_batch=8,
    clip_side=256,
    film_size="256x144",
    fps=8,
    clip_s=0.5,
    wan_steps=2,
    wan_size=(64, 48),
    wan_big=(96, 64),
    flux_steps=2,
    face_scale=0.125,
    kernels=("auto", "_native_math"),
)


# --- timing -------------------------------------------------------------------------------


class Clock:
    """Inclusive seconds and calls of wrapped callables; the device is synchronised around each
    call, so asynchronous GPU work is counted in the call that asked for it."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._undo: list[tuple[Any, str, bool, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        own = name in vars(owner)
        clock = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            clock.sync()
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock.sync()
                clock.seconds[label] += time.perf_counter() - start
                clock.calls[label] += 1

        self._undo.append((owner, name, own, vars(owner).get(name)))
        setattr(owner, name, timed)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def undo(self) -> None:
        for owner, name, own, before in reversed(self._undo):
            if own:
                setattr(owner, name, before)
            else:
                delattr(owner, name)
        self._undo.clear()

    def __getitem__(self, label: str) -> float:
        return self.seconds.get(label, 0.0)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tiny = args.tiny
        self.cuda = torch.cuda.is_available() and not args.tiny
        self.device = "cuda" if self.cuda else "cpu"
        self.dtype = torch.bfloat16 if self.cuda else torch.float32
        self.size = TINY if args.tiny else Sizes()
        self.work = Path(args.work or tempfile.mkdtemp(prefix="director-gpu-"))
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.deadline = time.monotonic() + args.budget_s
        self.results: dict[str, Any] = {"machine": machine(self.cuda), "phases": {}, "notes": []}
        self.sdxl: DiffusersImage | None = None
        self.wan: DiffusersVideo | None = None
        self.clip: Any = None
        self.face_root: Path | None = None
        self.takes = Takes()
        if args.tiny:
            local.COMPILER = "eager"  # tracing without code generation: minutes less on a CPU

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def timed(self, fn: Callable[[], Any]) -> float:
        self.sync()
        start = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - start

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def note(self, text: str) -> None:
        print(f"note: {text}", flush=True)
        self.results["notes"].append(text)

    def record(self, phase: str, figures: dict) -> None:
        self.results["phases"][phase] = figures
        print(f"== {phase}: {json.dumps(figures)[:2000]}", flush=True)
        self.save()

    def save(self) -> None:
        (self.out / "gpu.json").write_text(json.dumps(self.results, indent=2))
        (self.out / "gpu.md").write_text(report(self.results))

    def backend_kwargs(self) -> dict:
        return {"device": "cpu", "steps": 2} if self.tiny else {}

    def peak_reset(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if self.cuda else None


def machine(cuda: bool) -> dict:
    import diffusers
    import transformers

    found = {
        "date": str(date.today()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "cpu_cores": os.cpu_count(),
    }
    if cuda:
        found["gpu"] = torch.cuda.get_device_name()
        found["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30)
    return found


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# --- SDXL ---------------------------------------------------------------------------------


def sdxl_backend(b: Bench) -> DiffusersImage:
    """Build, save and load the SDXL pipeline once per process."""
    if b.sdxl is not None:
        return b.sdxl
    folder = b.work / "sdxl"
    start = time.perf_counter()
    if b.tiny:
        from tests import diffusers_tiny

        diffusers_tiny.sdxl(folder)
        counts: dict = {}
    else:
        counts = real_size.build_sdxl(folder, b.dtype)
    built = time.perf_counter() - start
    b.sdxl = DiffusersImage(str(folder), **b.backend_kwargs())
    load = b.timed(lambda: b.sdxl.pipeline)
    b.results["sdxl_model"] = {
        "params_b": counts,
        "folder_gb": folder_gb(folder),
        "build_save_s": round(built, 1),
        "load_s": round(load, 2),
        "placement": dataclasses.asdict(b.sdxl.placement),
    }
    return b.sdxl


def folder_gb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9, 2)


def image_probe(b: Bench, backend: DiffusersImage) -> Clock:
    """Wrap the stages of a keyframe: director's prompt encoding, the pipeline call, the VAE
    decode inside it, and the whole render (uint8 conversion and PIL included)."""
    from director.tools.image import diffusers_image as module

    clock = Clock(b.sync)
    for family in module.FAMILIES.values():
        clock.wrap(family, "encode", "encode")
    clock.wrap(type(backend.pipeline), "__call__", "pipeline")
    clock.wrap(backend.pipeline.vae, "decode", "decode")
    clock.wrap(type(backend), "_render", "render")
    return clock


def split(clock: Clock, steps: int) -> dict:
    """One measured call's stages, in milliseconds."""
    denoise = clock["pipeline"] - clock["decode"]
    return {
        "encode_ms": ms(clock["encode"]),
        "denoise_ms": ms(denoise),
        "per_step_ms": ms(denoise / steps),
        "decode_ms": ms(clock["decode"]),
        "host_ms": ms(clock["render"] - clock["pipeline"] - clock["encode"]),
    }


def measure_one(b: Bench, backend, clock: Clock, size, k: int, steps: int) -> dict:
    """One image (k=1) or one batch of k, a new prompt each time; total and stages."""
    out = b.work / "keyframes"
    take = b.takes()
    clock.reset()
    if k == 1:
        total = b.timed(lambda: one(backend, size, take, out))
    else:
        total = b.timed(lambda: batch(backend, size, take, out, k))
    # What is left: submitting, and writing the PNGs.
    return {
        "total_s": round(total, 3),
        **split(clock, steps),
        "png_ms": ms(total - clock["render"]),
    }


def best_of_k(b: Bench, backend, size, k: int, repeats: int, steps: int) -> dict:
    clock = image_probe(b, backend)
    try:
        measure_one(b, backend, clock, size, 1, steps)  # warm-up: kernels for this shape
        measure_one(b, backend, clock, size, k, steps)
        b.peak_reset()
        singles = [measure_one(b, backend, clock, size, 1, steps) for _ in range(repeats)]
        batches = [measure_one(b, backend, clock, size, k, steps) for _ in range(repeats)]
    finally:
        clock.undo()
    t1 = median([r["total_s"] for r in singles])
    tk = median([r["total_s"] for r in batches])
    return {
        "size": f"{size[0]}x{size[1]}",
        "steps": steps,
        "one_s": t1,
        f"batch_{k}_s": tk,
        "ratio": round(tk / t1, 3),
        "speedup_vs_sequential": round(k * t1 / tk, 2),
        "one": stages(singles),
        "batch": stages(batches),
        "one_runs_s": [r["total_s"] for r in singles],
        "batch_runs_s": [r["total_s"] for r in batches],
        "peak_gib": b.peak_gib(),
    }


def stages(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if k.endswith("_ms")]
    return {k: median([r[k] for r in runs]) for k in keys}


def phase_sdxl(b: Bench) -> dict:
    backend = sdxl_backend(b)
    steps = backend.submit(request(0, *b.size.keyframe, 0)).params["steps"]
    row = best_of_k(b, backend, b.size.keyframe, b.size.k, b.size.repeats, steps)
    return {"model": b.results["sdxl_model"], "best_of_k": row, "vae": sdxl_vae(b, backend)}


def sdxl_vae(b: Bench, backend: DiffusersImage) -> list[dict]:
    """The VAE alone on random latents, in each decoding mode."""
    pipe = backend.pipeline
    cases = [
        (b.size.keyframe, b.size.k, ("full", "sliced", "tiled")),
        (b.size.big, 1, ("full", "tiled")),
    ]
    rows, f = [], pipe.vae_scale_factor
    for (w, h), k, modes in cases:
        shape = (k, pipe.vae.config.latent_channels, h // f, w // f)
        latents = torch.randn(shape, device=b.device, dtype=pipe.vae.dtype)
        latents = latents / pipe.vae.config.scaling_factor
        rows += [vae_row(b, pipe, latents, f"{w}x{h} x{k}", mode) for mode in modes]
    return rows


def vae_row(b: Bench, pipe, latents, label: str, mode: str, repeats: int = 2) -> dict:
    """One decoding mode: a warm-up (unless ``repeats`` is 1), then ``repeats`` timed decodes."""
    decode = functools.partial(pipe.vae.decode, latents, return_dict=False)
    with local.running(pipe, local.Tuning(vae_decode=mode), mode), torch.no_grad():
        if repeats > 1:
            decode()
        b.peak_reset()
        base = torch.cuda.memory_allocated() if b.cuda else 0
        seconds = [b.timed(decode) for _ in range(repeats)]
    peak = b.peak_gib()
    return {
        "case": label,
        "mode": mode,
        "s": median(seconds),
        "peak_above_weights_gib": None if peak is None else round(peak - base / 2**30, 2),
    }


def phase_attention(b: Bench) -> dict:
    backend = sdxl_backend(b)
    saved_speed, saved_steps = backend.speed, backend.steps
    steps = b.size.steps_probe
    backend.steps = steps
    rows = []
    clock = image_probe(b, backend)
    try:
        for kernel in b.size.kernels:
            backend.speed = dataclasses.replace(saved_speed, attention=kernel)
            measure_one(b, backend, clock, b.size.keyframe, 1, steps)  # warm-up
            singles = [measure_one(b, backend, clock, b.size.keyframe, 1, steps) for _ in range(2)]
            batches = [measure_one(b, backend, clock, b.size.keyframe, b.size.k, steps)]
            rows.append(
                {
                    "kernel": kernel,
                    "one_per_step_ms": median([r["per_step_ms"] for r in singles]),
                    f"batch_{b.size.k}_per_step_ms": batches[0]["per_step_ms"],
                }
            )
    finally:
        clock.undo()
        backend.speed, backend.steps = saved_speed, saved_steps
    return {
        "model": "sdxl",
        "size": "x".join(map(str, b.size.keyframe)),
        "steps": steps,
        "rows": rows,
    }


# --- CLIP ---------------------------------------------------------------------------------


def clip_critic(b: Bench):
    if b.clip is None:
        from director.tools.critics.clip import ClipCritic

        arch, weights = real_size.clip_model(b.work / "clip", tiny=b.tiny)
        b.clip = ClipCritic(arch, str(weights), device=b.device)  # its own batch size
    return b.clip


def frames(n: int, side: int, seed: int = 0) -> list[Image.Image]:
    """Noisy pictures with some structure: a gradient under noise, one per seed."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, side, dtype=np.float32)[None, :, None]
    found = []
    for _ in range(n):
        noise = rng.normal(0, 40, (side, side, 3)).astype(np.float32)
        found.append(Image.fromarray(np.clip(ramp + noise, 0, 255).astype(np.uint8)))
    return found


def critic_context(b: Bench) -> CriticContext:
    anchor = b.work / "anchor.png"
    frames(1, 256, seed=9)[0].save(anchor)
    return CriticContext(bible=make_plan(1).bible, style_anchors=[str(anchor)])


def phase_clip(b: Bench) -> dict:
    from director.tools.critics import clip as module

    critic = clip_critic(b)
    n = b.size.clip_batch
    images = frames(n, b.size.clip_side)
    shot = plain_shot(0, 2.0)
    context = critic_context(b)
    critic.check_batch(images, [shot] * n, context)  # warm-up; texts and anchors now kept
    critic.check_batch(images[:1], [shot], context)
    one = [b.timed(lambda i=i: critic.check_batch([images[i]], [shot], context)) for i in range(n)]
    t1 = statistics.median(one)
    many = {}
    for passes in (critic.batch_size, n):  # the critic's own forward passes, and one of all n
        critic.batch_size, saved = passes, critic.batch_size
        runs = [b.timed(lambda: critic.check_batch(images, [shot] * n, context)) for _ in range(5)]
        critic.batch_size = saved
        many[passes] = statistics.median(runs)
    tn = many[critic.batch_size]
    m = critic._model
    pre = [m.preprocess(im) for im in images]
    forward = clip_forward(b, m, pre)
    sequential = b.timed(lambda: [m.preprocess(module.rgb(im)) for im in images])
    threaded = b.timed(lambda: list(module._preprocessed(m.preprocess, images)))
    return {
        "model": critic.model,
        "images": f"{b.size.clip_side}x{b.size.clip_side}",
        "critic_batch_size": critic.batch_size,
        "check_batch_1_ms": ms(t1),
        f"check_batch_{n}_ms": ms(tn),
        f"per_image_at_{n}_ms": ms(tn / n),
        "rate_ratio": round(n * t1 / tn, 2),
        f"check_batch_{n}_in_one_pass_ms": ms(many[n]),
        "rate_ratio_one_pass": round(n * t1 / many[n], 2),
        "forward_ms": forward,
        "weights": str(m.dtype).replace("torch.", ""),
        f"preprocess_{n}_ms": {"one_core": ms(sequential), "threads": ms(threaded)},
    }


def clip_forward(b: Bench, m, pre: list) -> dict:
    """The image tower alone, on preprocessed pixels already on the device."""
    found = {}
    for k in (1, len(pre)):
        pixels = torch.stack(pre[:k]).to(m.device, dtype=m.dtype)
        with torch.inference_mode():
            m.net.encode_image(pixels)
            runs = [b.timed(lambda p=pixels: m.net.encode_image(p)) for _ in range(10)]
        found[f"batch_{k}"] = ms(statistics.median(runs))
    return found


# --- identity -----------------------------------------------------------------------------


def face_root(b: Bench) -> Path:
    if b.face_root is None:
        root = b.work / "insightface"
        b.results["face_pack"] = real_size.face_pack(root, scale=b.size.face_scale)
        b.face_root = root
    return b.face_root


def reference_photo(b: Bench) -> Path:
    path = b.work / "mara.png"
    if not path.exists():
        frames(1, 512, seed=3)[0].save(path)
    return path


def phase_identity(b: Bench) -> dict:
    import onnxruntime

    from director.tools.critics.face_insightface import InsightFaces
    from director.tools.critics.identity import IdentityCritic

    root = face_root(b)
    faces = InsightFaces(root)
    critic = IdentityCritic(faces, {"Mara": [str(reference_photo(b))]})
    shot = plain_shot(0, 2.0, characters=("Mara",))
    context = critic_context(b)
    images = frames(12, b.size.clip_side, seed=5)
    critic.check_batch(images[:2], [shot] * 2, context)  # warm-up
    one = [b.timed(lambda im=im: critic.check_batch([im], [shot], context)) for im in images]
    four = b.timed(lambda: critic.check_batch(images[:4], [shot] * 4, context))
    row = {
        "providers": onnxruntime.get_available_providers(),
        "used": faces.load().models["detection"].session.get_providers(),
        "pack_gflops": b.results.get("face_pack"),
        "check_1_ms": ms(statistics.median(one)),
        "check_batch_4_ms": ms(four),
    }
    if b.cuda:
        row["torch_gpu_ms"] = face_nets_on_gpu(b)
    return row


def face_nets_on_gpu(b: Bench) -> dict:
    """The same two networks in torch on the GPU: what a CUDA execution provider would run."""
    detector, recogniser = (m.to(b.device) for m in real_size.face_nets(b.size.face_scale))
    image = torch.rand(1, 3, real_size.DETECTOR_SIDE, real_size.DETECTOR_SIDE, device=b.device)
    crop = torch.rand(1, 3, 112, 112, device=b.device)
    half = functools.partial(torch.autocast, "cuda", torch.bfloat16)
    found = {}
    for precision, amp in (("float32", nullcontext), ("bfloat16", half)):
        with torch.inference_mode(), amp():
            for name, net, x in (("detect", detector, image), ("recognise", recogniser, crop)):
                net(x)
                runs = [b.timed(lambda n=net, x=x: n(x)) for _ in range(20)]
                found[f"{name}_{precision}"] = ms(statistics.median(runs))
    return found


# --- Wan ----------------------------------------------------------------------------------


def wan_backend(b: Bench) -> DiffusersVideo:
    if b.wan is not None:
        return b.wan
    folder = b.work / "wan"
    start = time.perf_counter()
    if b.tiny:
        from tests import diffusers_tiny

        diffusers_tiny.wan(folder, image_to_video=False)
        counts: dict = {}
    else:
        counts = real_size.build_wan(folder, b.dtype)
    built = time.perf_counter() - start
    b.wan = DiffusersVideo(str(folder), **b.backend_kwargs())
    load = b.timed(lambda: b.wan.pipeline)
    b.results["wan_model"] = {
        "params_b": counts,
        "folder_gb": folder_gb(folder),
        "build_save_s": round(built, 1),
        "load_s": round(load, 2),
    }
    return b.wan


def video_probe(b: Bench, backend: DiffusersVideo) -> Clock:
    clock = Clock(b.sync)
    pipe = backend.pipeline
    clock.wrap(type(pipe), "__call__", "pipeline")
    clock.wrap(pipe, "encode_prompt", "encode")
    clock.wrap(pipe.vae, "decode", "decode")
    clock.wrap(type(backend), "_generate", "generate")
    clock.wrap(type(backend), "collect", "collect")
    return clock


def clip_request(b: Bench, seconds: float, size: tuple[int, int], seed: int) -> ClipRequest:
    keyframe = b.work / f"keyframe-{size[0]}x{size[1]}.png"
    if not keyframe.exists():
        frames(1, 64)[0].resize(size).save(keyframe)
    shot = make_plan(1).shots[0]
    return ClipRequest(
        shot=shot,
        keyframe=str(keyframe),
        seed=seed,
        duration_s=seconds,
        fps=b.size.fps,
        width=size[0],
        height=size[1],
        prompt=f"a woman in a green coat walks in the rain at night, take {seed}",
    )


def measure_clip(b: Bench, backend, clock: Clock, seconds: float, steps: int, seed: int) -> dict:
    backend.steps = steps
    req = clip_request(b, seconds, b.size.wan_size, seed)
    job = backend.submit(req)
    clock.reset()
    total = b.timed(lambda: backend.collect(job, b.work / "clips" / f"{seed}.mp4"))
    frames_made = job.params["frames_generated"]
    denoise = clock["pipeline"] - clock["encode"] - clock["decode"]
    return {
        "frames": frames_made,
        "size": f"{req.width}x{req.height}",
        "steps": steps,
        "total_s": round(total, 3),
        "encode_ms": ms(clock["encode"]),
        "per_step_ms": ms(denoise / steps),
        "decode_ms": ms(clock["decode"]),
        "decode_per_frame_ms": ms(clock["decode"] / frames_made),
        "to_host_ms": ms(clock["generate"] - clock["pipeline"]),
        "mp4_ms": ms(clock["collect"] - clock["generate"]),
    }


def phase_wan(b: Bench) -> dict:
    backend = wan_backend(b)
    saved_steps, saved_speed = backend.steps, backend.speed
    clock = video_probe(b, backend)
    try:
        measure_clip(b, backend, clock, b.size.clip_s / 4, 2, seed=1)  # warm-up
        clip = measure_clip(b, backend, clock, b.size.clip_s, b.size.wan_steps, seed=2)
        kernels = []
        for kernel in b.size.kernels:
            backend.speed = dataclasses.replace(saved_speed, attention=kernel)
            measure_clip(b, backend, clock, b.size.clip_s / 4, 1, seed=3)  # warm-up
            row = measure_clip(b, backend, clock, b.size.clip_s, 2, seed=4)
            kernels.append({"kernel": kernel, "per_step_ms": row["per_step_ms"]})
    finally:
        clock.undo()
        backend.steps, backend.speed = saved_steps, saved_speed
    return {
        "model": b.results["wan_model"],
        "clip": clip,
        "attention": kernels,
        "vae": wan_vae(b, backend),
    }


def wan_vae(b: Bench, backend: DiffusersVideo) -> list[dict]:
    pipe = backend.pipeline
    latent_frames = (generated_frames(round(b.size.clip_s * b.size.fps)) - 1) // 4 + 1
    rows, f = [], pipe.vae_scale_factor_spatial
    for w, h in (b.size.wan_size, b.size.wan_big):
        shape = (1, pipe.vae.config.z_dim, latent_frames, h // f, w // f)
        latents = torch.randn(shape, device=b.device, dtype=pipe.vae.dtype)
        label = f"{w}x{h} x{(latent_frames - 1) * 4 + 1} frames"
        # A clip's decode takes seconds: one warm-up for the case, then one run per mode.
        with torch.no_grad():
            pipe.vae.decode(latents, return_dict=False)
        rows += [vae_row(b, pipe, latents, label, mode, 1) for mode in ("full", "tiled")]
    return rows


# --- the film -----------------------------------------------------------------------------

LOOSE = [
    "identity=-1",
    "max_clipped=2",
    "black_allowance=1",
    "min_contrast=-1",
    "min_sharpness=-1",
    "min_resolution=0",
    "min_anchor_overlap=-1",
    "min_on_palette=-1",
    "min_distance=0",
    "copy_paste_chip=2",
    "copy_paste_embedding=2",
    "min_clipscore=-1",
    "min_style=-2",
    "max_flicker=1000000",
    "min_continuity=-1",
]


def phase_film(b: Bench) -> dict:
    """director's graph on a short film: planning, best-of-4 keyframes, critique, clips, clip
    gate, assembly, documents. Random weights pass no gate, so every threshold is set to pass:
    each shot costs one round of keyframes and one clip, and the time left over is the
    orchestration's, not rerolls'."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from director.agent import gate, keyframes, runner
    from director.agent.cast import resolve_cast
    from director.agent.configuration import resolve
    from director.memory.events import EventLog, read_events
    from director.records import AssemblyStep, AttemptMade, RunFinished, StageFinished
    from director.replay import workflow
    from director.tools.critics import face_insightface
    from director.tools.critics.clipgate import ClipGate
    from director.tools.critics.identity import IdentityCritic
    from director.tools.critics.thresholds import for_critic
    from director.tools.image import contact_sheet

    image, video, clip = sdxl_backend(b), wan_backend(b), clip_critic(b)
    root = face_root(b)
    face_insightface._analysis(str(real_size_pack(root)))  # loaded before the run, as CLIP is
    video.steps = b.size.wan_steps
    options = resolve(
        {
            "logline": "An old gardener and a robot keep the last garden alive in 2075",
            "minutes": 0.25,
            "size": b.size.film_size,
            "fps": b.size.fps,
            "runs_dir": str(b.work / "runs"),
            "run_id": f"film-{int(time.time())}",
            "yes": True,
            "best_of": b.size.k,
            "max_attempts": b.size.k,
            "character": [f"Mara={reference_photo(b)}"],
            "insightface_root": str(root),
            "threshold": LOOSE,
        }
    )
    # The run's own keyframe gate, from the registry (identity on the cast included), with the
    # CLIP critic that is already loaded on the GPU in place of the one the registry would load.
    cast = resolve_cast(options.cast, options.characters, options.insightface_root)
    critics = [
        clip if c.name == "clip" else c
        for c in gate.keyframe_critics(gate.critics(options, image, cast, ("keyframe",)))
    ]
    saved_thresholds = dict(clip.thresholds)
    clip.thresholds.update(for_critic(options.thresholds, "clip"))
    clock = Clock(b.sync)
    from director.tools.image import diffusers_image as image_module

    wraps = [
        (DiffusersImage, "_render", "keyframe generator"),
        (DiffusersImage, "collect", "keyframe collect"),
        (image_module.Sdxl, "encode", "keyframe prompt encoding"),
        (type(image.pipeline), "__call__", "keyframe pipeline"),
        (DiffusersVideo, "_generate", "clip generator"),
        (DiffusersVideo, "collect", "clip collect"),
        (type(video.pipeline), "__call__", "clip pipeline"),
        (video.pipeline, "encode_prompt", "clip prompt encoding"),
        (video.pipeline.vae, "decode", "clip decode"),
        (image.pipeline.vae, "decode", "keyframe decode"),
        (ClipGate, "check_clip", "clip gate"),
        (local, "load_pipeline", "pipeline loads"),
        (runner, "_backends", "run setup"),
        # Parts of the orchestration, to say where it goes.
        (keyframes, "_judge", "critique node"),
        (EventLog, "append", "event log appends"),
        (SqliteSaver, "put", "checkpoint puts"),
        (SqliteSaver, "put_writes", "checkpoint writes"),
        (contact_sheet, "contact_sheet", "contact sheet"),
        (workflow, "write_workflow", "workflow document"),
    ]
    wraps += [(type(c), "check_batch", f"critic {c.name}") for c in critics]
    if not any(isinstance(c, IdentityCritic) for c in critics):
        wraps.append((IdentityCritic, "check_batch", "critic identity"))  # the clip gate's
    for owner, name, label in wraps:
        clock.wrap(owner, name, label)
    pipes = (image.pipeline, video.pipeline)
    try:
        result = None

        def run():
            nonlocal result
            result = runner.start_run(
                options, backends={"image": image, "video": video, "critics": critics}
            )

        wall = b.timed(run)
    finally:
        clock.undo()
        clip.thresholds = saved_thresholds
    events = read_events(result.paths.events)
    shutil.copy(result.paths.events, b.out / "film-events.jsonl")
    attempts = [e.attempt for e in events if isinstance(e, AttemptMade)]
    keyframes = [a for a in attempts if a.kind == "keyframe"]
    clips = [a for a in attempts if a.kind == "clip"]
    assembly = sum(e.seconds for e in events if isinstance(e, AssemblyStep))
    critics_s = sum(v for k, v in clock.seconds.items() if k.startswith("critic "))
    # The models' work: prompt encoding and the pipeline calls (denoising, VAE decode). The
    # rest of the backends' time (uint8 pixels to the host, PNG files, MP4 encodes) is writes.
    keyframe_models = clock["keyframe pipeline"] + clock["keyframe prompt encoding"]
    generator = keyframe_models + clock["clip pipeline"]
    writes = clock["keyframe collect"] + clock["clip collect"] - generator
    orchestration = wall - clock["keyframe collect"] - clock["clip collect"] - critics_s
    orchestration -= clock["clip gate"] + assembly
    rounds = clock.calls["keyframe generator"]
    # At Wan's own 50 steps instead of the film's few: the clips' generator time projected from
    # the film's own time per step.
    stepping = clock["clip pipeline"] - clock["clip prompt encoding"] - clock["clip decode"]
    per_step = stepping / max(1, len(clips) * b.size.wan_steps)
    at_default = generator + len(clips) * (WAN_DEFAULT_STEPS - b.size.wan_steps) * per_step
    return {
        "shots": len(clips),
        "keyframes": len(keyframes),
        "keyframe_rounds": rounds,
        "clips": len(clips),
        "size": b.size.film_size,
        "fps": b.size.fps,
        "clip_frames": clips[0].params.get("frames_generated") if clips else None,
        "sdxl_steps": keyframes[0].params.get("steps") if keyframes else None,
        "wan_steps": b.size.wan_steps,
        "wall_s": round(wall, 2),
        "run_finished_s": next((e.seconds for e in events if isinstance(e, RunFinished)), None),
        "stages_s": {e.stage: e.seconds for e in events if isinstance(e, StageFinished)},
        "seconds": {k: round(v, 3) for k, v in sorted(clock.seconds.items())},
        "calls": dict(clock.calls),
        "generator_s": round(generator, 3),
        "critics_keyframes_s": round(critics_s, 3),
        "critics_clips_s": round(clock["clip gate"], 3),
        "output_writes_s": round(writes, 3),
        "assembly_ffmpeg_s": round(assembly, 3),
        "orchestration_s": round(orchestration, 3),
        "overhead_ratio": round(orchestration / generator, 4),
        "overhead_with_writes_ratio": round((orchestration + writes + assembly) / generator, 4),
        "clip_per_step_s": round(per_step, 4),
        "generator_at_default_wan_steps_s": round(at_default, 2),
        "overhead_ratio_at_default_wan_steps": round(orchestration / at_default, 4),
        "overhead_with_writes_ratio_at_default_wan_steps": round(
            (orchestration + writes + assembly) / at_default, 4
        ),
        "per_keyframe": {
            "generator_s": round(keyframe_models / max(1, len(keyframes)), 3),
            "critics_s": round(critics_s / max(1, len(keyframes)), 4),
            "attempt_seconds_median": median([a.seconds for a in keyframes]) if keyframes else None,
        },
        "per_clip": {
            "generator_s": round(clock["clip pipeline"] / max(1, len(clips)), 3),
            "clip_gate_s": round(clock["clip gate"] / max(1, len(clips)), 3),
            "attempt_seconds_median": median([a.seconds for a in clips]) if clips else None,
        },
        "critique_images_read_s": round(clock["critique node"] - critics_s, 3),
        "pipeline_loads_during_run": clock.calls["pipeline loads"],
        "same_pipelines_after_run": image.pipeline is pipes[0] and video.pipeline is pipes[1],
    }


def real_size_pack(root: Path) -> Path:
    from director.tools.critics.face_insightface import pack_folder

    return pack_folder(root)


# --- compile ------------------------------------------------------------------------------


def phase_compile(b: Bench) -> dict:
    """SDXL with compile on, the same steps with it off: one image and best-of-4."""
    eager = sdxl_backend(b)
    folder = eager.path
    steps = b.size.steps_probe
    compiled = DiffusersImage(str(folder), compile="on", **b.backend_kwargs())
    load = b.timed(lambda c=compiled: c.pipeline)
    compiled.steps, saved = steps, eager.steps
    eager.steps = steps
    rows: dict[str, Any] = {"compiled_load_s": round(load, 2)}
    try:
        for name, backend in (("eager", eager), ("compiled", compiled)):
            clock = image_probe(b, backend)
            try:
                first = measure_one(b, backend, clock, b.size.keyframe, 1, steps)
                first_k = measure_one(b, backend, clock, b.size.keyframe, b.size.k, steps)
                singles = [
                    measure_one(b, backend, clock, b.size.keyframe, 1, steps) for _ in range(2)
                ]
                batches = [
                    measure_one(b, backend, clock, b.size.keyframe, b.size.k, steps)
                    for _ in range(2)
                ]
            finally:
                clock.undo()
            rows[name] = {
                "first_one_s": first["total_s"],
                f"first_batch_{b.size.k}_s": first_k["total_s"],
                "one_s": median([r["total_s"] for r in singles]),
                f"batch_{b.size.k}_s": median([r["total_s"] for r in batches]),
                "one_per_step_ms": median([r["per_step_ms"] for r in singles]),
                f"batch_{b.size.k}_per_step_ms": median([r["per_step_ms"] for r in batches]),
            }
            rows[name]["ratio"] = round(rows[name][f"batch_{b.size.k}_s"] / rows[name]["one_s"], 3)
    finally:
        eager.steps = saved
        del compiled
        real_size.release()
    return {
        "model": "sdxl",
        "size": "x".join(map(str, b.size.keyframe)),
        "steps": steps,
        "mode": "default",
        **rows,
    }


# --- FLUX ---------------------------------------------------------------------------------


def phase_flux(b: Bench) -> dict:
    from director.tools.image.diffusers_image import FAMILIES

    real_size.release()  # FLUX takes 34 GB beside the 24 GB of the other phases' models
    folder = b.work / "flux"
    start = time.perf_counter()
    if b.tiny:
        from tests import diffusers_tiny

        diffusers_tiny.flux(folder)
        backend = DiffusersImage(str(folder), **b.backend_kwargs())
        counts: dict = {}
    else:
        pipe, counts = real_size.flux_pipeline(b.dtype)
        real_size.save_index(pipe, folder)
        backend = DiffusersImage(str(folder), steps=b.size.flux_steps)
        pipe.set_progress_bar_config(disable=True)
        local.speed_up(pipe, backend.speed)
        # Built in memory: the backend gets the pipeline its load would have made.
        backend._pipe, backend._family = pipe, FAMILIES["FluxPipeline"](pipe)
    b.sync()  # random weights are drawn on the device, asynchronously
    built = time.perf_counter() - start
    steps = backend.submit(request(0, *b.size.keyframe, 0)).params["steps"]
    row = best_of_k(b, backend, b.size.keyframe, b.size.k, 2, steps)
    return {"params_b": counts, "build_s": round(built, 1), "best_of_k": row}


# --- report -------------------------------------------------------------------------------


def report(results: dict) -> str:
    """The figures as Markdown tables, goals first."""
    p = results["phases"]
    m = results["machine"]
    lines = [
        f"Machine: {m.get('gpu', 'CPU only')}, {m['cpu_cores']} CPU cores; torch {m['torch']}, "
        f"diffusers {m['diffusers']}, transformers {m['transformers']}. Date: {m['date']}.",
        "",
    ]
    lines += ["| goal | measured | target | |", "|---|---|---|---|"]
    if "film" in p:
        f = p["film"]
        lines.append(goal("orchestration / generator time (film)", f["overhead_ratio"], 0.01, "<="))
        lines.append(
            goal(
                "... with PNG/MP4 writes and assembly", f["overhead_with_writes_ratio"], 0.01, "<="
            )
        )
    if "sdxl" in p:
        r = p["sdxl"]["best_of_k"]
        lines.append(goal(f"SDXL best-of-4 / one image, {r['size']}", r["ratio"], 1.6, "<="))
    if "clip" in p:
        c = p["clip"]
        lines.append(goal("CLIP rate at batch 64 / batch 1", c["rate_ratio"], 10, ">="))
    lines.append("")
    for name, figures in p.items():
        lines += [f"### {name}", "", "```json", json.dumps(figures, indent=1), "```", ""]
    if results["notes"]:
        lines += ["Notes:", *[f"- {n}" for n in results["notes"]], ""]
    return "\n".join(lines)


def goal(what: str, value: float, target: float, how: str) -> str:
    met = value <= target if how == "<=" else value >= target
    return f"| {what} | {value} | {how} {target} | {'met' if met else 'missed'} |"


# --- main ---------------------------------------------------------------------------------

RUNNERS = {
    "sdxl": phase_sdxl,
    "attention": phase_attention,
    "clip": phase_clip,
    "identity": phase_identity,
    "wan": phase_wan,
    "film": phase_film,
    "compile": phase_compile,
    "flux": phase_flux,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/out/gpu", help="folder for gpu.json and gpu.md")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"of: {','.join(PHASES)}")
    parser.add_argument("--tiny", action="store_true", help="tiny models on the CPU")
    parser.add_argument("--budget-s", type=float, default=3600, help="stop starting phases after")
    parser.add_argument("--work", default=None, help="folder for the models (default: a temp one)")
    args = parser.parse_args()
    chosen = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(chosen) - set(PHASES)
    if unknown:
        raise SystemExit(f"Unknown phases {sorted(unknown)}; known: {', '.join(PHASES)}")
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("This benchmark needs a CUDA GPU (or --tiny for the CPU check).")
    os.environ.setdefault("DIRECTOR_CONFIG", str(_empty_config()))
    _font()
    b = Bench(args)
    print(json.dumps(b.results["machine"]), flush=True)
    for phase in chosen:
        built = (phase in ("film", "wan") and b.wan is not None) * 70
        cost = (COST[phase] - built) / (20 if args.tiny else 1)
        if b.left() < cost:
            b.note(f"{phase} skipped: {b.left():.0f} s left of the budget, it takes about {cost} s")
            continue
        start = time.perf_counter()
        try:
            figures = RUNNERS[phase](b)
        except Exception as exc:  # one phase failing must not lose the others' figures
            import traceback

            traceback.print_exc()
            b.note(f"{phase} failed: {type(exc).__name__}: {exc}"[:600])
            continue
        figures["phase_s"] = round(time.perf_counter() - start, 1)
        b.record(phase, figures)
    b.save()
    print(report(b.results).split("\n\n### ")[0], flush=True)


def _font() -> None:
    """A machine without director's CJK font (a bare GPU image) titles the film in
    matplotlib's DejaVu Sans: the film's language is English."""
    from director.errors import ToolMissing
    from director.tools.assemble.fonts import find_font

    try:
        find_font()
    except ToolMissing:
        import matplotlib

        os.environ["DIRECTOR_FONT"] = str(
            Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        )


def _empty_config() -> Path:
    """No user config file: the benchmark's settings are its own."""
    path = Path(tempfile.mkdtemp(prefix="director-gpu-config-")) / "config.toml"
    path.write_text("")
    return path


if __name__ == "__main__":
    main()
