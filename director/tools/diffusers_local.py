"""Local diffusers pipelines: found on disk, never fetched from a hub, loaded once per backend.

Shared by the diffusers image and video backends. Everything heavy (torch, diffusers,
transformers) is imported inside functions, so importing this module costs nothing.

Settings are resolved like every other option: a ``director run`` flag or a constructor
argument, then the ``DIRECTOR_DIFFUSERS_<NAME>`` environment variable, then the config file's
``[diffusers]`` table (handed in by the command that read the file), then the default. A run
resolves them once and hands them to its backends (``settings=``); a backend built without
them resolves its arguments and the environment alone:

- ``device`` (``--device``): ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; auto is the GPU when
  one is visible.
- ``dtype`` (``--dtype``): ``auto``, ``float32``, ``bfloat16`` or ``float16``; auto is float32
  on the CPU and bfloat16 on a GPU (float16 where bfloat16 is not supported).
- ``offload`` (``--offload``): keep the parts of the model not in use in RAM; off.
- ``steps`` (``--steps``) and ``guidance``: denoising steps and guidance scale; the model's own.
- ``max_batch`` (images): candidates made in one denoising pass; 4.
- ``config`` (images): the diffusers config folder of a single checkpoint file; the file's own
  folder.
- ``lora`` (images): a LoRA used when the style bible names none.
- ``attention``: the attention kernel. ``auto`` leaves the library's choice; ``_native_flash``,
  ``_native_cudnn``, ``_native_efficient`` or ``_native_math`` put one of torch's own kernels
  first for every attention call of the pipeline (the CUDA-only ones are refused on the CPU);
  any other diffusers attention backend (``flash``, ``sage``, ``flex``...) is set on the
  denoiser, which must be a model whose attention diffusers dispatches (FLUX and Wan, not
  SDXL's UNet).
- ``compile``: ``off``, ``on`` or a ``torch.compile`` mode (``reduce-overhead``,
  ``max-autotune``, ``max-autotune-no-cudagraphs``) for the denoiser; the first image or clip
  of each new shape pays for compiling; off.
- ``vae_decode``: ``full`` (the batch at once), ``sliced`` (one image or clip at a time) or
  ``tiled`` (one at a time, in overlapping tiles); ``auto`` tiles frames larger than a size
  the backend names (2048x2048 for keyframes, 832x480 for clips) and decodes the rest whole.

A bad value is refused with an ``InputError`` that names where it came from. The settings are
not secret: a run records them in run.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.config import Section
from director.errors import BackendError, ConfigError, InputError, ToolMissing

INSTALL_HINT = "Install the diffusers extra: pip install 'director[diffusers]'."
NEEDED = ("torch", "diffusers", "transformers", "accelerate")
DTYPES = ("float32", "bfloat16", "float16")
# owner/name, as a Hugging Face model id is written.
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
ENV_PREFIX = "DIRECTOR_DIFFUSERS_"
TABLE = "diffusers"
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# Settings only the image backend takes.
IMAGE_ONLY = ("max_batch", "config", "lora")
# torch's own attention kernels, by the names diffusers gives them.
KERNELS = {
    "_native_flash": "FLASH_ATTENTION",
    "_native_cudnn": "CUDNN_ATTENTION",
    "_native_efficient": "EFFICIENT_ATTENTION",
    "_native_math": "MATH",
}
CUDA_KERNELS = ("_native_cudnn", "_native_efficient")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
VAE_DECODES = ("auto", "full", "sliced", "tiled")
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


# --- settings -------------------------------------------------------------------------------


def _device(value: Any) -> str:
    text = str(value).strip().lower()
    if not DEVICE.match(text):
        raise ValueError("use auto, cpu, cuda or cuda:N (e.g. cuda:1)")
    return text


def _dtype(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("auto", *DTYPES):
        raise ValueError(f"use one of: auto, {', '.join(DTYPES)}")
    return text


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in TRUE + FALSE:
        raise ValueError("use true or false (1 or 0 in the environment)")
    return text in TRUE


def _count(value: Any) -> int:
    try:  # through str, so that 2.5 and true are refused rather than truncated
        number = 0 if isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError("use a whole number, 1 or more")
    return number


def _scale(value: Any) -> float:
    try:
        number = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:  # also refuses NaN
        raise ValueError("use a number, 0 or more")
    return number


def _attention(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("auto", "native", *KERNELS) or text in _diffusers_backends():
        return text
    raise ValueError(
        f"use auto, one of torch's kernels ({', '.join(KERNELS)}) or a diffusers attention "
        "backend (flash, sage, flex...)"
    )


def _diffusers_backends() -> tuple[str, ...]:
    """The attention backends the installed diffusers knows; none without diffusers."""
    if importlib.util.find_spec("diffusers") is None:
        return ()
    from diffusers.models.attention_dispatch import AttentionBackendName

    return tuple(name.value for name in AttentionBackendName)


def _compile(value: Any) -> str:
    text = str(value).strip().lower()
    if text in COMPILE_MODES:
        return text
    try:
        return "default" if _switch(value) else "off"
    except ValueError:
        raise ValueError(
            f"use off, on or a torch.compile mode: {', '.join(COMPILE_MODES[1:])}"
        ) from None


def _vae_decode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in VAE_DECODES:
        raise ValueError(f"use one of: {', '.join(VAE_DECODES)}")
    return text


def _path(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("use the path of a file or folder")
    return str(Path(text).expanduser())


@dataclass(frozen=True)
class Setting:
    parse: Callable[[Any], Any]  # raises ValueError saying which values are accepted
    example: Any  # a good value, for messages
    flag: str = ""  # the ``director run`` flag, where there is one
    help: str = ""  # the flag's help
    shown_default: str = ""  # what None means, for the help
    kind: type = str  # what the flag takes: str, int, or bool (an on/off pair)
    metavar: str | None = None


SETTINGS: dict[str, Setting] = {
    "device": Setting(
        _device, "cuda", "device", "Where the diffusers backends run: auto, cpu, cuda or cuda:N",
        "auto, the GPU when one is visible", metavar="DEVICE",
    ),
    "dtype": Setting(
        _dtype, "bfloat16", "dtype",
        "Weight precision of the diffusers backends: auto, float32, bfloat16, float16",
        "auto: float32 on the CPU, bfloat16 on a GPU", metavar="DTYPE",
    ),
    "offload": Setting(
        _switch, True, "offload",
        "Keep the parts of a diffusers model not in use in RAM, for a model larger than the "
        "GPU's memory", "off", kind=bool,
    ),
    "steps": Setting(
        _count, 30, "steps", "Denoising steps of the diffusers backends", "the model's own",
        kind=int,
    ),
    "guidance": Setting(_scale, 5.0),
    "max_batch": Setting(_count, 2),
    "config": Setting(_path, "/path/to/config"),
    "lora": Setting(_path, "/path/to/style.safetensors"),
    "attention": Setting(_attention, "_native_cudnn"),
    "compile": Setting(_compile, "on"),
    "vae_decode": Setting(_vae_decode, "tiled"),
}  # fmt: skip
FLAGS = tuple(name for name, spec in SETTINGS.items() if spec.flag)


def help_text(name: str) -> str:
    """A flag's help with where else the setting comes from and what it is when unset."""
    spec = SETTINGS[name]
    where = f"env {ENV_PREFIX}{name.upper()}; config [{TABLE}] {name}; default {spec.shown_default}"
    return f"{spec.help} [{where}]."


def resolve_settings(
    given: Mapping[str, Any] | None = None,
    *,
    from_flags: bool = False,
    section: Section | None = None,
) -> dict:
    """Every setting, checked: from ``given`` (flags, or a backend's arguments), else
    ``DIRECTOR_DIFFUSERS_<NAME>``, else the ``[diffusers]`` table handed in as ``section``
    (none: no table), else None (the backend's default)."""
    given = given or {}
    table = _checked_table(section or Section(TABLE))
    resolved = {}
    for name in SETTINGS:
        value, source = _first_set(name, given.get(name), table, from_flags)
        resolved[name] = None if value is None else _parsed(name, value, source)
    return resolved


def backend_settings(resolved: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict:
    """A backend's settings: ``resolved`` (a run's, already checked) with the backend's own
    arguments ``given`` checked on top; without ``resolved``, the arguments, then the
    environment (``resolve_settings`` with no table)."""
    if resolved is None:
        return resolve_settings(given)
    chosen = {name: resolved.get(name) for name in SETTINGS}
    for name, value in given.items():
        if value is not None:
            chosen[name] = _parsed(name, value, f"the argument {name}")
    return chosen


def how_to_set(name: str, value: Any) -> str:
    """Every way to give a setting ``value``, for the fix part of a message."""
    flag = SETTINGS[name].flag
    if isinstance(value, bool):
        toml, env = str(value).lower(), str(int(value))
        ways = [f"--{flag}" if value else f"--no-{flag}"] if flag else []
    else:
        toml = json.dumps(value) if isinstance(value, str) else str(value)
        env = str(value)
        ways = [f"--{flag} {value}"] if flag else []
    ways += [f"{name} = {toml} in the config file's [{TABLE}] table"]
    return f"{', '.join(ways)} or {ENV_PREFIX}{name.upper()}={env}"


def _first_set(name: str, given: Any, table: dict, from_flags: bool) -> tuple[Any, str]:
    if given is not None:
        flag = SETTINGS[name].flag
        return given, f"--{flag}" if from_flags and flag else f"the argument {name}"
    env = ENV_PREFIX + name.upper()
    if os.environ.get(env, "").strip():
        return os.environ[env], env
    if table.get(name) is not None:
        return table[name], f"{name} in the config file's [{TABLE}] table"
    return None, ""


def _parsed(name: str, value: Any, source: str) -> Any:
    try:
        return SETTINGS[name].parse(value)
    except ValueError as exc:
        raise InputError(
            f"The diffusers setting {name} is {value!r} (from {source}): {exc}.",
            f"For example: {how_to_set(name, SETTINGS[name].example)}.",
        ) from None


def _checked_table(section: Section) -> dict:
    table = dict(section.values)
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"Unknown keys in the [{TABLE}] table of {section.path}: {', '.join(unknown)}.",
            f"Known keys: {', '.join(SETTINGS)}.",
        )
    return table


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
