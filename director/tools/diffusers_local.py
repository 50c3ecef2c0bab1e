"""Local diffusers pipelines: found on disk, never fetched from a hub, loaded once per backend.

Shared by the diffusers image and video backends. Everything heavy (torch, diffusers,
transformers) is imported inside functions, so importing this module costs nothing.

Settings come from the backend's constructor, else from environment variables
(``DIRECTOR_DIFFUSERS_DEVICE``, ``_DTYPE``, ``_OFFLOAD``, ``_STEPS``, ``_GUIDANCE``, and for
images ``_MAX_BATCH`` and ``_CONFIG``), else defaults: the GPU when one is visible, float32 on
the CPU and bfloat16 (float16 where bfloat16 is not supported) on a GPU, no offload, the
model's own steps and guidance.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.errors import BackendError, InputError, ToolMissing

INSTALL_HINT = "Install the diffusers extra: pip install 'director[diffusers]'."
NEEDED = ("torch", "diffusers", "transformers", "accelerate")
DTYPES = ("float32", "bfloat16", "float16")
# owner/name, as a Hugging Face model id is written.
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
ENV_PREFIX = "DIRECTOR_DIFFUSERS_"


@dataclass(frozen=True)
class Placement:
    """Where a pipeline runs: device, weight precision, and whether idle parts wait in RAM."""

    device: str
    dtype: str
    offload: bool


def setting(value: Any, name: str) -> Any:
    """``value`` when given, else the ``DIRECTOR_DIFFUSERS_<NAME>`` variable, else None."""
    if value is not None:
        return value
    return os.environ.get(ENV_PREFIX + name.upper()) or None


def number(value: Any, name: str, kind: type) -> Any:
    found = setting(value, name)
    if found is None:
        return None
    try:
        return kind(found)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"The diffusers setting {name}={found!r} is not a number.",
            f"Set {ENV_PREFIX}{name.upper()} to a number, or unset it for the model's default.",
        ) from exc


def flag(value: Any, name: str) -> bool:
    found = setting(value, name)
    if isinstance(found, str):
        return found.strip().lower() in ("1", "true", "yes", "on")
    return bool(found)


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


def placement(device: str | None, dtype: str | None, offload: bool) -> Placement:
    """Resolve 'auto' choices against the hardware and refuse combinations that cannot run."""
    import torch

    device = (setting(device, "device") or "auto").strip().lower()
    cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise ToolMissing(
            f"The diffusers device is {device!r}, but no CUDA GPU is visible.",
            f"Set {ENV_PREFIX}DEVICE=cpu, or run on a machine with a GPU and CUDA-enabled torch.",
        )
    dtype = (setting(dtype, "dtype") or "auto").strip().lower()
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else _gpu_dtype(torch)
    _check_dtype(dtype, device)
    if offload and device == "cpu":
        raise InputError(
            "CPU offload needs a GPU: on the CPU every part of the model already lives in RAM.",
            f"Unset {ENV_PREFIX}OFFLOAD, or run on a GPU.",
        )
    return Placement(device, dtype, offload)


def _gpu_dtype(torch: Any) -> str:
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def _check_dtype(dtype: str, device: str) -> None:
    if dtype not in DTYPES:
        raise InputError(
            f"Unknown diffusers dtype {dtype!r}.", f"Use one of: {', '.join(DTYPES)}, or auto."
        )
    if device == "cpu" and dtype != "float32":
        raise InputError(
            f"{dtype} is for GPUs; on the CPU the diffusers backends run in float32.",
            f"Set {ENV_PREFIX}DTYPE=float32 (or auto), or run on a GPU.",
        )


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
            f"Set {ENV_PREFIX}OFFLOAD=1 to keep idle parts in RAM, or use a smaller model.",
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
