"""Local diffusers pipelines: found on disk, never fetched from a hub, loaded once per backend.

Shared by the diffusers image and video backends. Everything heavy (torch, diffusers,
transformers) is imported inside functions, so importing this module costs nothing.

Settings are resolved like every other option: a ``director run`` flag or a constructor
argument, then the ``DIRECTOR_DIFFUSERS_<NAME>`` environment variable, then the config file's
``[diffusers]`` table, then the default:

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

A bad value is refused with an ``InputError`` that names where it came from. The settings are
not secret: a run records them in run.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Placement:
    """Where a pipeline runs: device, weight precision, and whether idle parts wait in RAM."""

    device: str
    dtype: str
    offload: bool


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


SETTINGS: dict[str, Setting] = {
    "device": Setting(_device, "cuda", "device"),
    "dtype": Setting(_dtype, "bfloat16", "dtype"),
    "offload": Setting(_switch, True, "offload"),
    "steps": Setting(_count, 30, "steps"),
    "guidance": Setting(_scale, 5.0),
    "max_batch": Setting(_count, 2),
    "config": Setting(_path, "/path/to/config"),
    "lora": Setting(_path, "/path/to/style.safetensors"),
}
FLAGS = tuple(name for name, spec in SETTINGS.items() if spec.flag)


def resolve_settings(given: Mapping[str, Any] | None = None, *, from_flags: bool = False) -> dict:
    """Every setting, checked: from ``given`` (flags, or a backend's arguments), else
    ``DIRECTOR_DIFFUSERS_<NAME>``, else the config file's ``[diffusers]`` table, else None
    (the backend's default)."""
    given = given or {}
    table = _config_table()
    resolved = {}
    for name in SETTINGS:
        value, source = _first_set(name, given.get(name), table, from_flags)
        resolved[name] = None if value is None else _parsed(name, value, source)
    return resolved


def backend_kwargs(kind: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a diffusers backend of ``kind`` (image or video) takes as keywords."""
    return {k: v for k, v in settings.items() if kind == "image" or k not in IMAGE_ONLY}


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


def _config_table() -> dict:
    from director.agent.configuration import config_path, load_config_file

    table = load_config_file().get(TABLE) or {}
    if not isinstance(table, dict):
        raise ConfigError(
            f"{TABLE} in {config_path()} is not a table.",
            f"Write it as a [{TABLE}] section with NAME = VALUE lines.",
        )
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"Unknown keys in the [{TABLE}] table of {config_path()}: {', '.join(unknown)}.",
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


def load_pipeline(
    class_name: str, path: Path, where: Placement, *, config: Path | None = None, **components: Any
) -> Any:
    """Load the pipeline once from local files and place it on the device."""
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


def generators(seeds: list[int]) -> list[Any]:
    """One CPU generator per candidate: the same seed gives the same starting noise on any
    device, whether the candidate is made alone or in a batch."""
    import torch

    return [torch.Generator("cpu").manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF) for seed in seeds]


def nearest_multiple(value: int, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)
