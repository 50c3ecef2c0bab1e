"""Local diffusers pipelines: found on disk, never fetched from a hub, loaded once per backend.

Shared by the diffusers image and video backends. Everything heavy (torch, diffusers,
transformers) is imported inside functions, so importing this module costs nothing. Here a
pipeline is found and loaded from local files, placed on a device in a weight precision, and
made fast (attention kernel, compiled denoiser, VAE decoding) as its settings say; the settings
themselves (the table, their checks, where each comes from) live in
``director.tools.diffusers_settings`` and are reachable from here under the same names.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.errors import BackendError, InputError, ToolMissing

# The settings are also reached through this module (local.resolve_settings, local.SETTINGS...).
from director.tools.diffusers_settings import (  # noqa: F401
    CUDA_KERNELS,
    FLAGS,
    KERNELS,
    SETTINGS,
    TABLE,
    backend_settings,
    help_text,
    how_to_set,
    resolve_settings,
)

INSTALL_HINT = "Install the diffusers extra: pip install 'director[diffusers]'."
NEEDED = ("torch", "diffusers", "transformers", "accelerate")
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
# The parts of a pipeline that run at every denoising step: what compile and attention act on.
DENOISERS = ("unet", "transformer", "transformer_2")
# torch.compile's code generator; the tests swap in "eager" to trace without generating code.
COMPILER = "inductor"


@dataclass(frozen=True)
class Placement:
    """Where a pipeline runs: device, weight precision, and whether idle parts wait in RAM."""

    device: str
    dtype: str
    offload: bool


@dataclass(frozen=True)
class Tuning:
    """How a placed pipeline is made fast: attention kernel, compiled denoiser, VAE decoding."""

    attention: str = "auto"
    compile: str = "off"
    vae_decode: str = "auto"


# --- the pipeline ---------------------------------------------------------------------------


def require_diffusers() -> None:
    """Raise ToolMissing naming the first package of the diffusers extra that is missing."""
    for module in NEEDED:
        if importlib.util.find_spec(module) is None:
            raise ToolMissing(
                f"The diffusers backends need {module}, which is not installed.", INSTALL_HINT
            )


def local_model(model: str, flag_name: str) -> Path:
    """The local folder or checkpoint file ``model`` names; anything else is refused before any
    library sees it, so nothing is ever looked up on a hub."""
    if not model:
        raise InputError(
            "The diffusers backend needs a local model.",
            f"Name a pipeline folder or a checkpoint file: --{flag_name} diffusers:/path/to/model.",
        )
    path = Path(model).expanduser()
    if path.exists():
        return path.resolve()
    if HUB_ID.match(model):
        raise InputError(
            f"{model!r} is not a local folder; director loads diffusers models from disk only "
            "and never downloads them.",
            f"Download it once (huggingface-cli download {model} --local-dir DIR), then pass "
            f"--{flag_name} diffusers:DIR.",
        )
    raise InputError(
        f"No diffusers model at {path}.",
        "Pass a folder that holds model_index.json, or a .safetensors checkpoint file.",
    )


def pipeline_class(folder: Path) -> str:
    """The pipeline class a diffusers folder declares in its model_index.json."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise InputError(
            f"{folder} is not a diffusers pipeline folder: it has no model_index.json.",
            "Pass the folder that save_pretrained or a model download produced.",
        )
    try:
        return str(json.loads(index.read_text(encoding="utf-8"))["_class_name"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{index} does not name a pipeline class (_class_name).",
            "Restore the file from the model's download.",
        ) from exc


def offline() -> None:
    """Keep huggingface_hub from reaching the network, as far as this process's default goes;
    every load also passes local_files_only, which is what guarantees it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def placement(device: str | None, dtype: str | None, offload: bool | None) -> Placement:
    """Resolve 'auto' choices against the hardware and refuse combinations that cannot run.
    ``device`` and ``dtype`` are checked settings (``resolve_settings``); None means auto."""
    import torch

    device = _device_here(torch, device or "auto")
    dtype = dtype or "auto"
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else _gpu_dtype(torch)
    if device == "cpu" and dtype != "float32":
        raise InputError(
            f"{dtype} is for GPUs; on the CPU the diffusers backends run in float32.",
            f"Use float32 or auto ({how_to_set('dtype', 'float32')}), or run on a GPU.",
        )
    if offload and device == "cpu":
        raise InputError(
            "CPU offload needs a GPU: on the CPU every part of the model already lives in RAM.",
            f"Turn it off ({how_to_set('offload', False)}), or run on a GPU.",
        )
    return Placement(device, dtype, bool(offload))


def _device_here(torch: Any, device: str) -> str:
    """The device to use: auto resolved, a CUDA device checked against the GPUs visible."""
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto":
        return "cuda" if visible else "cpu"
    index = int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0
    if device.startswith("cuda") and index >= visible:
        seen = f"only {visible} CUDA GPU(s) are visible" if visible else "no CUDA GPU is visible"
        raise ToolMissing(
            f"The diffusers device is {device!r}, but {seen}.",
            f"Use the CPU ({how_to_set('device', 'cpu')}) or a visible GPU, or run on a "
            "machine with a GPU and CUDA-enabled torch.",
        )
    return device


def _gpu_dtype(torch: Any) -> str:
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def tuning(settings: Mapping[str, Any], where: Placement) -> Tuning:
    """The checked speed settings (``resolve_settings``) for a pipeline placed at ``where``."""
    chosen = Tuning(
        attention=settings.get("attention") or "auto",
        compile=settings.get("compile") or "off",
        vae_decode=settings.get("vae_decode") or "auto",
    )
    if where.device == "cpu" and chosen.attention in CUDA_KERNELS:
        raise InputError(
            f"The attention kernel {chosen.attention} runs on CUDA GPUs only.",
            f"Use auto or _native_flash on the CPU ({how_to_set('attention', 'auto')}), or run "
            "on a GPU.",
        )
    return chosen


def decode_mode(setting: str, width: int, height: int, tile_above: int) -> str:
    """How the VAE decodes frames of this size: ``auto`` tiles frames of more than
    ``tile_above`` pixels, whose full decode takes the most memory, and decodes the rest whole."""
    if setting != "auto":
        return setting
    return "tiled" if width * height > tile_above else "full"


@contextmanager
def running(pipe: Any, chosen: Tuning, vae_decode: str) -> Iterator[None]:
    """Around one call of the pipeline: the VAE decoding in ``vae_decode`` mode, and the
    chosen torch attention kernel put first."""
    vae = pipe.vae
    vae.enable_tiling() if vae_decode == "tiled" else vae.disable_tiling()
    vae.enable_slicing() if vae_decode in ("sliced", "tiled") else vae.disable_slicing()
    with _kernel_first(chosen.attention):
        yield


def _kernel_first(name: str) -> Any:
    """torch's attention kernels with ``name`` first: a call it cannot run (a mask cuDNN does
    not take, say) falls back to the next instead of failing."""
    if name not in KERNELS:
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    first = getattr(SDPBackend, KERNELS[name])
    rest = [getattr(SDPBackend, k) for k in KERNELS.values() if getattr(SDPBackend, k) != first]
    return sdpa_kernel([first, *rest], set_priority=True)


def denoisers(pipe: Any) -> list[Any]:
    return [model for name in DENOISERS if (model := getattr(pipe, name, None)) is not None]


def speed_up(pipe: Any, chosen: Tuning) -> None:
    """Set a diffusers attention backend on the denoiser and compile it, once, at load."""
    if chosen.attention not in ("auto", "native", *KERNELS):
        _set_attention_backend(pipe, chosen.attention)
    if chosen.compile != "off":
        mode = None if chosen.compile == "default" else chosen.compile
        for model in denoisers(pipe):
            model.compile(backend=COMPILER, mode=mode)


def _set_attention_backend(pipe: Any, name: str) -> None:
    models = denoisers(pipe)
    if not any(_dispatches(model) for model in models):
        kind = type(models[0]).__name__ if models else type(pipe).__name__
        raise InputError(
            f"The attention backend {name} is for models whose attention diffusers dispatches; "
            f"{kind} calls torch's attention itself.",
            f"Use auto or one of torch's kernels ({how_to_set('attention', '_native_flash')}).",
        )
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry as registry

    before = registry._active_backend
    try:
        for model in models:
            model.set_attention_backend(name)
    except (ImportError, RuntimeError, ValueError) as exc:  # its package missing, or no GPU
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ToolMissing(
            f"The attention backend {name} cannot run here: {first}",
            f"Install what it needs, or use auto ({how_to_set('attention', 'auto')}).",
        ) from exc
    finally:
        # set_attention_backend also makes it the default of every model in the process; this
        # model's processors hold it themselves, so the others keep their own.
        registry._active_backend = before


def _dispatches(model: Any) -> bool:
    """Whether the model's attention goes through diffusers' dispatcher (its processors carry
    an attention backend) rather than calling torch directly."""
    return any(
        hasattr(getattr(module, "processor", None), "_attention_backend")
        for module in model.modules()
    )


def load_pipeline(
    class_name: str,
    path: Path,
    where: Placement,
    *,
    config: Path | None = None,
    speed: Tuning | None = None,
    **components: Any,
) -> Any:
    """Load the pipeline once from local files, place it on the device and apply the speed
    settings that act at load (a diffusers attention backend, compilation)."""
    offline()
    import diffusers
    import torch
    import transformers

    # Runs report their own progress; the libraries' loading bars would only clutter it.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()

    cls = getattr(diffusers, class_name)
    dtype = getattr(torch, where.dtype)
    with load_errors(path):
        if path.is_file():
            # With a local config folder from_single_file reads no config from any hub.
            pipe = cls.from_single_file(
                str(path), config=str(config), dtype=dtype, local_files_only=True
            )
        else:
            pipe = cls.from_pretrained(str(path), dtype=dtype, local_files_only=True, **components)
        pipe.set_progress_bar_config(disable=True)
        if where.offload:
            pipe.enable_model_cpu_offload(device=where.device)
        else:
            pipe.to(where.device)
    speed_up(pipe, speed or Tuning())
    return pipe


@contextmanager
def load_errors(path: Path) -> Iterator[None]:
    """Turn the libraries' loading exceptions into director's errors with a fix."""
    try:
        yield
    except Exception as exc:
        raise _translated(exc, path) from exc


def _translated(exc: Exception, path: Path) -> Exception:
    if isinstance(exc, ImportError):
        return ToolMissing(f"Loading {path} needs a package that is missing: {exc}.", INSTALL_HINT)
    if "out of memory" in str(exc).lower():
        return BackendError(
            f"The model at {path} does not fit in the GPU's memory.",
            f"Keep the parts not in use in RAM ({how_to_set('offload', True)}), or use a "
            "smaller model.",
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(
        f"Cannot load the diffusers model at {path}: {first}",
        "Check that it is a complete diffusers pipeline (model_index.json and each component's "
        "config and weights) or a checkpoint with its config folder.",
    )


def run_error(exc: RuntimeError, what: str, chosen: Tuning) -> BackendError:
    """A failed pipeline call; compiling is the usual suspect when it is on."""
    fix = "Check that the model folder is intact and that the device settings suit this machine."
    if chosen.compile != "off":
        fix = f"Run it uncompiled ({how_to_set('compile', False)}); if it still fails: {fix}"
    return BackendError(f"{what} failed: {exc}", fix)


def to_uint8(pixels: Any, *, half_up: bool = False) -> Any:
    """Pixels in [0, 1] (a tensor of any layout) as a uint8 array on the host, converted where
    they are so that only bytes cross: rounded half to even as diffusers' own PIL output is, or
    half up (``half_up``)."""
    import torch

    scaled = pixels.float().mul(255.0)
    scaled = scaled.add_(0.5).floor_() if half_up else scaled.round_()
    return scaled.clamp_(0, 255).to(torch.uint8).cpu().numpy()


def generators(seeds: list[int]) -> list[Any]:
    """One CPU generator per candidate: the same seed gives the same starting noise on any
    device, whether the candidate is made alone or in a batch."""
    import torch

    return [torch.Generator("cpu").manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF) for seed in seeds]


def nearest_multiple(value: int, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)
