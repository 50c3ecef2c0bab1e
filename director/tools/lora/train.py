"""Training a LoRA on an SDXL UNet with diffusers and peft, resumable after a kill.

The frozen model is placed as the diffusers backends place it (bfloat16 on a CUDA GPU, float32
on the CPU); the adapter's weights are kept in float32 and the UNet runs under bfloat16
autocast on CUDA. Every image's latents and text embeddings are computed once, before the
first step, and kept in ``cache.pt``, so a step runs the UNet alone. Gradient checkpointing is
on unless turned off; the optimizer is bitsandbytes' 8-bit AdamW on CUDA where it is installed,
torch's AdamW otherwise.

Each step's noise, timestep and image come from generators seeded by the step's number, so a
resumed training draws what an uninterrupted one would. A checkpoint (the adapter, the
optimizer's state, the random states, the losses so far) is written whole every N steps; a
later run with the same settings continues from the last one.
"""

from __future__ import annotations

import json
import platform
import re
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from director.errors import InputError, ToolMissing
from director.files import atomic_file, write_json_atomic
from director.tools import sdxl_text

TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]  # the attention projections of every block
SDXL = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")
KEEP_CHECKPOINTS = 2
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    rank: int = 16
    alpha: float = 16.0
    steps: int = 1000
    lr: float = 1e-4
    resolution: int = 1024
    seed: int = 0
    checkpoint_every: int = 250
    sample_every: int = 250
    samples: int = 4
    sample_steps: int = 25
    guidance: float = 5.0
    gradient_checkpointing: bool = True

    def fingerprint(self, base: str, dataset_sha256: str) -> dict[str, Any]:
        """What a checkpoint must have been trained with for a training to continue from it
        (the step count may grow; how often to checkpoint or sample may change)."""
        keep = ("rank", "alpha", "lr", "resolution", "seed")
        return {"base": base, "dataset_sha256": dataset_sha256} | {
            k: getattr(self, k) for k in keep
        }


# --- what must hold before anything is written -----------------------------------------------


def require_training() -> None:
    from director.tools.diffusers_local import require_diffusers

    require_diffusers()
    import importlib.util

    if importlib.util.find_spec("peft") is None:
        raise ToolMissing(
            "Training a LoRA needs peft, which is not installed.",
            "Install the diffusers extra: pip install 'director[diffusers]'.",
        )


def training_device(device: str) -> str:
    """The device to train on: a CUDA GPU, or the CPU only when asked for by name."""
    import torch

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise InputError(f"--device {device!r} is not a device.", "Use auto, cuda, cuda:N or cpu.")
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "cpu":
        return "cpu"
    if device in ("auto", "cuda") and visible:
        return "cuda"
    index = int(device.partition(":")[2] or 0) if device.startswith("cuda:") else 0
    if device.startswith("cuda:") and index < visible:
        return device
    seen = f"only {visible} CUDA GPU(s) are visible" if visible else "no CUDA GPU is visible"
    raise ToolMissing(
        f"Training a LoRA needs a CUDA GPU, and {seen}; nothing was written.",
        "Run it on a machine with an NVIDIA GPU and CUDA-enabled torch (--device cpu trains on "
        "the CPU, which suits only tiny test models).",
    )


def base_model(value: str) -> tuple[Path, str]:
    """The local SDXL pipeline folder ``--base diffusers:PATH`` names, and its class."""
    from director.tools import diffusers_local as local

    kind, sep, model = value.partition(":")
    if not sep or kind != "diffusers":
        raise InputError(
            f"--base {value!r} does not name a diffusers model.",
            "Pass the folder of a local SDXL pipeline: --base diffusers:/path/to/sdxl.",
        )
    path = local.local_model(model, "base")
    if not path.is_dir():
        raise InputError(
            f"--base {path} is a file; training needs the pipeline's folder (model_index.json "
            "and its parts).",
            "Convert the checkpoint once (diffusers' StableDiffusionXLPipeline.from_single_file "
            "then save_pretrained), then pass that folder.",
        )
    name = local.pipeline_class(path)
    if name not in SDXL:
        raise InputError(
            f"--base {path} is a {name}; director trains LoRAs for SDXL pipelines only.",
            "Pass the folder of a Stable Diffusion XL pipeline.",
        )
    return path, name


def check_resumable(out: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse an output folder whose checkpoints were made with other settings."""
    path = out / "checkpoints" / "settings.json"
    if not path.is_file():
        return
    from director.files import read_json_object

    made = read_json_object(path, "The checkpoints' settings", "Delete the checkpoints folder.")
    differ = [k for k in fingerprint if made.get(k) != fingerprint[k]]
    if differ:
        said = ", ".join(f"{k} {made.get(k)!r} there, {fingerprint[k]!r} now" for k in differ)
        raise InputError(
            f"{out} holds checkpoints of a training with other settings ({said}).",
            f"Pass another --out, or delete {out / 'checkpoints'} to start over.",
        )


# --- the model --------------------------------------------------------------------------------


def load(path: Path, class_name: str, device: str) -> Any:
    import diffusers

    from director.tools import diffusers_local as local

    # Captions longer than the text encoders' 77 tokens are cut (the trigger word, first, is
    # kept); diffusers would warn about it at every sample.
    diffusers.utils.logging.set_verbosity_error()
    dtype = "float32" if device == "cpu" else "bfloat16"
    return local.load_pipeline(class_name, path, local.Placement(device, dtype, False))


def add_lora(unet: Any, rank: int, alpha: float, checkpointing: bool, seed: int = 0) -> list:
    """Freeze the UNet and give its attention projections a LoRA whose weights train in
    float32; returns those weights."""
    import torch
    from peft import LoraConfig

    unet.requires_grad_(False)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=TARGETS
    )
    unet.add_adapter(config)
    params = [p for p in unet.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    if checkpointing:
        unet.enable_gradient_checkpointing()
    unet.train()
    return params


def optimizer_for(params: list, lr: float, device: str) -> tuple[Any, str]:
    import torch

    if device.startswith("cuda"):
        try:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=1e-2), "AdamW 8-bit"
        except ImportError:
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=1e-2), "AdamW"


@dataclass
class Batch:
    """One image as the UNet sees it: latents, both text embeddings, the size conditioning."""

    latents: Any
    embeds: Any
    pooled: Any
    time_ids: Any

    def tensors(self) -> list:
        return [self.latents, self.embeds, self.pooled, self.time_ids]

    def to(self, device: str) -> Batch:
        return Batch(*(t.to(device) for t in self.tensors()))


@dataclass
class Step:
    """What one optimisation step needs."""

    unet: Any
    optimizer: Any
    noise: Any  # the DDPM noise schedule of the base model
    autocast: Any = None  # a torch dtype on CUDA, None on the CPU

    @property
    def prediction(self) -> str:
        return self.noise.config.prediction_type


def noise_schedule(pipe: Any) -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler.config)


def train_step(step: Step, batch: Batch, generator: Any) -> Any:
    """Noise the latents at a random timestep, predict, take the MSE, and update the LoRA;
    returns the loss (a tensor, not synchronised)."""
    import torch
    import torch.nn.functional as F

    latents = batch.latents
    noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
    count = step.noise.config.num_train_timesteps
    t = torch.randint(0, count, (latents.shape[0],), generator=generator).to(latents.device)
    noisy = step.noise.add_noise(latents, noise, t)
    target = noise if step.prediction == "epsilon" else step.noise.get_velocity(latents, noise, t)
    with torch.autocast(
        latents.device.type, step.autocast or torch.float32, enabled=bool(step.autocast)
    ):
        pred = step.unet(
            noisy,
            t,
            encoder_hidden_states=batch.embeds,
            added_cond_kwargs={"text_embeds": batch.pooled, "time_ids": batch.time_ids},
            return_dict=False,
        )[0]
    loss = F.mse_loss(pred.float(), target.float())
    loss.backward()
    step.optimizer.step()
    step.optimizer.zero_grad(set_to_none=True)
    return loss.detach()


# --- the cache --------------------------------------------------------------------------------


def encode(pipe: Any, image_path: Path, caption: str, resolution: int) -> Batch:
    """The image's latents (resized and centre-cropped to a square) and the caption's
    embeddings, on the CPU in float32."""
    import numpy as np
    import torch

    from director.tools.critics.imaging import open_rgb

    image = open_rgb(image_path)
    w, h = image.size
    scale = resolution / min(w, h)
    sw, sh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    left, top = (sw - resolution) // 2, (sh - resolution) // 2
    image = image.resize((sw, sh)).crop((left, top, left + resolution, top + resolution))
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
    vae = pipe.vae
    upcast = getattr(vae.config, "force_upcast", False) and vae.dtype != torch.float32
    dtype = torch.float32 if upcast else vae.dtype
    with torch.no_grad():
        if upcast:
            vae.to(torch.float32)
        pixels = pixels.permute(2, 0, 1)[None].to(vae.device, dtype)
        latents = vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor
        if upcast:
            vae.to(pipe.unet.dtype)
        # As keyframes read a prompt: a caption past 77 tokens is encoded in windows, whole.
        text = sdxl_text.encode(pipe, caption, "", guidance=1.0)
    embeds, pooled = text["prompt_embeds"], text["pooled_prompt_embeds"]
    time_ids = torch.tensor([[h * scale, w * scale, top, left, resolution, resolution]])
    return Batch(latents.float().cpu(), embeds.float().cpu(), pooled.float().cpu(), time_ids)


def cached(pipe: Any, items: list, settings: Settings, out: Path, key: str, progress: Progress):
    """Every image encoded once: read from ``cache.pt`` when it was made for this dataset,
    base model and resolution, else computed and written there."""
    import torch

    path = out / "cache.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        if saved.get("key") == key:
            return [Batch(*b) for b in saved["batches"]]
    progress(f"encoding {len(items)} images and captions once (latents, text embeddings)")
    batches = [
        encode(pipe, out / "dataset" / i.name, i.caption, settings.resolution) for i in items
    ]
    with atomic_file(path) as fh:
        torch.save({"key": key, "batches": [b.tensors() for b in batches]}, fh)
    return batches


# --- checkpoints ------------------------------------------------------------------------------


@dataclass
class State:
    step: int = 0
    losses: list[float] = field(default_factory=list)
    train_s: float = 0.0  # seconds spent in steps
    total_s: float = 0.0  # seconds of the whole training, across resumes
    samples: dict[str, list[str]] = field(default_factory=dict)  # step -> images (relative)
    resumed: list[int] = field(default_factory=list)  # the steps training continued from


def checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("step-*.pt"))


def save_checkpoint(out: Path, step: Step, state: State) -> Path:
    import torch
    from peft import get_peft_model_state_dict

    path = out / "checkpoints" / f"step-{state.step:06d}.pt"
    data = {
        "lora": get_peft_model_state_dict(step.unet),
        "optimizer": step.optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "state": json.dumps(asdict(state)),
    }
    with atomic_file(path) as fh:
        torch.save(data, fh)
    for old in checkpoints(out)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def restore(path: Path, step: Step) -> State:
    import torch
    from peft import set_peft_model_state_dict

    data = torch.load(path, weights_only=True, map_location="cpu")
    set_peft_model_state_dict(step.unet, data["lora"])
    step.optimizer.load_state_dict(data["optimizer"])
    torch.set_rng_state(data["torch_rng"])
    if data["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(data["cuda_rng"])
    return State(**json.loads(data["state"]))


# --- samples and the fixed-noise loss ---------------------------------------------------------


def sample(pipe: Any, prompts: list[str], settings: Settings, out: Path, state: State) -> None:
    """The sample prompts drawn with fixed seeds at this step, saved under ``samples/``."""
    import torch

    from director.tools.diffusers_local import generators

    folder = out / "samples" / f"step-{state.step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    pipe.unet.eval()
    images = []
    with torch.no_grad():
        # One at a time: prompts past 77 tokens are encoded in windows, as keyframes encode them,
        # and embeddings of different lengths make no batch.
        for i, prompt in enumerate(prompts):
            images += pipe(
                **sdxl_text.encode(pipe, prompt, "", settings.guidance),
                num_inference_steps=settings.sample_steps,
                guidance_scale=settings.guidance,
                height=settings.resolution,
                width=settings.resolution,
                generator=generators([settings.seed + i]),
            ).images
    pipe.unet.train()
    names = []
    for i, image in enumerate(images):
        image.save(folder / f"{i}.png")
        names.append(f"samples/{folder.name}/{i}.png")
    state.samples[str(state.step)] = names


def fixed_loss(step: Step, batches: list[Batch], seed: int) -> float:
    """The mean loss over every image at four fixed timesteps with fixed noise: a measure
    that, unlike a step's loss, moves only when the weights do."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed + 7919)
    count = step.noise.config.num_train_timesteps
    total, n = 0.0, 0
    step.unet.eval()
    with torch.no_grad():
        for batch in batches:
            for t in (count // 8, 3 * count // 8, 5 * count // 8, 7 * count // 8):
                latents = batch.latents
                noise = torch.randn(latents.shape, generator=generator).to(latents.device)
                ts = torch.tensor([t], device=latents.device)
                noisy = step.noise.add_noise(latents, noise, ts)
                target = (
                    noise
                    if step.prediction == "epsilon"
                    else step.noise.get_velocity(latents, noise, ts)
                )
                with torch.autocast(
                    latents.device.type, step.autocast or torch.float32, enabled=bool(step.autocast)
                ):
                    pred = step.unet(
                        noisy,
                        ts,
                        encoder_hidden_states=batch.embeds,
                        added_cond_kwargs={"text_embeds": batch.pooled, "time_ids": batch.time_ids},
                        return_dict=False,
                    )[0]
                total += F.mse_loss(pred.float(), target.float()).item()
                n += 1
    step.unet.train()
    return total / n


# --- the loop ---------------------------------------------------------------------------------


def step_generator(seed: int, number: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed * 1_000_003 + number)


def image_for(seed: int, number: int, count: int) -> int:
    """The image step ``number`` (1-based) trains on: each pass over the set in its own order."""
    import torch

    epoch, place = divmod(number - 1, count)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + 31 * epoch))
    return int(order[place])


def train(
    pipe: Any,
    items: list,
    settings: Settings,
    out: Path,
    fingerprint: dict[str, Any],
    device: str,
    progress: Progress,
) -> tuple[Any, State, dict[str, Any]]:
    """Train (or continue training) the LoRA; returns the adapted UNet, the final state and
    what the document reports of the run (optimizer, precision, fixed-noise losses, timing)."""
    import torch

    started = time.monotonic()
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    key = json.dumps({**fingerprint, "text_window": sdxl_text.WINDOW}, sort_keys=True)
    batches = [b.to(device) for b in cached(pipe, items, settings, out, key, progress)]
    params = add_lora(
        pipe.unet, settings.rank, settings.alpha, settings.gradient_checkpointing, settings.seed
    )
    optimizer, optimizer_name = optimizer_for(params, settings.lr, device)
    autocast = torch.bfloat16 if device.startswith("cuda") else None
    step = Step(pipe.unet, optimizer, noise_schedule(pipe), autocast)
    prompts = sample_prompts(items, settings.samples)

    state, before = State(), None
    if found := checkpoints(out):
        state = restore(found[-1], step)
        state.resumed.append(state.step)
        progress(f"continuing from step {state.step} ({found[-1].relative_to(out)})")
    if state.step == 0:
        before = fixed_loss(step, batches, settings.seed)
        if settings.samples:
            progress(f"samples before training ({len(prompts)} prompts, seed {settings.seed})")
            sample(pipe, prompts, settings, out, state)
    else:
        before = _remembered(out)
    _remember(out, fingerprint, before)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    every = max(1, settings.steps // 200)
    session_start = time.monotonic() - state.total_s
    while state.step < settings.steps:
        number = state.step + 1
        batch = batches[image_for(settings.seed, number, len(batches))]
        t0 = time.perf_counter()
        loss = float(train_step(step, batch, step_generator(settings.seed, number)))
        state.train_s += time.perf_counter() - t0
        state.step, state.total_s = number, time.monotonic() - session_start
        state.losses.append(loss)
        if number % every == 0 or number == settings.steps:
            progress(_progress_line(state, settings.steps))
        if (
            settings.samples
            and settings.sample_every
            and number % settings.sample_every == 0
            and number < settings.steps
        ):
            sample(pipe, prompts, settings, out, state)
        if number % settings.checkpoint_every == 0 and number < settings.steps:
            path = save_checkpoint(out, step, state)
            progress(f"checkpoint: {path.relative_to(out)}")
    if settings.samples and str(state.step) not in state.samples:
        sample(pipe, prompts, settings, out, state)
    after = fixed_loss(step, batches, settings.seed)
    state.total_s = time.monotonic() - session_start
    save_checkpoint(out, step, state)
    report = {
        "optimizer": optimizer_name,
        "precision": "bfloat16 autocast, LoRA weights in float32" if autocast else "float32",
        "fixed_loss": {"before": before, "after": after},
        "sample_prompts": prompts,
        "hardware": hardware(device),
        "peak_memory_gb": peak_memory_gb(device),
        "session_s": time.monotonic() - started,
    }
    return step.unet, state, report


def _remember(out: Path, fingerprint: dict[str, Any], before: float | None) -> None:
    write_json_atomic(out / "checkpoints" / "settings.json", fingerprint | {"before": before})


def _remembered(out: Path) -> float | None:
    """The fixed-noise loss before training, as the first run of this training measured it."""
    try:
        return json.loads((out / "checkpoints" / "settings.json").read_text()).get("before")
    except (OSError, ValueError, AttributeError):
        return None


def _progress_line(state: State, steps: int) -> str:
    recent = state.losses[-20:]
    per = state.train_s / max(1, state.step)
    eta = per * (steps - state.step)
    return (
        f"step {state.step}/{steps}  loss {state.losses[-1]:.4f}  "
        f"avg {sum(recent) / len(recent):.4f}  {per:.2f} s/step  eta {eta / 60:.1f} min"
    )


def sample_prompts(items: list, count: int) -> list[str]:
    """Up to ``count`` captions spread over the dataset: the same prompts at every step."""
    if not count or not items:
        return []
    stride = max(1, len(items) // count)
    return [item.caption for item in items[::stride][:count]]


def hardware(device: str) -> dict[str, str]:
    import diffusers
    import peft
    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = (
            f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
    return {
        "device": device,
        "name": name,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "peft": peft.__version__,
        "python": platform.python_version(),
    }


def peak_memory_gb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
